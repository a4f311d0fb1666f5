"""The experiment's self-contained settings (pydantic models, strict: unknown keys are errors): the searched
space, ASHA, the search, per-trial resources, the offline encoder's shape and the trackers. The experiment
that holds them, its stages and the loading of experiments.yaml are `search/config.py`."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogRange(Strict):
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    log: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> LogRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        return self


class Space(Strict):
    """The searched hyperparameters besides the intermediate task and its step count."""

    lr: LogRange = LogRange(low=3e-4, high=3e-3)
    # learning rates to choose from instead of the `lr` range (each covered once with search.cover_tasks)
    lrs: list[float] | None = Field(default=None, min_length=1)
    batch_size: list[int] = Field(default=[16, 32], min_length=1)

    @field_validator("lrs")
    @classmethod
    def _positive_lrs(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and any(x <= 0 for x in v):
            raise ValueError(f"learning rates must be > 0, got {v}")
        return v

    @property
    def lr_choices(self) -> list[float]:
        """The learning rates the first points run: `lrs`, or the range's middle (geometric when log)."""
        if self.lrs is not None:
            return list(self.lrs)
        r = self.lr
        return [math.sqrt(r.low * r.high) if r.log else (r.low + r.high) / 2]

    @property
    def lr_low(self) -> float:
        return min(self.lrs) if self.lrs is not None else self.lr.low

    @field_validator("batch_size")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(b <= 0 for b in v):
            raise ValueError(f"batch sizes must be > 0, got {v}")
        return v


class Asha(Strict):
    grace_period: int = Field(default=100, gt=0)
    reduction_factor: float = Field(default=2, gt=1)


class Search(Strict):
    num_samples: int = Field(default=8, gt=0)
    metric: Literal["mean", "low_resource_mean", "worst"] = "mean"
    max_concurrent: int = Field(default=2, gt=0)
    baseline_runs: int = Field(default=1, ge=0)  # runs of the "none" baseline (seeds differ per trial)
    # each proposed configuration (the baseline's too) trained this many times with distinct intermediate seeds,
    # in one trial: ASHA decides on, and TPE is told, the replicates' mean; evaluation scores every replicate
    replicates: int = Field(default=1, ge=1)
    seed: int = 0
    # checkpoints kept per trial: its best this many by `metric`, its latest, and winners until their evaluation
    # is done; xstilts prunes the rest (search/selection.py)
    keep_checkpoints: int = Field(default=2, gt=0)
    # every intermediate task runs once (after the baseline) before TPE proposes: Optuna's enqueued points
    cover_tasks: bool = True
    space: Space = Space()
    asha: Asha = Asha()


class Resources(Strict):
    """Per-trial resources for tune.with_resources; fractional GPUs share a device."""

    cpu: float = Field(default=1, gt=0)
    gpu: float = Field(default=0, ge=0)
    # at most this many examples a forward pass (None: no cap); a larger batch is split into micro-batches
    # with the same effective size, so trials sharing a GPU fit in memory (models.train.cap_micro_batch)
    max_micro_batch: int | None = Field(default=None, gt=0)
    # the cluster adds nodes on demand (Ray's autoscaler): a request no current node can hold then waits for
    # one instead of being refused (Ray does not tell a client whether an autoscaler runs, so it is declared)
    autoscaling: bool = False

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, v: float) -> float:
        if v > 1 and v != int(v):
            raise ValueError("a GPU share above 1 must be a whole number of GPUs (Ray places it on one node)")
        return v


class Encoder(Strict):
    """The offline encoder (see models/pretrain.py); ignored when `model` names a real checkpoint."""

    vocab_size: int = Field(default=2000, gt=10)
    hidden_size: int = Field(default=64, gt=0)
    num_layers: int = Field(default=2, gt=0)
    num_heads: int = Field(default=2, gt=0)
    intermediate_size: int = Field(default=128, gt=0)
    mlm_steps: int = Field(default=1200, ge=0)


def _extra(tracker: str, module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ValueError(f"the {tracker} tracker needs its extra: pip install 'xstilts[{tracker}]'")


class TensorBoard(Strict):
    """TensorBoard event files in each trial's directory (always written; tensorboardX comes with Ray Tune)."""


class Mlflow(Strict):
    tracking_uri: str  # e.g. sqlite:////abs/path/mlflow.db, http://host:5000, databricks
    experiment: str | None = None  # default: the experiment's name

    @model_validator(mode="after")
    def _installed(self) -> Mlflow:
        _extra("mlflow", "mlflow")
        return self


class Wandb(Strict):
    project: str
    entity: str | None = None
    mode: Literal["online", "offline", "disabled"] = "online"
    dir: str | None = None  # where W&B writes runs (offline: until `wandb sync`), cache and config

    @model_validator(mode="after")
    def _installed(self) -> Wandb:
        _extra("wandb", "wandb")
        return self


class Trackers(Strict):
    """Where each trial's config and milestones are logged, at the intermediate step (search/sweep/trackers.py)."""

    tensorboard: TensorBoard = TensorBoard()
    mlflow: Mlflow | None = None
    wandb: Wandb | None = None
