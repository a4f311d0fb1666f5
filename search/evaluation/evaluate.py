"""`xstilts evaluate`: the sweep's winners, fully evaluated on the XTREME targets as Ray tasks.

Winners (by the experiment's selection rule, `evaluation.selection`: English dev by default): the best
milestone of each intermediate task, the best at each milestone step (duration curves), and the
no-intermediate baseline. Each winner's
intermediate encoder comes from its Ray checkpoint at that step when one was kept, otherwise it is
retrained to that step with the trial's config and seed (the one training loop is deterministic on CPU).
Then one Ray task per (winner, target task, seed) fine-tunes on English and scores every language on dev
and test with the official metric. With replicates (search.replicates) each replicate is an encoder of its
own with its own target seeds (`jobs.target_seeds`), the baseline's replicates the pretrained
encoder. Each job writes its own Parquet part, so a killed run loses nothing.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import ray

from xstilts.core.errors import WorkFailed
from xstilts.models.transfer import TargetFineTune
from xstilts.search.cluster import connect_checked
from xstilts.search.config import ConfigError, Experiment
from xstilts.search.evaluation.jobs import (
    ScoreJob,
    materialize_encoder,
    replicate_name,
    replicate_seed,
    score_job,
    target_seeds,
)
from xstilts.search.journal import Journal, open_journal
from xstilts.search.lease import hold
from xstilts.search.plan import TrialPlan, make_plan, provenance, resolve_source
from xstilts.search.rundir import RunDir, RunDirError
from xstilts.search.selection import Winner, prune, retention_of, rule_of, select_winners
from xstilts.search.splits import evaluation_splits, split_langs
from xstilts.search.stages import stage_fine_tunes, stage_recipes, stage_registry
from xstilts.search.terminal import JobProgress
from xstilts.tasks.checks import check_splits_readable
from xstilts.tasks.registry import BASELINE, Recipe, TaskSpec


class EvaluationFailed(WorkFailed, RuntimeError):
    """Some jobs failed (each was reported); the others' parts are written, and a rerun retries the rest."""


def find_winners(journal: Journal, exp: Experiment) -> list[Winner]:
    """The winners of the sweep journaled in `journal` (trials orphaned by a driver kill excluded)."""
    run_dir = journal.run_dir
    if not journal.events and not run_dir.has_ledger():
        raise RunDirError(f"{run_dir.uri}: no sweep results here (run `xstilts sweep` first)")
    return select_winners(journal.milestones(run_dir.known_trials() or None), rule_of(exp))


def encoder_groups(winners: list[Winner]) -> list[list[Winner]]:
    """Winners that share an encoder (same trial and step: a task's best is also the best at its step),
    in order; each group is evaluated once and its rows are written for every winner in it."""
    groups: dict[tuple[str, int], list[Winner]] = {}
    for w in winners:
        groups.setdefault((w.trial_id, w.step), []).append(w)
    return list(groups.values())


def jobs_of(
    tasks: list[TaskSpec], seeds: list[int], recipes: dict[str, Recipe] | None = None
) -> list[tuple[tuple[str, ...], list[int]]]:
    """(target tasks, seeds) of each job. Tasks that train on the same English data with the same head and
    `recipes` share one fine-tune per seed (XQuAD and MLQA: SQuAD v1.1, as in XTREME). Retrieval tasks are
    not fine-tuned, so their scores do not depend on the seed: one job scores them all and its rows stand
    for every seed."""
    recipes = recipes or {}
    shared: dict[tuple, list[str]] = {}
    for spec in tasks:
        shared.setdefault((*spec.fine_tune_key, recipes.get(spec.name)), []).append(spec.name)
    jobs: list[tuple[tuple[str, ...], list[int]]] = []
    for (kind, *_), group in shared.items():
        jobs += [(tuple(group), list(seeds))] if kind == "retrieval" else [(tuple(group), [s]) for s in seeds]
    return jobs


def write_job(
    rows: list[dict], group: list[Winner], tasks: tuple[str, ...], seeds: list[int], run_dir: RunDir, replicate: int = 0
) -> None:
    """One part per (winner, task, seed) the job covers (of the winner's replicate `replicate`), each row
    relabelled with that winner and seed. A part already written is left as it is: a job rerun after a kill
    that landed between its parts (a retrieval job writes one per task and seed) redoes only the missing ones."""
    for task in tasks:
        task_rows = [r for r in rows if r["target_task"] == task]
        for w in group:
            for seed in seeds:
                if run_dir.has_part(replicate_name(w.name, replicate), task, seed):
                    continue
                run_dir.write_part(
                    [{**r, "winner": w.name, "role": w.role, "seed": seed} for r in task_rows],
                    replicate_name(w.name, replicate),
                    task,
                    seed,
                )


def run_evaluation(run_dir: RunDir, *, address: str | None = None, progress=None, break_lease: bool = False) -> str:
    """Evaluate the winners of the sweep in `run_dir`; returns where evaluation.parquet is.

    Every split the evaluation reads is loaded and featurised before Ray starts. The run directory's lease is
    held throughout (`search/lease.py`): refused (LeaseHeld) while another driver holds it.
    """
    with hold(run_dir, "evaluate", break_lease=break_lease):
        return _evaluate(run_dir, address, progress)


def _evaluate(run_dir: RunDir, address: str | None, progress) -> str:

    if simulated := run_dir.read_provenance("sweep").get("simulated"):
        raise ConfigError(f"{run_dir.uri}: a simulated sweep ({simulated}): its trials trained nothing to evaluate")
    ctx = run_dir.context()
    exp = ctx.exp
    registry = stage_registry(exp, ctx.registry, "evaluation")  # the evaluation's sequence lengths
    staged = replace(ctx, registry=registry)
    journal = open_journal(run_dir)
    winners = find_winners(journal, exp)
    source = resolve_source(staged, prepare=False)
    splits = evaluation_splits(exp, registry, {w.intermediate_task for w in winners}, source)
    check_splits_readable(splits, source)  # every data file, before Ray starts
    ev = exp.evaluation
    plan = connect_checked(  # before anything is written
        address,
        exp,
        ev.resources,
        f"{ctx.name}.evaluation.resources",
        lambda: make_plan(ctx, splits=splits, stage="evaluation", checked=True),
    )
    run_dir.write_winners([asdict(w) for w in winners], asdict(rule_of(exp)))
    run_dir.write_provenance("evaluation", provenance(plan, splits))
    recipes = stage_recipes(exp, registry, "evaluation")
    fine_tunes = stage_fine_tunes(exp, registry, "evaluation")  # retrieval tasks have none: scored as they are

    view = progress or JobProgress("xstilts evaluate")
    try:
        cpus, gpus = ev.resources.cpu, ev.resources.gpu
        encode = ray.remote(num_cpus=cpus, num_gpus=gpus)(materialize_encoder)
        score = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=2)(score_job)
        pending: dict = {}
        for group, r in ((g, r) for g in encoder_groups(winners) for r in range(exp.search.replicates)):
            pending |= _submit(exp, plan, run_dir, group, r, fine_tunes, recipes, view, encode, score)
        _collect(pending, run_dir, journal, view)
    finally:
        view.close()
        ray.shutdown()
    run_dir.collect_parts()
    if not view.failed:  # every winner's encoder is saved: its checkpoint need not be kept any longer
        prune(run_dir, journal.milestones(), retention_of(exp), winners_evaluated=True)
    if view.failed:
        raise EvaluationFailed(
            f"{view.failed} evaluation job(s) failed; rerun `xstilts evaluate {run_dir.uri}` to retry them"
        )
    return run_dir.evaluation_path


def _submit(
    exp: Experiment,
    plan: TrialPlan,
    run_dir: RunDir,
    group: list[Winner],
    r: int,
    fine_tunes: dict[str, TargetFineTune],
    recipes: dict[str, Recipe],
    view,
    encode,
    score,
) -> dict:
    """The jobs of one encoder (a group of winners that share it, replicate `r`) whose parts are not all
    written yet, submitted: its encoder task, then one scoring task per (target tasks, seed); the pending
    refs, each with what it covers."""
    registry, first = plan.registry, group[0]  # the evaluation's registry
    ev = exp.evaluation
    jobs = jobs_of([registry[t] for t in ev.tasks], target_seeds(exp.seed, ev.seeds, r), recipes)
    todo = [
        (tasks, s)
        for tasks, s in jobs
        if not all(run_dir.has_part(replicate_name(w.name, r), t, seed) for t in tasks for w in group for seed in s)
    ]
    view.add_done(len(jobs) - len(todo))
    if not todo:
        return {}
    encoder = encode.remote(plan, run_dir, first, r)
    seed_r = None if first.intermediate_task == BASELINE else replicate_seed(plan, first, r)
    pending = {}
    for tasks, job_seeds in todo:
        langs = {t: {x: split_langs(exp, registry[t], x, plan.source) for x in ("dev", "test")} for t in tasks}
        how = fine_tunes.get(tasks[0])
        job = ScoreJob(tuple(tasks), job_seeds[0], langs, how, first, plan.source.label, r, seed_r)
        pending[score.remote(plan, run_dir, encoder, job)] = (group, tasks, job_seeds, r)
        view.add_running(_job_name(group, tasks, job_seeds, r))
    return pending


def _collect(pending: dict, run_dir: RunDir, journal, view) -> None:
    """Each job's parts written as it finishes; a failed job reported, journaled (`xstilts status`) and left
    for a rerun."""
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        group, tasks, job_seeds, r = pending.pop(done[0])
        try:
            write_job(ray.get(done[0]), group, tasks, job_seeds, run_dir, r)
            view.finished(_job_name(group, tasks, job_seeds, r), ok=True)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            view.finished(f"{_job_name(group, tasks, job_seeds, r)}: {reason}", ok=False)
            parts = [[replicate_name(w.name, r), t, s] for w in group for t in tasks for s in job_seeds]
            journal.append(
                {"event": "eval_failed", "job": _job_name(group, tasks, job_seeds, r), "reason": reason, "parts": parts}
            )


def _job_name(group: list[Winner], tasks: tuple[str, ...], seeds: list[int], replicate: int = 0) -> str:
    seed = f"seed {seeds[0]}" if len(seeds) == 1 else "all seeds"
    names = " = ".join(replicate_name(w.name, replicate) for w in group)
    return f"{names} {' + '.join(tasks)} {seed}"
