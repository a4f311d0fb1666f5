"""The report's provenance: which run, config, commit, data, seeds and selection rule, the encoder's dtypes,
the rows each stage featurised, and the package versions."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from xstilts.search.config import Experiment
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Rule, describe_rule

PACKAGES = ("xstilts", "torch", "transformers", "datasets", "ray", "optuna", "pandas", "matplotlib")


def git_commit() -> str:
    """HEAD of the checkout this module runs from, marked when tracked files have uncommitted changes."""
    git = ["git", "-C", str(Path(__file__).resolve().parents[2])]
    try:
        sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "-uno"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + (" (with uncommitted changes)" if dirty.stdout.strip() else "")) if sha else "unknown"


def split_counts_text(record: dict) -> str:
    """A stage's featurised splits in a few words: rows read, and each split that dropped or truncated rows."""
    stats = record.get("splits", {})
    total = sum(s.get("rows", 0) for s in stats.values())
    lost = [
        f"{key}: " + ", ".join(f"{s[k]} {k}" for k in ("dropped", "truncated", "unanswerable") if s.get(k))
        for key, s in sorted(stats.items())
        if any(s.get(k) for k in ("dropped", "truncated", "unanswerable"))
    ]
    return f"{len(stats)} splits, {total:,} rows" + ("; " + "; ".join(lost) if lost else "; none dropped or truncated")


def schedule_text(exp: Experiment) -> str:
    """The intermediate schedule in a few words."""
    i = exp.intermediate
    if i.schedule == "linear":
        return "linear: warm-up, then linear decay to 0 at each trial's last step (milestones are not annealed)"
    return (
        f"wsd: {i.warmup} warm-up steps, then constant; each milestone cooled down for {i.cooldown_fraction:g} "
        f"of its steps ({i.cooldown_shape}) before it is probed, evaluated and kept"
    )


def spent_text(milestones: list[dict]) -> str:
    """Intermediate optimizer steps the sweep spent (each trial's last milestone's budget_steps), the wsd
    cooldowns' among them."""
    last: dict[str, dict] = {}
    for m in milestones:
        if m["step"] >= last.get(m["trial_id"], {"step": -1})["step"]:
            last[m["trial_id"]] = m
    spent = sum(int(m["metrics"].get("budget_steps") or m["step"]) for m in last.values())
    cooling = sum(int(m["metrics"].get("budget_steps") or m["step"]) - int(m["step"]) for m in last.values())
    return f"{spent:,} over {len(last)} trials ({cooling:,} of them in milestone cooldowns)"


def provenance_table(
    meta: dict,
    exp: Experiment | None,
    rule: Rule | None,
    head: pd.DataFrame,
    split: str,
    run_dir: RunDir | None = None,
    milestones: list[dict] | None = None,
) -> pd.DataFrame:
    """Key / value rows: experiment, digest, commit, date, data source, split, seeds, the selection rule, the
    intermediate schedule and the steps the sweep's `milestones` spent, the encoder's checkpoint and training
    dtypes, rows read/dropped/truncated per stage, and package versions."""
    installed = {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}
    rows = {
        "experiment": meta.get("name", "?"),
        "config digest": meta.get("digest", "?"),
        "git commit": git_commit(),
        "date (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "data source": ", ".join(sorted(head["source"].unique())),
        "split": split,
        "target fine-tune seeds": ", ".join(map(str, sorted(head["seed"].unique()))),
        "experiment seed": str(exp.seed) if exp is not None else "?",
        "selection rule": describe_rule(rule) if rule is not None else "?",
        "intermediate schedule": schedule_text(exp) if exp is not None else "?",
    }
    rows["intermediate steps spent"] = spent_text(milestones) if milestones else "?"
    for stage in ("sweep", "evaluation"):
        record = run_dir.read_provenance(stage) if run_dir is not None else {}
        if record:
            rows[f"{stage}: encoder"] = str(record.get("encoder", "?"))
            rows[f"{stage}: checkpoint dtype / training dtype"] = (
                f"{record.get('checkpoint dtype', '?')} / {record.get('training dtype', '?')}"
            )
            rows[f"{stage}: featurised rows"] = split_counts_text(record)
    rows |= {f"package {p}": installed.get(p, "not installed") for p in PACKAGES}
    return pd.DataFrame({"key": list(rows), "value": list(rows.values())})
