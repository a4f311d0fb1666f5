"""Experiment trackers as Ray Tune callbacks, each logging per trial the sampled config (params) and every
milestone's summary and per-task-language probe scores at the *intermediate step* (Ray's own loggers use
its training iteration). TensorBoard is on by default; MLflow and W&B are optional extras.

They run in the driver and are pickled with the tuner (tuner.pkl) so that a restored sweep logs to the
same places: clients, writers and runs are made again after unpickling, and a trial that resumes after a
driver kill continues its own run (MLflow: the run tagged with its trial id; W&B: the run whose id is the
trial id) instead of opening a second one.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.logger import TBXLoggerCallback

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


class TensorBoardTracker(TBXLoggerCallback):
    """Ray's TensorBoardX logger (one event file per trial, in the trial's directory), with the milestones'
    scores under `xstilts/<metric>` at the intermediate step. Ray adds no logger of its own of this class."""

    def log_trial_result(self, iteration: int, trial: Trial, result: dict) -> None:
        if trial not in self._trial_writer:
            self.log_trial_start(trial)
        step = result.get("step")
        if step is None:
            return
        writer = self._trial_writer[trial]
        for key, value in milestone_metrics(result).items():
            writer.add_scalar(f"xstilts/{key}", value, global_step=int(step))
        self._trial_result[trial] = {f"xstilts/{k}": v for k, v in milestone_metrics(result).items()}
        writer.flush()


class MlflowTracker(Callback):
    """One MLflow run per trial in `experiment` (created if missing) on `tracking_uri`, tagged with the trial
    id; a resumed trial logs into the same run, and a milestone already logged is not logged twice."""

    def __init__(self, tracking_uri: str, experiment: str, sweep: str):
        self.tracking_uri, self.experiment, self.sweep = tracking_uri, experiment, sweep
        self._client: Any = None
        self._runs: dict[str, str] = {}  # trial id -> run id
        self._logged: dict[str, set[int]] = {}  # trial id -> steps already logged

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None, "_runs": {}, "_logged": {}}

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


class WandbTracker(Callback):
    """One W&B run per trial (id: the trial id, resumed if it exists) in `project`; `mode` offline writes
    the runs under `dir` (or W&B's default) for `wandb sync` later."""

    def __init__(self, project: str, mode: str, directory: str | None, entity: str | None, sweep: str):
        self.project, self.mode, self.directory, self.entity, self.sweep = project, mode, directory, entity, sweep
        self._runs: dict[str, Any] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_runs": {}}

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
