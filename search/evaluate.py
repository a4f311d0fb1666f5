"""`xstilts evaluate`: the sweep's winners, fully evaluated on the XTREME targets as Ray tasks.

Winners (by the experiment's selection rule, `evaluation.rule`: English dev by default): the best
milestone of each intermediate task, the best at each milestone step (duration curves), and the
no-intermediate baseline. Each winner's
intermediate encoder comes from its Ray checkpoint at that step when one was kept, otherwise it is
retrained to that step with the trial's config and seed (the one training loop is deterministic on CPU).
Then one Ray task per (winner, target task, seed) fine-tunes on English and scores every language on dev
and test with the official metric. Each writes its own Parquet part, so a killed run loses nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from xstilts.search.config import ENGLISH_DEV, Experiment, experiment_from_record
from xstilts.search.ledger import PROBE_PREFIX
from xstilts.search.results import milestones_from_ledger
from xstilts.search.rundir import RunDir, RunDirError
from xstilts.tasks.registry import BASELINE, Recipe, TaskSpec


class EvaluationFailed(RuntimeError):
    """Some jobs failed (each was reported); the others' parts are written, and a rerun retries the rest."""


@dataclass(frozen=True)
class Winner:
    name: str  # e.g. mnli@best, mnli@step200, none
    role: str  # best | duration | baseline
    intermediate_task: str
    step: int
    trial_id: str
    config: dict


def milestone_score(m: dict, metric: str) -> float:
    """A milestone's `metric` (`english_dev`: the mean of its probed tasks' English dev scores), with a
    missing or NaN score ranked below every other."""
    if metric == ENGLISH_DEV:
        english = [v for k, v in m["metrics"].items() if k.startswith(PROBE_PREFIX) and k.endswith("/en")]
        value = sum(english) / len(english) if english else math.nan
    else:
        value = m["metrics"].get(metric, math.nan)
    return -math.inf if value is None or math.isnan(value) else value


def select_winners(
    milestones: list[dict], metric: str, durations: bool, top: int | None = None, every: bool = False
) -> list[Winner]:
    """Best milestone per intermediate task, per (task, step) when `durations`, and the baseline; with `top`,
    only the intermediate tasks whose best milestone ranks in the top `top` (the baseline always); with
    `every`, each other (trial, milestone) of those tasks too (role `milestone`), so that the probe's ranking
    can be checked against the evaluation on more encoders."""
    if top is not None:
        best: dict[str, float] = {}
        for m in milestones:
            task = m["config"]["intermediate_task"]
            best[task] = max(best.get(task, -math.inf), milestone_score(m, metric))
        ranked = sorted((t for t in best if t != BASELINE), key=lambda t: (-best[t], t))
        keep = set(ranked[:top]) | {BASELINE}
        milestones = [m for m in milestones if m["config"]["intermediate_task"] in keep]
    groups: dict[tuple[str, int | None], dict] = {}
    for m in milestones:
        task = m["config"]["intermediate_task"]
        keys = [(task, None)] + ([(task, m["step"])] if durations and task != BASELINE else [])
        for key in keys:
            if key not in groups or milestone_score(m, metric) > milestone_score(groups[key], metric):
                groups[key] = m
    winners = []
    for (task, step), m in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
        if task == BASELINE:
            winners.append(Winner(BASELINE, "baseline", task, 0, m["trial_id"], m["config"]))
        elif step is None:
            winners.append(Winner(f"{task}@best", "best", task, m["step"], m["trial_id"], m["config"]))
        else:
            winners.append(Winner(f"{task}@step{step}", "duration", task, step, m["trial_id"], m["config"]))
    if every:
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


def find_winners(run_dir: RunDir, exp: Experiment) -> list[Winner]:
    """The winners of the sweep in `run_dir` (from its ledger; trials orphaned by a kill excluded)."""
    if not run_dir.has_ledger():
        raise RunDirError(f"{run_dir.uri}: no sweep results here (run `xstilts sweep` first)")
    milestones = milestones_from_ledger(run_dir, run_dir.known_trials() or None)
    ev = exp.evaluation
    return select_winners(milestones, ev.rule, ev.durations, ev.top_tasks, ev.every_milestone)


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


def write_job(rows: list[dict], group: list[Winner], tasks: tuple[str, ...], seeds: list[int], run_dir: RunDir) -> None:
    """One part per (winner, task, seed) the job covers, each row relabelled with that winner and seed."""
    for task in tasks:
        task_rows = [r for r in rows if r["target_task"] == task]
        for w in group:
            for seed in seeds:
                run_dir.write_part(
                    [{**r, "winner": w.name, "role": w.role, "seed": seed} for r in task_rows], w.name, task, seed
                )


def run_evaluation(run_dir: RunDir, *, address: str | None = None, progress=None) -> str:
    """Evaluate the winners of the sweep in `run_dir`; returns where evaluation.parquet is.

    Every split the evaluation reads is loaded and featurised before Ray starts.
    """
    import ray

    from xstilts.models.recipe import TargetFineTune
    from xstilts.search.cluster import connect_checked
    from xstilts.search.eval_jobs import materialize_encoder, score_job
    from xstilts.search.plan import make_plan, provenance, resolve_source
    from xstilts.search.progress import JobProgress
    from xstilts.search.recipes import stage_recipes, stage_registry
    from xstilts.search.splits import eval_langs, evaluation_splits, split_langs
    from xstilts.tasks.registry import build_registry

    meta = run_dir.read_meta()
    exp = experiment_from_record(meta["config"], build_registry())
    registry = stage_registry(exp, build_registry(), "evaluation")  # the evaluation's sequence lengths
    winners = find_winners(run_dir, exp)
    source = resolve_source(exp, Path(meta["base"]), registry, prepare=False)
    splits = evaluation_splits(exp, registry, {w.intermediate_task for w in winners}, source)
    ev = exp.evaluation
    plan = connect_checked(  # before anything is written
        address,
        exp,
        ev.resources,
        f"{meta.get('name', run_dir.name)}.evaluation.resources",
        lambda: make_plan(exp, Path(meta["base"]), registry, splits=splits, stage="evaluation"),
    )
    run_dir.write_winners([asdict(w) for w in winners])
    run_dir.write_provenance("evaluation", provenance(plan, splits))
    recipes = stage_recipes(exp, registry, "evaluation")

    def how(task: str) -> TargetFineTune | None:
        if task not in recipes:  # retrieval: evaluated from the encoder as it is
            return None
        return TargetFineTune(
            recipes[task],
            tuple(split_langs(exp, registry[task], "dev", plan.source)),
            ev.selection,
            exp.device,
            ev.resources.max_micro_batch,
            exp.target.retrieval_layer,
        )

    seeds = [exp.seed + i for i in range(ev.seeds)]
    view = progress or JobProgress("xstilts evaluate")
    try:
        cpus, gpus = ev.resources.cpu, ev.resources.gpu
        encode = ray.remote(num_cpus=cpus, num_gpus=gpus)(materialize_encoder)
        score = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=2)(score_job)
        pending: dict = {}
        jobs = jobs_of([registry[t] for t in ev.tasks], seeds, recipes)
        for group in encoder_groups(winners):
            first = group[0]
            todo = [
                (tasks, s)
                for tasks, s in jobs
                if not all(run_dir.has_part(w.name, t, seed) for t in tasks for w in group for seed in s)
            ]
            view.add_done(len(jobs) - len(todo))
            if not todo:
                continue
            encoder = encode.remote(plan, run_dir, asdict(first))
            for tasks, job_seeds in todo:
                langs = {t: eval_langs(exp, registry[t], plan.source) for t in tasks}
                ref = score.remote(
                    plan,
                    run_dir,
                    encoder,
                    list(tasks),
                    job_seeds[0],
                    langs,
                    how(tasks[0]),
                    asdict(first),
                    plan.source.label,
                )
                pending[ref] = (group, tasks, job_seeds)
                view.add_running(_job_name(group, tasks, job_seeds))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            group, tasks, job_seeds = pending.pop(done[0])
            try:
                write_job(ray.get(done[0]), group, tasks, job_seeds, run_dir)
                view.finished(_job_name(group, tasks, job_seeds), ok=True)
            except Exception as exc:  # a failed job is reported, journaled (`xstilts status`) and left for a rerun
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                view.finished(f"{_job_name(group, tasks, job_seeds)}: {reason}", ok=False)
                parts = [[w.name, t, s] for w in group for t in tasks for s in job_seeds]
                run_dir.append_event(
                    {
                        "event": "eval_failed",
                        "job": _job_name(group, tasks, job_seeds),
                        "reason": reason,
                        "parts": parts,
                    }
                )
    finally:
        view.close()
        ray.shutdown()
    run_dir.collect_parts()
    if not view.failed:  # every winner's encoder is saved: its checkpoint need not be kept any longer
        from xstilts.search.retention import prune
        from xstilts.search.sweep import retention_of

        prune(run_dir, milestones_from_ledger(run_dir), retention_of(exp), winners_evaluated=True)
    if view.failed:
        raise EvaluationFailed(
            f"{view.failed} evaluation job(s) failed; rerun `xstilts evaluate {run_dir.uri}` to retry them"
        )
    return run_dir.evaluation_path


def _job_name(group: list[Winner], tasks: tuple[str, ...], seeds: list[int]) -> str:
    seed = f"seed {seeds[0]}" if len(seeds) == 1 else "all seeds"
    return f"{' = '.join(w.name for w in group)} {' + '.join(tasks)} {seed}"
