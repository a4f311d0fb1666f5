"""`run_search`: one Ray Tune sweep (OptunaSearch TPE + ASHA) of an experiment, fresh or resumed."""

from __future__ import annotations

import os
import signal

import optuna
import ray
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from xstilts.core.storage import StorageError, check_reachable, location
from xstilts.search.cluster import check_fits, connect_checked, init_ray
from xstilts.search.config import ConfigError, Experiment, ExperimentContext
from xstilts.search.interrupt import Interrupted, stop_on_signals
from xstilts.search.journal import open_journal
from xstilts.search.lease import hold
from xstilts.search.plan import check_inputs, make_plan, provenance
from xstilts.search.rundir import RunDir
from xstilts.search.selection import prune, retention_of
from xstilts.search.splits import sweep_splits
from xstilts.search.sweep.live import ProgressView
from xstilts.search.sweep.results import SearchResult, results_table, summarize
from xstilts.search.sweep.scheduler import PersistentASHA
from xstilts.search.sweep.searcher import OptunaWithBaseline
from xstilts.search.sweep.simulate import NoTensorBoard, Simulation, simulated_trial
from xstilts.search.sweep.trackers import MlflowTracker, TensorBoardTracker, WandbTracker
from xstilts.search.sweep.trial import remove_stale_workdirs, run_trial
from xstilts.tasks.registry import BASELINE


def run_dir_of(ctx: ExperimentContext, name: str | None = None) -> RunDir:
    """The experiment directory of `name` (default: the experiment's): storage_path / name, where storage_path
    is a local path (relative to the experiments file) or an object-store URI (`s3://bucket/prefix?…`)."""
    storage = location(ctx.exp.storage_path, ctx.base)
    return RunDir(storage.join(name or ctx.name))


def _param_space(exp: Experiment) -> dict:

    space = exp.search.space
    if space.lrs is not None:
        lr = tune.choice(space.lrs)
    else:
        lr = (tune.loguniform if space.lr.log else tune.uniform)(space.lr.low, space.lr.high)
    return {
        "intermediate_task": tune.choice(exp.intermediate.tasks),
        "intermediate_steps": tune.choice(exp.intermediate.steps),
        "lr": lr,
        "batch_size": tune.choice(space.batch_size),
    }


def _first_points(exp: Experiment) -> list[dict]:
    """The points run before TPE proposes: the no-intermediate baseline, so every sweep can be compared with
    it, then (search.cover_tasks) each other intermediate task once, at the longest step count (ASHA stops
    it early if it is poor), the learning-rate range's geometric middle (`lrs`: once at each of them) and the
    batch sizes in turn.
    Optuna counts them towards TPE's start-up trials, so TPE exploits only once every choice was tried."""
    space, steps = exp.search.space, exp.intermediate.steps
    points = []
    if BASELINE in exp.intermediate.tasks:
        points.append(
            {
                "intermediate_task": BASELINE,
                "intermediate_steps": min(steps),
                "lr": space.lr_low,
                "batch_size": space.batch_size[0],
            }
        )
    if exp.search.cover_tasks:
        others = [(t, lr) for t in exp.intermediate.tasks if t != BASELINE for lr in space.lr_choices]
        points += [
            {
                "intermediate_task": task,
                "intermediate_steps": max(steps),
                "lr": lr,
                "batch_size": space.batch_size[i % len(space.batch_size)],
            }
            for i, (task, lr) in enumerate(others)
        ]
    return points[: exp.search.num_samples]


def _new_tuner(exp: Experiment, trainable, run_dir: RunDir, progress, trackers: bool = True):

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=exp.search.seed, constant_liar=True, n_startup_trials=max(2, exp.search.num_samples // 3)
    )
    optuna_search = OptunaWithBaseline(
        sampler=sampler,
        points_to_evaluate=_first_points(exp),
        baseline_runs=exp.search.baseline_runs,
        seed_base=exp.seed,
        run_dir=run_dir,
    )
    searcher = ConcurrencyLimiter(optuna_search, max_concurrent=exp.search.max_concurrent)
    scheduler = PersistentASHA(
        run_dir,
        final_step_key="intermediate_steps",
        time_attr="step",
        max_t=max(exp.intermediate.steps),
        grace_period=exp.search.asha.grace_period,
        reduction_factor=exp.search.asha.reduction_factor,
        retention=retention_of(exp),
    )
    storage_path, storage_filesystem = run_dir.ray_storage()
    return tune.Tuner(
        trainable,
        param_space=_param_space(exp),
        tune_config=tune.TuneConfig(
            metric=exp.search.metric,
            mode="max",
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=exp.search.num_samples,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=run_dir.name,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            verbose=0,
            callbacks=[progress, *(tracker_callbacks(exp, run_dir.name, run_dir) if trackers else [NoTensorBoard()])],
            failure_config=tune.FailureConfig(max_failures=exp.max_failures),
            # Ray keeps every checkpoint; PersistentASHA prunes them (search/selection.py)
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
        ),
    )


def tracker_callbacks(exp: Experiment, sweep: str, run_dir: RunDir | None = None) -> list:
    """The experiment's trackers as Ray Tune callbacks (search/sweep/trackers.py); TensorBoard always. With
    `run_dir`, a resumed sweep catches them up from its journal."""

    t = exp.trackers
    out: list = [TensorBoardTracker(run_dir)]
    if t.mlflow is not None:
        out.append(MlflowTracker(t.mlflow.tracking_uri, t.mlflow.experiment or sweep, sweep, run_dir))
    if t.wandb is not None:
        out.append(WandbTracker(t.wandb.project, t.wandb.mode, t.wandb.dir, t.wandb.entity, sweep, run_dir))
    return out


def tracker_environment(exp: Experiment, sweep: str) -> None:
    """Set what the trackers read from the environment (W&B's mode and directories) before Ray starts, so
    that the driver and every process Ray starts see the same settings."""
    for callback in tracker_callbacks(exp, sweep)[1:]:
        if hasattr(callback, "environment"):
            callback.environment()


def _check_same_experiment(exp: Experiment, run_dir: RunDir) -> None:
    recorded = run_dir.read_meta().get("digest") if run_dir.has_meta() else exp.digest()
    if recorded != exp.digest():
        raise ConfigError(
            f"{run_dir.uri}: the experiment's config changed since this sweep started "
            f"(digest {recorded} != {exp.digest()}); "
            "use another experiment name or remove the directory"
        )


def _check_writable(run_dir: RunDir, field: str) -> None:
    """Refuse a run directory this process could not create or write, before anything is written: a local
    directory must be writable; an object store must answer and its bucket exist."""
    if not run_dir.local:
        try:
            check_reachable(run_dir.loc)
        except StorageError as exc:
            raise ConfigError(f"{field}: {exc}") from exc
        return
    path = run_dir.path
    existing = next(p for p in [path, *path.parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{field}: {path} cannot be written ({existing} is not a writable directory)")


def checked_run_dir(ctx: ExperimentContext, name: str | None = None) -> RunDir:
    """The experiment's run directory (`name`: another in its storage_path), refused (ConfigError, one line) if
    it cannot be opened or written."""
    name = name or ctx.name
    try:
        run_dir = run_dir_of(ctx, name)
    except StorageError as exc:
        raise ConfigError(f"{name}.storage_path: {exc}") from exc
    _check_writable(run_dir, f"{name}.storage_path")
    return run_dir


def run_search(
    ctx: ExperimentContext,
    *,
    address: str | None = None,
    resume: bool | None = None,
    retry_errored: bool = False,
    progress=None,
    break_lease: bool = False,
    simulate: Simulation | None = None,
) -> SearchResult:
    """Run (or resume) the sweep of the experiment; returns its results, also written to results.parquet.

    resume: None detects an existing experiment directory; True requires one; False refuses one.
    retry_errored: a resumed sweep also reruns the trials that raised, from their last checkpoint (else
    they stay errored).
    The run directory's lease (`search/lease.py`) is held throughout: another driver on it is refused
    (LeaseHeld) before anything is written; `break_lease` takes over an object store's lease from a driver
    that cannot be seen to be dead.
    simulate: the real driver with trials that cost nothing, on a local Ray of fake GPUs
    (`search/sweep/simulate.py`), in the run directory NAME.simulated.
    """

    run_dir = checked_run_dir(ctx, f"{ctx.name}.simulated" if simulate else ctx.name)
    existed = run_dir.exists()
    with hold(run_dir, "sweep", break_lease=break_lease):
        return _sweep(
            ctx,
            run_dir,
            existed,
            address=address,
            resume=resume,
            retry_errored=retry_errored,
            progress=progress,
            simulate=simulate,
        )


def _trainable(ctx: ExperimentContext, run_dir: RunDir, address: str | None, simulate: Simulation | None):
    """Ray started (or joined) and the trials' function with its resources: the real trial on the experiment's
    plan, every data file checked and every split featurised before anything is written, or the simulated
    one. Returns (trainable, data source label, low-resource languages, plan or None when simulated)."""
    exp, name = ctx.exp, ctx.name
    resources = {"cpu": exp.resources.cpu, "gpu": exp.resources.gpu}
    if simulate is not None:
        if address is not None:
            raise ConfigError("--simulate runs on a local Ray of fake GPUs: leave out --address")
        init_ray(None, exp, **simulate.ray_resources)
        try:
            check_fits(exp.resources, f"{name}.resources")
        except BaseException:
            ray.shutdown()
            raise
        trainable = tune.with_resources(tune.with_parameters(simulated_trial, sim=simulate), resources)
        return trainable, simulate.label, simulate.low_resource, None
    tracker_environment(exp, run_dir.name)
    check_inputs(ctx)  # every data file, before Ray starts; the driver keeps no features
    plan = connect_checked(address, exp, exp.resources, f"{name}.resources", lambda: make_plan(ctx, checked=True))
    trainable = tune.with_resources(tune.with_parameters(run_trial, plan=plan), resources)
    return trainable, plan.source.label, list(plan.low_resource), plan


def _sweep(
    ctx: ExperimentContext,
    run_dir: RunDir,
    existed: bool,
    *,
    address: str | None,
    resume: bool | None,
    retry_errored: bool,
    progress,
    simulate: Simulation | None,
) -> SearchResult:
    exp, name = ctx.exp, ctx.name
    can_restore = run_dir.can_restore()
    if resume is True and not can_restore:
        raise ConfigError(f"{run_dir.uri}: no sweep to resume")
    if retry_errored and not can_restore:
        raise ConfigError(f"{run_dir.uri}: --retry-errored needs a sweep to resume")
    if resume is False and existed:
        raise ConfigError(f"{run_dir.uri}: already exists; resume it or choose another name")
    _check_same_experiment(exp, run_dir)
    journal = open_journal(run_dir)  # read once: the scheduler, the live view and the summary share it

    trainable, source, low_resource, plan = _trainable(ctx, run_dir, address, simulate)
    try:
        if can_restore:
            if retry_errored:  # journaled first, so the scheduler's replay lets them run again
                for end in journal.errors():
                    journal.append({"event": "retry", "trial_id": end["trial_id"]})
            path, storage = run_dir.restore_args()
            tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=retry_errored, **storage)
        else:
            run_dir.write_meta(name, exp.digest(), ctx.base, exp.model_dump())
            if simulate is not None:
                run_dir.write_provenance("sweep", {"simulated": simulate.label, "ray": simulate.ray_resources})
            elif plan is not None:
                run_dir.write_provenance("sweep", provenance(plan, sweep_splits(exp, plan.registry)))
            request = {"CPU": exp.resources.cpu, "GPU": exp.resources.gpu}
            view = progress or ProgressView(exp.search.metric, run_dir, request=request)
            tuner = _new_tuner(exp, trainable, run_dir, view, trackers=simulate is None)
        with stop_on_signals() as stop:
            tuner.fit()
    finally:
        ray.shutdown()
        remove_stale_workdirs()  # this node's replicated trials that Ray stopped at their last result
    result = summarize(journal, exp.search.metric, run_dir.known_trials() or None)
    prune(run_dir, result.milestones, retention_of(exp))  # milestones that lost their place as a winner
    run_dir.write_results(results_table(result, name, source, low_resource))
    if stop.signum is not None:
        raise Interrupted(
            stop.signum,
            f"stopped by {signal.Signals(stop.signum).name}: {len(result.milestones)} milestone(s) so far, results in "
            f"{run_dir.results_path}; the same command resumes",
        )
    return result
