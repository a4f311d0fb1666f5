"""Results of a sweep, rebuilt from the ledger: results.parquet (trial x milestone x language) and a summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pyarrow as pa

from xstilts.search.ledger import PROBE_PREFIX, trial_ends
from xstilts.search.rundir import RunDir
from xstilts.tasks.languages import resource_tier
from xstilts.tasks.registry import BASELINE


@dataclass
class SearchResult:
    """What a sweep produced: where, one row per (trial, milestone) and the best of them."""

    run_dir: RunDir
    milestones: list[dict]  # trial_id, step, config, metrics, end, error
    best: dict | None
    best_baseline: dict | None
    metric: str
    errors: list[dict] = field(default_factory=list)  # end events of trials that raised (reason, config)

    @property
    def experiment_dir(self) -> str:
        return self.run_dir.uri


def milestones_from_ledger(run_dir: RunDir, trials: set[str] | None = None) -> list[dict]:
    """One entry per (trial, step): the last journaled result, with how the trial ended.

    trials: keep only these (Ray's trials); a trial that reported before any experiment snapshot and
    was then orphaned by a driver kill is rerun under a new id, and dropped here.
    """
    return milestones_of([e for e in run_dir.read_ledger() if trials is None or e["trial_id"] in trials])


def milestones_of(events: list[dict]) -> list[dict]:
    """One entry per (trial, step) of these ledger events: the last result, with how the trial ended."""
    ends = trial_ends(events)
    rows: dict[tuple[str, int], dict] = {}
    for e in events:
        if e["event"] == "result":
            end = ends.get(e["trial_id"], {})
            rows[(e["trial_id"], e["step"])] = {
                "trial_id": e["trial_id"],
                "step": e["step"],
                "config": e["config"],
                "metrics": e["metrics"],
                "end": end.get("how", "running"),
                "error": end.get("reason"),
            }
    return sorted(rows.values(), key=lambda r: (r["trial_id"], r["step"]))


def summarize(run_dir: RunDir, metric: str, trials: set[str] | None = None) -> SearchResult:
    """Return the milestones, the best (trial, milestone) by `metric`, and the best no-intermediate one."""
    events = [e for e in run_dir.read_ledger() if not trials or e["trial_id"] in trials]
    ms = milestones_of(events)

    def best_of(rows: list[dict]) -> dict | None:
        scored = [r for r in rows if not math.isnan(r["metrics"].get(metric, math.nan))]
        return max(scored, key=lambda r: r["metrics"][metric]) if scored else None

    errors = [e for e in trial_ends(events).values() if e["how"] == "error"]
    baseline = best_of([r for r in ms if r["config"]["intermediate_task"] == BASELINE])
    return SearchResult(run_dir, ms, best_of(ms), baseline, metric, errors)


def results_table(result: SearchResult, experiment: str, source: str, low_resource: list[str]) -> pa.Table:
    """One row per trial x milestone x target task x language, with the sampled config and the summary."""
    cols: dict[str, list] = {
        k: []
        for k in (
            "experiment",
            "source",
            "trial_id",
            "intermediate_task",
            "intermediate_steps",
            "lr",
            "batch_size",
            "seed",
            "step",
            "end",
            "error",
            "target_task",
            "lang",
            "resource_tier",
            "low_resource",
            "score",
            "mean",
            "low_resource_mean",
            "worst",
            "worst_lang",
        )
    }
    for m in result.milestones:
        for key, score in sorted(m["metrics"].items()):
            if not key.startswith(PROBE_PREFIX):
                continue
            target_task, lang = key[len(PROBE_PREFIX) :].split("/")
            row = {
                "experiment": experiment,
                "source": source,
                "trial_id": m["trial_id"],
                "intermediate_task": m["config"]["intermediate_task"],
                "intermediate_steps": m["config"]["intermediate_steps"],
                "lr": m["config"]["lr"],
                "batch_size": m["config"]["batch_size"],
                "seed": m["config"].get("seed"),
                "step": m["step"],
                "end": m["end"],
                "error": m.get("error"),
                "target_task": target_task,
                "lang": lang,
                "resource_tier": resource_tier(lang),
                "low_resource": lang in low_resource,
                "score": score,
                **{k: m["metrics"][k] for k in ("mean", "low_resource_mean", "worst", "worst_lang")},
            }
            for k, v in row.items():
                cols[k].append(v)
    reported = {m["trial_id"] for m in result.milestones}
    for e in result.errors:  # a trial that raised before its first milestone: one row, no scores
        if e["trial_id"] not in reported:
            config = e.get("config", {})
            row = dict.fromkeys(cols)
            row.update(
                experiment=experiment,
                source=source,
                trial_id=e["trial_id"],
                **{k: config.get(k) for k in ("intermediate_task", "intermediate_steps", "lr", "batch_size", "seed")},
                end="error",
                error=e.get("reason"),
                score=math.nan,
            )
            for k, v in row.items():
                cols[k].append(v)
    return pa.table(cols)


def summary_lines(result: SearchResult) -> list[str]:
    """A short text summary: best trial, its config, its scores vs the best no-intermediate trial."""
    errors = [f"trial {e['trial_id']} error: {e.get('reason', '?')}" for e in result.errors]
    if errors:
        errors.append("rerun errored trials from their last checkpoint: xstilts sweep --resume --retry-errored")
    if result.best is None:
        return ["no trial reported a score", *errors]
    b, base, metric = result.best, result.best_baseline, result.metric
    cfg = b["config"]
    lines = [
        f"best: trial {b['trial_id']} at intermediate step {b['step']} ({metric} = {b['metrics'][metric]:.2f})",
        f"  config: task={cfg['intermediate_task']} steps={cfg['intermediate_steps']} "
        f"lr={cfg['lr']:.2e} batch_size={cfg['batch_size']}",
    ]
    for key in ("mean", "low_resource_mean", "worst"):
        ours = b["metrics"][key]
        if base is None:
            lines.append(f"  {key:18s} {ours:6.2f}   (no 'none' trial to compare)")
        else:
            lines.append(
                f"  {key:18s} {ours:6.2f}   vs none {base['metrics'][key]:6.2f}   "
                f"delta {ours - base['metrics'][key]:+6.2f}"
            )
    lines.append(
        f"  worst language: {b['metrics']['worst_lang']}"
        + (f" (none: {base['metrics']['worst_lang']})" if base else "")
    )
    return lines + errors
