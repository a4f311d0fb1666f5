"""`xstilts evaluate`: the sweep's winners, fully evaluated on the XTREME targets as Ray tasks.

Winners (by the experiment's `evaluation.select` metric): the best milestone of each intermediate task,
the best at each milestone step (duration curves), and the no-intermediate baseline. Each winner's
intermediate encoder comes from its Ray checkpoint at that step when one was kept, otherwise it is
retrained to that step with the trial's config and seed (the one training loop is deterministic on CPU).
Then one Ray task per (winner, target task, seed) fine-tunes on English and scores every language on dev
and test with the official metric. Each writes its own Parquet part, so a killed run loses nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from xstilts.search.config import Experiment
from xstilts.search.ledger import LEDGER_NAME
from xstilts.search.results import milestones_from_ledger
from xstilts.search.sweep import experiment_dir, known_trials

EVAL_DIR = "evaluation"
EVAL_NAME = "evaluation.parquet"


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


def select_winners(milestones: list[dict], metric: str, durations: bool) -> list[Winner]:
    """Best milestone per intermediate task, per (task, step) when `durations`, and the baseline."""
    def score(m: dict) -> float:
        value = m["metrics"].get(metric, math.nan)
        return -math.inf if value is None or math.isnan(value) else value

    groups: dict[tuple[str, int | None], dict] = {}
    for m in milestones:
        task = m["config"]["intermediate_task"]
        keys = [(task, None)] + ([(task, m["step"])] if durations and task != "none" else [])
        for key in keys:
            if key not in groups or score(m) > score(groups[key]):
                groups[key] = m
    winners = []
    for (task, step), m in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
        if task == "none":
            winners.append(Winner("none", "baseline", task, 0, m["trial_id"], m["config"]))
        elif step is None:
            winners.append(Winner(f"{task}@best", "best", task, m["step"], m["trial_id"], m["config"]))
        else:
            winners.append(Winner(f"{task}@step{step}", "duration", task, step, m["trial_id"], m["config"]))
    return winners


def eval_langs(exp: Experiment, task: str) -> list[str]:
    """Every language of the task that the data source has (the offline world: the experiment's)."""
    from xstilts.tasks.registry import build_registry

    langs = build_registry()[task].eval_langs
    return list(langs) if exp.source == "hub" else [lang for lang in langs if lang in exp.target.languages]


def part_path(out: Path, winner: str, task: str, seed: int) -> Path:
    return out / "parts" / f"{winner.replace('@', '_')}__{task}__seed{seed}.parquet"


def write_rows(rows: list[dict], path: Path) -> None:
    """Atomically write one part (a kill leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    os.replace(tmp, path)


def collect(out: Path) -> pa.Table:
    """All parts in one table, written to evaluation.parquet."""
    parts = sorted((out / "parts").glob("*.parquet"))
    table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else pa.table({})
    pq.write_table(table, out / EVAL_NAME)
    return table


def winners_of(exp: Experiment, base: Path, name: str) -> tuple[Path, list[Winner]]:
    """The experiment directory and its winners (from the sweep's ledger; orphans excluded)."""
    exp_dir = experiment_dir(exp, base, name)
    if not (exp_dir / LEDGER_NAME).is_file():
        raise FileNotFoundError(f"{exp_dir}: no sweep results here (run `xstilts sweep` first)")
    milestones = milestones_from_ledger(exp_dir / LEDGER_NAME, known_trials(exp_dir) or None)
    winners = select_winners(milestones, exp.evaluation.select, exp.evaluation.durations)
    (exp_dir / EVAL_DIR).mkdir(exist_ok=True)
    (exp_dir / EVAL_DIR / "winners.json").write_text(json.dumps([asdict(w) for w in winners], indent=1))
    return exp_dir, winners


def load_experiment_dir(exp_dir: Path) -> tuple[Experiment, Path, str]:
    """The experiment config a sweep recorded in its directory, the base its paths resolve against, its name."""
    from xstilts.search.config import ConfigError
    from xstilts.search.sweep import EXPERIMENT_JSON

    meta_path = Path(exp_dir) / EXPERIMENT_JSON
    if not meta_path.is_file():
        raise ConfigError(f"{meta_path}: not found (is {exp_dir} a sweep's experiment directory?)")
    meta = json.loads(meta_path.read_text())
    exp = Experiment.model_validate(meta["config"])
    return exp, Path(meta.get("base", Path(exp_dir).resolve().parent.parent)), meta["name"]


def encoder_groups(winners: list[Winner]) -> list[list[Winner]]:
    """Winners that share an encoder (same trial and step: a task's best is also the best at its step),
    in order; each group is evaluated once and its rows are written for every winner in it."""
    groups: dict[tuple[str, int], list[Winner]] = {}
    for w in winners:
        groups.setdefault((w.trial_id, w.step), []).append(w)
    return list(groups.values())


def jobs_of(tasks: list[str], seeds: list[int]) -> list[tuple[tuple[str, ...], list[int]]]:
    """(target tasks, seeds) of each job. Tasks that train on the same English data with the same head share
    one fine-tune per seed (XQuAD and MLQA: SQuAD v1.1, as in XTREME). Retrieval tasks are not fine-tuned,
    so their scores do not depend on the seed: one job scores them all and its rows stand for every seed."""
    from xstilts.tasks.registry import build_registry

    registry = build_registry()
    shared: dict[tuple, list[str]] = {}
    for task in tasks:
        shared.setdefault(registry[task].fine_tune_key, []).append(task)
    jobs: list[tuple[tuple[str, ...], list[int]]] = []
    for (kind, *_), group in shared.items():
        jobs += [(tuple(group), list(seeds))] if kind == "retrieval" else [(tuple(group), [s]) for s in seeds]
    return jobs


def write_job(rows: list[dict], group: list[Winner], tasks: tuple[str, ...], seeds: list[int], out: Path) -> None:
    """One part per (winner, task, seed) the job covers, each row relabelled with that winner and seed."""
    for task in tasks:
        task_rows = [r for r in rows if r["target_task"] == task]
        for w in group:
            for seed in seeds:
                write_rows([{**r, "winner": w.name, "role": w.role, "seed": seed} for r in task_rows],
                           part_path(out, w.name, task, seed))


def run_evaluation(exp_dir: Path, *, address: str | None = None, progress=None) -> Path:
    """Evaluate the winners of the sweep in `exp_dir`; returns the path of evaluation.parquet."""
    import ray

    from xstilts.models.train import TrainConfig
    from xstilts.search.eval_tasks import evaluate_targets, materialize_encoder
    from xstilts.search.plan import make_plan, release_plan_check
    from xstilts.search.progress import JobProgress
    from xstilts.search.sweep import _init_ray

    exp, base, name = load_experiment_dir(exp_dir)
    exp_dir, winners = winners_of(exp, base, name)
    out = exp_dir / EVAL_DIR
    plan = make_plan(exp, base)
    release_plan_check()
    ev = exp.evaluation
    recipe = TrainConfig(max_steps=ev.steps, lr=ev.lr, batch_size=ev.batch_size, device=exp.device)
    seeds = [exp.seed + i for i in range(ev.seeds)]
    label = plan.source.label
    _init_ray(address, exp)
    view = progress or JobProgress("xstilts evaluate")
    try:
        opts = {"num_cpus": ev.resources.cpu, "num_gpus": ev.resources.gpu}
        encode = ray.remote(**opts)(materialize_encoder)
        score = ray.remote(max_retries=2, **opts)(evaluate_targets)
        pending: dict = {}
        jobs = jobs_of(ev.tasks, seeds)
        for group in encoder_groups(winners):
            first = group[0]
            todo = [(tasks, s) for tasks, s in jobs
                    if not all(part_path(out, w.name, t, seed).is_file() for t in tasks for w in group for seed in s)]
            view.add_done(len(jobs) - len(todo))
            if not todo:
                continue
            encoder = encode.remote(plan, str(exp_dir), asdict(first), str(out / "encoders" / first.name))
            for tasks, job_seeds in todo:
                langs = {t: eval_langs(exp, t) for t in tasks}
                ref = score.remote(plan, encoder, list(tasks), job_seeds[0], langs, recipe, asdict(first), label)
                pending[ref] = (group, tasks, job_seeds)
                view.add_running(_job_name(group, tasks, job_seeds))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            group, tasks, job_seeds = job = pending.pop(done[0])
            try:
                write_job(ray.get(done[0]), *job, out)
                view.finished(_job_name(group, tasks, job_seeds), ok=True)
            except Exception as exc:  # a failed job is reported and left for a rerun
                view.finished(f"{_job_name(group, tasks, job_seeds)}: {type(exc).__name__}: {exc}", ok=False)
    finally:
        view.close()
        ray.shutdown()
    collect(out)
    if view.failed:
        raise EvaluationFailed(f"{view.failed} evaluation job(s) failed; rerun `xstilts evaluate {exp_dir}` to retry them")
    return out / EVAL_NAME


def _job_name(group: list[Winner], tasks: tuple[str, ...], seeds: list[int]) -> str:
    seed = f"seed {seeds[0]}" if len(seeds) == 1 else "all seeds"
    return f"{' = '.join(w.name for w in group)} {' + '.join(tasks)} {seed}"
