"""Experiment trackers as Ray Tune callbacks, each logging per trial the sampled config (params) and every
milestone's summary and per-task-language probe scores at the *intermediate step* (Ray's own loggers use
its training iteration). TensorBoard is on by default; MLflow and W&B are optional extras.

They run in the driver and are pickled with the tuner (tuner.pkl) so that a restored sweep logs to the
same places: clients, writers and runs are made again after unpickling, and a trial that resumes after a
driver kill continues its own run (MLflow: the run tagged with its trial id; W&B: the run whose id is the
trial id) instead of opening a second one.

The scheduler journals a milestone before Ray hands it to these callbacks (Ray 2.60's
`TuneController._process_trial_result` calls the scheduler, then the callbacks), so a driver killed between the
two leaves a milestone the trackers never saw; if its trial had ended, it is never reported again. A resumed
sweep therefore catches the trackers up from the journal first (`CatchUp`): every journaled milestone after the
step of the trial's last result in Ray's restored snapshot. MLflow skips a step it already holds; TensorBoard
and W&B may show a step twice when Ray's snapshot lagged behind what they had logged.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.logger import TBXLoggerCallback

from xstilts.search.journal import journal_of
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.ray_internals import tbx_set_last_result, tbx_writer
from xstilts.tasks.aggregate import PROBE_PREFIX, SUMMARY_KEYS


def milestone_metrics(result: dict) -> dict[str, float]:
    """A result's summary scores and per-task-language probe scores (numbers only, NaN dropped)."""
    keys = [k for k in result if k in SUMMARY_KEYS or k.startswith(PROBE_PREFIX)]
    out = {}
    for k in keys:
        v = result[k]
        if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
            out[k] = float(v)
    return out


def params_of(config: dict) -> dict[str, Any]:
    return {k: v for k, v in config.items() if isinstance(v, (str, int, float, bool))}


class CatchUp:
    """A tracker's catch-up on a resumed sweep: at the first loop step of a driver, each journaled milestone of
    a restored trial after the step of its last result in Ray's snapshot is logged, and a trial the journal
    says had ended is ended in the tracker too. Needs `run_dir` (None: a tracker pickled without one)."""

    run_dir: RunDir | None = None
    _caught_up = False  # per driver process: not pickled as True (see each tracker's __getstate__)

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if self._caught_up or self.run_dir is None:
            return
        self._caught_up = True
        journal = journal_of(self.run_dir)
        for trial in trials:
            seen = (trial.last_result or {}).get("step")
            missing = [m for m in journal.milestones({trial.trial_id}) if seen is None or m["step"] > seen]
            for m in missing:
                self.on_trial_result(iteration, trials, trial, {**m["metrics"], "step": m["step"]})  # type: ignore[attr-defined]
            if missing and trial.trial_id in journal.ends:
                end = self.on_trial_error if journal.end_of(trial.trial_id) == "error" else self.on_trial_complete  # type: ignore[attr-defined]
                end(iteration=iteration, trials=trials, trial=trial)


class TensorBoardTracker(CatchUp, TBXLoggerCallback):
    """Ray's TensorBoardX logger (one event file per trial, in the trial's directory), with the milestones'
    scores under `xstilts/<metric>` at the intermediate step. Ray adds no logger of its own of this class."""

    def __init__(self, run_dir: RunDir | None = None):
        super().__init__()
        self.run_dir = run_dir

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_caught_up": False}

    def log_trial_result(self, iteration: int, trial: Trial, result: dict) -> None:
        if tbx_writer(self, trial) is None:
            self.log_trial_start(trial)
        step = result.get("step")
        if step is None:
            return
        writer = tbx_writer(self, trial)
        assert writer is not None  # log_trial_start made it
        for key, value in milestone_metrics(result).items():
            writer.add_scalar(f"xstilts/{key}", value, global_step=int(step))
        tbx_set_last_result(self, trial, {f"xstilts/{k}": v for k, v in milestone_metrics(result).items()})
        writer.flush()


class MlflowTracker(CatchUp, Callback):
    """One MLflow run per trial in `experiment` (created if missing) on `tracking_uri`, tagged with the trial
    id; a resumed trial logs into the same run, and a milestone already logged is not logged twice."""

    def __init__(self, tracking_uri: str, experiment: str, sweep: str, run_dir: RunDir | None = None):
        self.tracking_uri, self.experiment, self.sweep, self.run_dir = tracking_uri, experiment, sweep, run_dir
        self._client: Any = None
        self._runs: dict[str, str] = {}  # trial id -> run id
        self._logged: dict[str, set[int]] = {}  # trial id -> steps already logged

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None, "_runs": {}, "_logged": {}, "_caught_up": False}

    def _mlflow(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
            if self._client.get_experiment_by_name(self.experiment) is None:
                self._client.create_experiment(self.experiment)
        return self._client

    def _run(self, trial: Trial) -> str:
        if trial.trial_id in self._runs:
            return self._runs[trial.trial_id]
        client = self._mlflow()
        exp_id = client.get_experiment_by_name(self.experiment).experiment_id
        found = client.search_runs(
            [exp_id], filter_string=f"tags.`xstilts.trial_id` = '{trial.trial_id}'", max_results=1
        )
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
            history = client.get_metric_history(run_id, "mean")
            self._logged[trial.trial_id] = {int(m.step) for m in history}
        else:
            tags = {"xstilts.trial_id": trial.trial_id, "xstilts.sweep": self.sweep, "trial_name": str(trial)}
            run_id = client.create_run(exp_id, tags=tags, run_name=f"{self.sweep}-{trial.trial_id}").info.run_id
            for key, value in params_of(trial.config).items():
                client.log_param(run_id, key, value)
            self._logged[trial.trial_id] = set()
        self._runs[trial.trial_id] = run_id
        return run_id

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._run(trial)

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info) -> None:
        step = result.get("step")
        run_id = self._run(trial)
        if step is None or int(step) in self._logged.get(trial.trial_id, set()):
            return
        from mlflow.entities import Metric

        now = int(result.get("timestamp", 0) * 1000)
        metrics = [Metric(k, v, now, int(step)) for k, v in milestone_metrics(result).items()]
        self._mlflow().log_batch(run_id, metrics=metrics)
        self._logged[trial.trial_id].add(int(step))

    def _end(self, trial: Trial, status: str) -> None:
        if trial.trial_id in self._runs:
            self._mlflow().set_terminated(self._runs.pop(trial.trial_id), status=status)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._end(trial, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._end(trial, "FAILED")


class WandbTracker(CatchUp, Callback):
    """One W&B run per trial (id: the trial id, resumed if it exists) in `project`; `mode` offline writes
    the runs under `dir` (or W&B's default) for `wandb sync` later."""

    def __init__(
        self,
        project: str,
        mode: str,
        directory: str | None,
        entity: str | None,
        sweep: str,
        run_dir: RunDir | None = None,
    ):
        self.project, self.mode, self.directory, self.entity, self.sweep = project, mode, directory, entity, sweep
        self.run_dir = run_dir
        self._runs: dict[str, Any] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_runs": {}, "_caught_up": False}

    def environment(self) -> None:
        """W&B reads its mode and directories from the environment, before any run starts."""
        os.environ["WANDB_MODE"] = self.mode
        os.environ.setdefault("WANDB_SILENT", "true")
        if self.directory:
            for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
                os.environ.setdefault(var, self.directory)

    def setup(self, **info: Any) -> None:  # type: ignore[override]
        self.environment()

    def _run(self, trial: Trial) -> Any:
        if trial.trial_id not in self._runs:
            import wandb

            if self.directory:
                os.makedirs(self.directory, exist_ok=True)
            self._runs[trial.trial_id] = wandb.init(
                project=self.project,
                entity=self.entity,
                id=trial.trial_id,
                name=f"{self.sweep}-{trial.trial_id}",
                group=self.sweep,
                config=params_of(trial.config),
                dir=self.directory,
                resume="allow",
                reinit="create_new",
                settings=wandb.Settings(silent=True, console="off"),
            )
        return self._runs[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._run(trial)

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info) -> None:
        if result.get("step") is not None:
            self._run(trial).log(milestone_metrics(result), step=int(result["step"]))

    def _end(self, trial: Trial, code: int) -> None:
        run = self._runs.pop(trial.trial_id, None)
        if run is not None:
            run.finish(exit_code=code)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._end(trial, 0)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._end(trial, 1)

    def on_experiment_end(self, trials: list[Trial], **info) -> None:
        for trial_id in list(self._runs):
            self._runs.pop(trial_id).finish()
