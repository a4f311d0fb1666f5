"""Results of a sweep, rebuilt from the ledger: results.parquet (trial x milestone x language) and a summary."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from xstilts.search.journal import Journal, split_probe_key
from xstilts.search.rundir import RunDir
from xstilts.tasks.languages import resource_tier


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


def summarize(journal: Journal, metric: str, trials: set[str] | None = None) -> SearchResult:
    """The milestones of `trials` (default: every trial), the best intermediate milestone by `metric`, and
    the best no-intermediate one (`Journal.best`)."""
    return SearchResult(
        journal.run_dir,
        journal.milestones(trials),
        journal.best(metric, trials=trials),
        journal.best(metric, baseline=True, trials=trials),
        metric,
        journal.errors(trials),
    )


RESULT_COLUMNS = (
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
CONFIG_KEYS = ("intermediate_task", "intermediate_steps", "lr", "batch_size", "seed")


def _milestone_rows(m: dict, experiment: str, source: str, low_resource: list[str]) -> Iterator[dict]:
    """A milestone's rows: one per probed target task and language, with its trial's config and summaries."""
    config = {k: m["config"].get(k) for k in CONFIG_KEYS}
    summaries = {k: m["metrics"][k] for k in ("mean", "low_resource_mean", "worst", "worst_lang")}
    for key, score in sorted(m["metrics"].items()):
        if (probed := split_probe_key(key)) is None:
            continue
        target_task, lang = probed
        yield {
            "experiment": experiment,
            "source": source,
            "trial_id": m["trial_id"],
            **config,
            "step": m["step"],
            "end": m["end"],
            "error": m.get("error"),
            "target_task": target_task,
            "lang": lang,
            # the 'low' tier is the experiment's low-resource set (max class -1: no other language is low)
            "resource_tier": "low" if lang in low_resource else resource_tier(lang, -1),
            "low_resource": lang in low_resource,
            "score": score,
            **summaries,
        }


def results_table(result: SearchResult, experiment: str, source: str, low_resource: list[str]) -> pa.Table:
    """One row per trial x milestone x target task x language, with the sampled config and the summary; a
    trial that raised before its first milestone has one row without scores."""
    rows = [row for m in result.milestones for row in _milestone_rows(m, experiment, source, low_resource)]
    reported = {m["trial_id"] for m in result.milestones}
    for e in result.errors:
        if e["trial_id"] not in reported:
            config = e.get("config", {})
            rows.append(
                dict.fromkeys(RESULT_COLUMNS)
                | {"experiment": experiment, "source": source, "trial_id": e["trial_id"]}
                | {k: config.get(k) for k in CONFIG_KEYS}
                | {"end": "error", "error": e.get("reason"), "score": math.nan}
            )
    return pa.table({k: [row[k] for row in rows] for k in RESULT_COLUMNS})


def summary_lines(result: SearchResult) -> list[str]:
    """A short text summary: the best intermediate trial, its config, its scores vs the best no-intermediate
    trial."""
    errors = [f"trial {e['trial_id']} error: {e.get('reason', '?')}" for e in result.errors]
    if errors:
        errors.append("rerun errored trials from their last checkpoint: xstilts sweep --resume --retry-errored")
    b, base, metric = result.best, result.best_baseline, result.metric
    if b is None:
        only_base = [f"none: trial {base['trial_id']} ({metric} = {base['metrics'][metric]:.2f})"] if base else []
        return ["no intermediate trial reported a score", *only_base, *errors]
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
