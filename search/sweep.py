"""`run_search`: one Ray Tune sweep (OptunaSearch TPE + ASHA) of an experiment, fresh or resumed."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from xstilts.search.config import ConfigError, Experiment
from xstilts.search.ledger import LEDGER_NAME, PersistentASHA
from xstilts.search.plan import TrialPlan, make_plan, release_plan_check
from xstilts.search.results import RESULTS_NAME, SearchResult, results_table, summarize, write_parquet

EXPERIMENT_JSON = "xstilts-experiment.json"
RAY_ENV = {  # quiet Ray's own console output; the ProgressView callback shows progress instead
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_AUTH_MODE": "disabled",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Snapshot the experiment at most every second (Ray's default adapts to >= 10 s): a trial must be in a
    # snapshot before its first result, or a driver kill orphans it and the searcher re-suggests it.
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
}


def experiment_dir(exp: Experiment, base: Path, name: str) -> Path:
    return (base / exp.storage_path).resolve() / name


def _param_space(exp: Experiment) -> dict:
    from ray import tune

    space = exp.search.space
    lr = (tune.loguniform if space.lr.log else tune.uniform)(space.lr.low, space.lr.high)
    return {"intermediate_task": tune.choice(exp.intermediate.tasks),
            "intermediate_steps": tune.choice(exp.intermediate.steps),
            "lr": lr, "batch_size": tune.choice(space.batch_size)}


def _baseline_point(exp: Experiment) -> list[dict]:
    """Evaluate the no-intermediate baseline first, so every sweep can be compared with it."""
    if "none" not in exp.intermediate.tasks:
        return []
    return [{"intermediate_task": "none", "intermediate_steps": min(exp.intermediate.steps),
             "lr": exp.search.space.lr.low, "batch_size": exp.search.space.batch_size[0]}]


def _init_ray(address: str | None, exp: Experiment) -> None:
    import ray

    os.environ.update(RAY_ENV)
    env = dict(RAY_ENV)
    if exp.source != "hub" and exp.model == "offline":
        env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, runtime_env={"env_vars": env})
    logging.getLogger("ray.tune").setLevel(logging.WARNING)


def _new_tuner(exp: Experiment, name: str, plan: TrialPlan, trainable, exp_dir: Path, progress):
    import optuna
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    from xstilts.search.searcher import OptunaWithBaseline

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=exp.search.seed, constant_liar=True,
                                         n_startup_trials=max(2, exp.search.num_samples // 3))
    searcher = OptunaWithBaseline(sampler=sampler, points_to_evaluate=_baseline_point(exp),
                                  baseline_runs=exp.search.baseline_runs, seed_base=exp.seed)
    searcher = ConcurrencyLimiter(searcher, max_concurrent=exp.search.max_concurrent)
    scheduler = PersistentASHA(str(exp_dir / LEDGER_NAME), final_step_key="intermediate_steps",
                               time_attr="step",
                               max_t=max(exp.intermediate.steps), grace_period=exp.search.asha.grace_period,
                               reduction_factor=exp.search.asha.reduction_factor)
    return tune.Tuner(
        trainable, param_space=_param_space(exp),
        tune_config=tune.TuneConfig(metric=exp.search.metric, mode="max", search_alg=searcher,
                                    scheduler=scheduler, num_samples=exp.search.num_samples,
                                    reuse_actors=True),
        run_config=tune.RunConfig(
            name=name, storage_path=str(exp_dir.parent), verbose=0, callbacks=[progress],
            failure_config=tune.FailureConfig(max_failures=exp.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2)))


def _check_same_experiment(exp: Experiment, exp_dir: Path) -> None:
    meta = exp_dir / EXPERIMENT_JSON
    if meta.is_file() and json.loads(meta.read_text())["digest"] != exp.digest():
        raise ConfigError(f"{exp_dir}: the experiment's config changed since this sweep started "
                          f"(digest {json.loads(meta.read_text())['digest']} != {exp.digest()}); "
                          "use another experiment name or remove the directory")


def known_trials(exp_dir: Path) -> set[str]:
    """Trial ids in Ray's latest experiment snapshot (ledger trials outside it were orphaned by a kill)."""
    snapshots = sorted(exp_dir.glob("experiment_state-*.json"))
    if not snapshots:
        return set()
    state = json.loads(snapshots[-1].read_text())
    return {json.loads(trial)["trial_id"] for trial, _meta in state["trial_data"]}


def run_search(exp: Experiment, base: Path, name: str = "offline", *, address: str | None = None,
               resume: bool | None = None, progress=None) -> SearchResult:
    """Run (or resume) the sweep of `exp`; returns its results, also written to results.parquet.

    resume: None detects an existing experiment directory; True requires one; False refuses one.
    """
    from ray import tune

    from xstilts.search.progress import ProgressView
    from xstilts.search.trainable import run_trial

    exp_dir = experiment_dir(exp, base, name)
    can_restore = exp_dir.is_dir() and tune.Tuner.can_restore(str(exp_dir))
    if resume is True and not can_restore:
        raise ConfigError(f"{exp_dir}: no sweep to resume")
    if resume is False and exp_dir.exists():
        raise ConfigError(f"{exp_dir}: already exists; resume it or choose another name")
    _check_same_experiment(exp, exp_dir)
    plan = make_plan(exp, base)
    release_plan_check()  # the driver featurised every split to check it; the trials featurise their own
    _init_ray(address, exp)
    import ray
    try:
        trainable = tune.with_resources(tune.with_parameters(run_trial, plan=plan),
                                        {"cpu": exp.resources.cpu, "gpu": exp.resources.gpu})
        if can_restore:
            tuner = tune.Tuner.restore(str(exp_dir), trainable, resume_unfinished=True, resume_errored=True)
        else:
            exp_dir.mkdir(parents=True, exist_ok=True)
            (exp_dir / EXPERIMENT_JSON).write_text(json.dumps(
                {"name": name, "digest": exp.digest(), "base": str(base.resolve()), "config": exp.model_dump()},
                indent=1))
            tuner = _new_tuner(exp, name, plan, trainable, exp_dir, progress or ProgressView(exp.search.metric, str(exp_dir / LEDGER_NAME)))
        tuner.fit()
    finally:
        ray.shutdown()
    result = summarize(exp_dir, exp_dir / LEDGER_NAME, exp.search.metric, known_trials(exp_dir))
    table = results_table(result, name, plan.source.label, list(plan.low_resource))
    write_parquet(table, exp_dir / RESULTS_NAME)
    return result
