"""Which milestones win, and which checkpoints a sweep keeps: the selection rule, the winners and retention.

Winners (by the experiment's rule, `evaluation.selection`: English dev by default): the best milestone of each
intermediate task, the best at each milestone step (duration curves), and the no-intermediate baseline.
Retention keeps each trial's latest checkpoint (what a resumed or retried trial continues from), its best
`search.keep_checkpoints` milestones by the search metric, and, until the evaluation of the winners is done,
every milestone that is a winner so far. A milestone that is not the best of its (task, step) now can never
become a winner later (later trials only add rivals), so pruning it when its trial reports is safe. Ray
Tune's own `num_to_keep` cannot do this (it ranks one trial's checkpoints by one metric), so xstilts prunes
instead. No Ray here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from xstilts.search.config import ENGLISH_DEV, Experiment
from xstilts.search.journal import PROBE_PREFIX, better
from xstilts.search.rundir import RunDir
from xstilts.tasks.registry import BASELINE

ROLES = ("baseline", "best", "duration", "milestone")


def milestone_score(m: dict, rule: str) -> float:
    """A milestone's score under `rule` (`english_dev`, or a journaled summary metric), with a missing or
    NaN score ranked below every other."""
    if rule == ENGLISH_DEV:
        english = [v for k, v in m["metrics"].items() if k.startswith(PROBE_PREFIX) and k.endswith("/en")]
        value = sum(english) / len(english) if english else math.nan
    else:
        value = m["metrics"].get(rule, math.nan)
    return -math.inf if value is None or math.isnan(value) else value


@dataclass(frozen=True)
class Winner:
    name: str  # e.g. mnli@best, mnli@step200, none, mnli@<trial>@step100
    role: str  # one of ROLES
    intermediate_task: str
    step: int
    trial_id: str
    config: dict


@dataclass(frozen=True)
class Rule:
    """How winners are chosen (`evaluation`'s rule, durations, top_tasks and every_milestone)."""

    rule: str
    durations: bool = True
    top: int | None = None
    every: bool = False


def rule_of(exp: Experiment) -> Rule:
    """The experiment's winner rule (`evaluation`)."""
    ev = exp.evaluation
    return Rule(ev.rule, ev.durations, ev.top_tasks, ev.every_milestone)


def recorded_rule(run_dir: RunDir) -> Rule | None:
    """The rule the evaluation recorded beside its winners."""
    rule = run_dir.read_winner_rule()
    return None if rule is None else Rule(**rule)


def describe_rule(rule: Rule) -> str:
    """The rule in words."""
    if rule.rule == ENGLISH_DEV:
        return "english_dev: English dev (XTREME's strict zero-shot setting: the probed tasks' English dev scores)"
    return f"target_dev: target dev ({rule.rule} over the target languages' dev probes; an oracle protocol)"


class WinnerBoard:
    """The best milestone of each intermediate task, and of each (task, step) with `durations`, kept up to
    date one milestone at a time (a group's first milestone holds it until a `better` one comes)."""

    def __init__(self, rule: str, durations: bool, milestones: Iterable[dict] = ()):
        self.rule, self.durations = rule, durations
        self.groups: dict[tuple[str, int | None], dict] = {}
        self._all: dict[tuple[str, int], dict] = {}
        for m in milestones:
            self.add(m)

    def _score(self, m: dict) -> float:
        return milestone_score(m, self.rule)

    def add(self, m: dict) -> None:
        key = (m["trial_id"], m["step"])
        replaced = self._all.get(key)
        self._all[key] = m
        if replaced is not None and any((g["trial_id"], g["step"]) == key for g in self.groups.values()):
            self.groups.clear()  # a holder's score changed (a re-reported result): rebuilt from every milestone
            for other in sorted(self._all.values(), key=lambda r: (r["trial_id"], r["step"])):
                self._place(other)
            return
        self._place(m)

    def _place(self, m: dict) -> None:
        task = m["config"]["intermediate_task"]
        for key in [(task, None)] + ([(task, m["step"])] if self.durations and task != BASELINE else []):
            if key not in self.groups or better(m, self.groups[key], self._score):
                self.groups[key] = m

    def steps_of(self, trial_id: str) -> set[int]:
        """The steps of `trial_id` that hold a group now."""
        return {m["step"] for m in self.groups.values() if m["trial_id"] == trial_id}


def _order(m: dict, rule: str) -> tuple:
    """Sort key of `better`'s order: the higher score first, then the earlier (trial id, step)."""
    return (-milestone_score(m, rule), m["trial_id"], m["step"])


def select_winners(milestones: list[dict], rule: Rule) -> list[Winner]:
    """Best milestone per intermediate task, per (task, step) when `durations`, and the baseline; with `top`,
    only the intermediate tasks whose best milestone ranks in the top `top` (the baseline always); with
    `every`, each other (trial, milestone) of those tasks too (role `milestone`), so that the probe's ranking
    can be checked against the evaluation on more encoders."""
    if rule.top is not None:
        best = WinnerBoard(rule.rule, False, milestones).groups  # ranked by `better`'s order, ties included
        holders = [m for (task, _), m in best.items() if task != BASELINE]
        ranked = [m["config"]["intermediate_task"] for m in sorted(holders, key=lambda m: _order(m, rule.rule))]
        keep = set(ranked[: rule.top]) | {BASELINE}
        milestones = [m for m in milestones if m["config"]["intermediate_task"] in keep]
    groups = WinnerBoard(rule.rule, rule.durations, milestones).groups
    winners = []
    for (task, step), m in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
        if task == BASELINE:
            winners.append(Winner(BASELINE, "baseline", task, 0, m["trial_id"], m["config"]))
        elif step is None:
            winners.append(Winner(f"{task}@best", "best", task, m["step"], m["trial_id"], m["config"]))
        else:
            winners.append(Winner(f"{task}@step{step}", "duration", task, step, m["trial_id"], m["config"]))
    if rule.every:
        covered = {(w.trial_id, w.step) for w in winners} | {
            (m["trial_id"], m["step"]) for m in milestones if m["config"]["intermediate_task"] == BASELINE
        }
        for m in sorted(milestones, key=lambda m: (m["config"]["intermediate_task"], m["trial_id"], m["step"])):
            if (m["trial_id"], m["step"]) not in covered:
                task = m["config"]["intermediate_task"]
                name = f"{task}@{m['trial_id']}@step{m['step']}"
                winners.append(Winner(name, "milestone", task, m["step"], m["trial_id"], m["config"]))
                covered.add((m["trial_id"], m["step"]))
    return winners


# -- retention ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Retention:
    keep: int  # search.keep_checkpoints
    metric: str  # search.metric
    select: str  # evaluation.rule: english_dev or the target-dev metric
    durations: bool  # evaluation.durations


def retention_of(exp: Experiment) -> Retention:
    return Retention(exp.search.keep_checkpoints, exp.search.metric, exp.evaluation.rule, exp.evaluation.durations)


def kept_steps(
    milestones: list[dict], retention: Retention, *, winners_evaluated: bool, board: WinnerBoard | None = None
) -> dict[str, set[int]]:
    """trial id -> the milestone steps of `milestones` whose checkpoints are kept (the latest checkpoint is
    kept besides). `board`: the winners so far over the whole run (default: built from `milestones`)."""
    keep: dict[str, set[int]] = {}
    by_trial: dict[str, list[dict]] = {}
    for m in milestones:
        by_trial.setdefault(m["trial_id"], []).append(m)
    for trial_id, ms in by_trial.items():
        ranked = sorted(ms, key=lambda m: (milestone_score(m, retention.metric), m["step"]), reverse=True)
        keep[trial_id] = {m["step"] for m in ranked[: retention.keep]}
    if not winners_evaluated:
        board = board or WinnerBoard(retention.select, retention.durations, milestones)
        for trial_id in by_trial:
            keep[trial_id] |= board.steps_of(trial_id)
    return keep


def prune(
    run_dir: RunDir,
    milestones: list[dict],
    retention: Retention,
    *,
    winners_evaluated: bool = False,
    board: WinnerBoard | None = None,
) -> list[str]:
    """Delete the checkpoints of the trials in `milestones` (one row per journaled (trial, step), with how the
    trial ended: `Journal.milestones`) that are not kept, not their trial's latest (a running trial's two
    latest), and not at a step not journaled yet (a result still on its way); returns what went."""
    keep = kept_steps(milestones, retention, winners_evaluated=winners_evaluated, board=board)
    journaled: dict[str, set[int]] = {}
    running = set()
    for m in milestones:
        journaled.setdefault(m["trial_id"], set()).add(m["step"])
        if m.get("end", "running") == "running":
            running.add(m["trial_id"])
    removed = []
    for trial_id in sorted(journaled):
        newest = sorted(journaled[trial_id], reverse=True)[: 2 if trial_id in running else 1]
        if not journaled[trial_id] - keep.get(trial_id, set()) - set(newest):
            continue  # every journaled step is kept or the newest: nothing to remove, nothing to list
        checkpoints = run_dir.trial_checkpoints(trial_id)
        # the latest; for a trial still running also the one before, which Ray's experiment snapshot (written
        # at most every second) may still name as the trial's checkpoint when the driver is killed
        latest = sorted({step for _rel, step in checkpoints}, reverse=True)[: 2 if trial_id in running else 1]
        for rel, step in checkpoints:
            if step in latest or step in keep.get(trial_id, set()) or step not in journaled[trial_id]:
                continue
            run_dir.remove(rel)
            removed.append(rel)
    return removed
