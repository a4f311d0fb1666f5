"""`xstilts export RUN_DIR WINNER OUT`: a winner's intermediate-trained encoder and its tokenizer as a
`save_pretrained` directory that `AutoModel.from_pretrained(OUT)` and `AutoTokenizer.from_pretrained(OUT)`
load, with a model card (README.md with Hugging Face front matter) giving where it came from and how it
scored against the no-intermediate baseline."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from xstilts.core.errors import InputError
from xstilts.models.heads import from_pretrained, quiet_transformers
from xstilts.search.evaluation.evaluate import find_winners
from xstilts.search.evaluation.jobs import materialize_encoder
from xstilts.search.journal import Journal
from xstilts.search.plan import make_plan, resolve_encoder, resolve_source
from xstilts.search.report.tables import tier_table
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Winner, describe_rule, recorded_rule, rule_of
from xstilts.tasks.loading import WORLD_LABEL
from xstilts.tasks.names import unknown_name_message
from xstilts.tasks.registry import BASELINE


class ExportError(InputError, ValueError):
    """A winner that is not in the run, or an output directory that is in use; str() is one line."""


def winners_of(run_dir: RunDir) -> list[Winner]:
    """The run's winners: those its evaluation recorded, else the sweep's by the experiment's rule."""
    recorded = run_dir.read_winners()
    if recorded:
        return [Winner(**w) for w in recorded]
    return find_winners(Journal(run_dir), run_dir.context().exp)


def encoder_source(run_dir: RunDir, w: Winner) -> str:
    """Where the winner's encoder comes from, in words."""
    if w.intermediate_task == BASELINE:
        return "the pretrained encoder (no intermediate training)"
    if run_dir.has_encoder(w.name):
        return "the evaluation's encoder"
    if run_dir.trial_checkpoint(w.trial_id, w.step):
        return f"trial {w.trial_id}'s checkpoint at step {w.step}"
    return f"retrained to step {w.step} with trial {w.trial_id}'s config and seed"


def export_lines(run_dir: RunDir) -> list[str]:
    """`--list`: one line per exportable winner."""
    return [
        f"{w.name}: {w.intermediate_task}, {w.step} steps ({w.role}); from {encoder_source(run_dir, w)}"
        for w in winners_of(run_dir)
    ]


@contextlib.contextmanager
def _encoder_dir(run_dir: RunDir, w: Winner) -> Iterator[tuple[str, str]]:
    """(encoder name_or_path, tokenizer name_or_path) of the winner, local for the duration."""

    ctx = run_dir.context()
    pretrained = resolve_encoder(ctx, resolve_source(ctx, prepare=False), prepare=False)
    if w.intermediate_task == BASELINE:
        yield pretrained, pretrained
        return
    if not run_dir.has_encoder(w.name):  # from its checkpoint, or retrained (as the evaluation does)
        plan = make_plan(ctx, splits=[], prepare=False)
        materialize_encoder(plan, run_dir, w)
    with run_dir.local_copy(run_dir.encoder_name(w.name)) as path:
        yield str(path), pretrained


def _scores(run_dir: RunDir, w: Winner, baseline: str | None) -> tuple[list[dict], list[dict]]:
    """Per target task and per resource tier: the winner's test headline score (mean over languages, then
    seeds) and the baseline's, from the evaluation (empty before it ran)."""
    if not run_dir.has_evaluation():
        return [], []
    ev = run_dir.read_evaluation()
    head = ev[(ev["split"] == "test") & ev["headline"].astype(bool)]

    def by(col: str, who: str | None) -> dict[str, float]:
        if who is None:
            return {}
        g = head[head["winner"] == who]
        if col == "resource_tier":  # the report's tier score
            return tier_table(g, "score").set_index("resource_tier")["score"].to_dict()
        return g.groupby([col, "seed"])["score"].mean().groupby(col).mean().to_dict()

    rows = []
    for col in ("target_task", "resource_tier"):
        mine, theirs = by(col, w.name), by(col, baseline)
        rows.append([{"name": k, "score": v, "baseline": theirs.get(k, math.nan)} for k, v in sorted(mine.items())])
    return rows[0], rows[1]


def model_card(run_dir: RunDir, w: Winner) -> str:
    """README.md: Hugging Face front matter, then what the encoder is, how it was trained and how it scored."""
    ctx = run_dir.context()
    exp, registry = ctx.exp, ctx.registry
    source = exp.source
    winners = winners_of(run_dir)
    baseline = next((x.name for x in winners if x.role == "baseline"), None)
    tasks, tiers = _scores(run_dir, w, baseline if w.name != baseline else None)
    spec = registry.get(w.intermediate_task)
    dataset = spec.sources["train"].dataset_id if spec is not None and "train" in spec.sources else None
    front = _front_matter(exp.model, sorted(set(exp.target.languages)), dataset if source == "hub" else None)
    label = run_dir.source_label()
    synthetic = label == WORLD_LABEL
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {ctx.name}: {w.name}",
        "",
    ]
    synthetic_note = (
        "**Data source: the xstilts offline world, generated by `xstilts prepare`. Its scores are synthetic: "
        "they test the machinery and are not benchmark numbers.**"
    )
    lines += [synthetic_note if synthetic else f"Data source: {label}.", ""]
    cfg = w.config
    lines += [
        f"The encoder of `{exp.model}` after English intermediate-task training on "
        f"**{w.intermediate_task}**"
        + (f" (`{dataset}`)" if dataset else "")
        + f" for **{w.step} steps**, without its task head(s): load it with any `AutoModelFor…` head and "
        "fine-tune on a target task (X-STILTs; Phang et al. 2020).",
        "",
        "| | |",
        "|---|---|",
        f"| intermediate task | {w.intermediate_task} |",
        f"| steps | {w.step} (of the trial's {cfg.get('intermediate_steps', w.step)}) |",
        f"| lr | {cfg.get('lr', '–')} |",
        f"| batch size | {cfg.get('batch_size', '–')} |",
        f"| trial / seed | {w.trial_id} / {cfg.get('seed', '–')} |",
        f"| role | {w.role} |",
        f"| selection rule | {describe_rule(recorded_rule(run_dir) or rule_of(exp))} |",
        f"| data source | {source} |",
        "",
    ]
    return "\n".join(lines + _score_lines(tasks, tiers))


def _front_matter(model: str, langs: list[str], dataset: str | None) -> dict[str, Any]:
    """The model card's Hugging Face metadata (`dataset`: the intermediate task's hub dataset, if any)."""
    front: dict[str, Any] = {
        "base_model": model,
        "library_name": "transformers",
        "language": langs,
        "tags": ["xstilts", "intermediate-task-training", "zero-shot-cross-lingual-transfer", "xtreme"],
        "metrics": ["accuracy", "f1", "exact_match"],
    }
    return front | ({"datasets": [dataset]} if dataset else {})


def _score_lines(tasks: list[dict], tiers: list[dict]) -> list[str]:
    """The model card's scores against the baseline, per target task and per resource tier."""
    if not tasks:
        return ["No evaluation yet: run `xstilts evaluate` on the run directory for scores.", ""]

    def rows(scores: list[dict]) -> list[str]:
        return [
            f"| {r['name']} | {r['score']:.2f} | {r['baseline']:.2f} | {r['score'] - r['baseline']:+.2f} |"
            for r in scores
        ]

    return [
        "## Zero-shot evaluation (test split; mean over languages, then fine-tune seeds)",
        "",
        "| target task | score | none (no intermediate) | Δ |",
        "|---|---|---|---|",
        *rows(tasks),
        "",
        "| resource tier | score | none | Δ |",
        "|---|---|---|---|",
        *rows(tiers),
        "",
    ]


def export_winner(run_dir: RunDir, name: str, out: Path) -> Path:
    """Write the winner `name`'s encoder, tokenizer and model card to `out` (a new or empty directory),
    whole or not at all."""
    from transformers import AutoTokenizer

    winners = {w.name: w for w in winners_of(run_dir)}
    if name not in winners:
        raise ExportError(f"{run_dir.uri}: {unknown_name_message('winner', name, list(winners))}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: exists and is not an empty directory (nothing was written)")
    w = winners[name]
    quiet_transformers()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with _encoder_dir(run_dir, w) as (encoder, tokenizer):
            from_pretrained("retrieval", encoder).save_pretrained(str(tmp))
            AutoTokenizer.from_pretrained(tokenizer).save_pretrained(str(tmp))
        (tmp / "README.md").write_text(model_card(run_dir, w), encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
