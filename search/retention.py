"""Checkpoint retention: which of a trial's checkpoints a sweep keeps, and pruning the rest.

Each trial keeps its latest checkpoint (what a resumed or retried trial continues from), its best
`search.keep_checkpoints` milestones by the search metric, and, until the evaluation of the sweep's winners
is done, every milestone that is a winner so far by the selection rule (`evaluation.select_winners`: the
best of its intermediate task, and the best at its step). A milestone that is not the best of its (task,
step) now can never become a winner later (later trials only add rivals), so pruning it when its trial
reports is safe. Ray Tune's own `num_to_keep` cannot do this (it ranks one trial's checkpoints by one
metric), so xstilts prunes instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from xstilts.search.rundir import RunDir


@dataclass(frozen=True)
class Retention:
    keep: int  # search.keep_checkpoints
    metric: str  # search.metric
    select: str  # evaluation.rule: english_dev or the target-dev metric
    durations: bool  # evaluation.durations


def kept_steps(milestones: list[dict], retention: Retention, *, winners_evaluated: bool) -> dict[str, set[int]]:
    """trial id -> the milestone steps whose checkpoints are kept (the latest checkpoint is kept besides)."""
    from xstilts.search.evaluate import milestone_score, select_winners

    keep: dict[str, set[int]] = {}
    by_trial: dict[str, list[dict]] = {}
    for m in milestones:
        by_trial.setdefault(m["trial_id"], []).append(m)
    for trial_id, ms in by_trial.items():
        best = sorted(ms, key=lambda m: (milestone_score(m, retention.metric), m["step"]), reverse=True)[
            : retention.keep
        ]
        keep[trial_id] = {m["step"] for m in best}
    if not winners_evaluated:
        for w in select_winners(milestones, retention.select, retention.durations):
            keep.setdefault(w.trial_id, set()).add(w.step)
    return keep


def prune(
    run_dir: RunDir,
    milestones: list[dict],
    retention: Retention,
    *,
    winners_evaluated: bool = False,
    trials: set[str] | None = None,
) -> list[str]:
    """Delete the checkpoints of `trials` (default: every trial with a milestone) that are not kept, not their
    trial's latest (a running trial's two latest), and not at a step not journaled yet (a result still on its
    way); returns what went. `milestones` carry each trial's end (`results.milestones_from_ledger`)."""
    keep = kept_steps(milestones, retention, winners_evaluated=winners_evaluated)
    journaled: dict[str, set[int]] = {}
    running = set()
    for m in milestones:
        journaled.setdefault(m["trial_id"], set()).add(m["step"])
        if m.get("end", "running") == "running":
            running.add(m["trial_id"])
    removed = []
    for trial_id in sorted(trials if trials is not None else journaled):
        checkpoints = run_dir.trial_checkpoints(trial_id)
        # the latest; for a trial still running also the one before, which Ray's experiment snapshot (written
        # at most every second) may still name as the trial's checkpoint when the driver is killed
        latest = sorted({step for _rel, step in checkpoints}, reverse=True)[: 2 if trial_id in running else 1]
        for rel, step in checkpoints:
            if step in latest or step in keep.get(trial_id, set()) or step not in journaled.get(trial_id, set()):
                continue
            run_dir.remove(rel)
            removed.append(rel)
    return removed
