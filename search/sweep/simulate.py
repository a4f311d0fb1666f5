"""A simulated cluster: the real sweep driver with trials that cost nothing.

`xstilts sweep EXPERIMENTS --name N --simulate CURVES` runs the experiment's sweep as `sweep` does -- Ray Tune's
Tuner, PersistentASHA, Optuna's TPE, the journal, checkpoint retention, the live view and results.parquet --
with two things replaced: Ray runs locally and declares `--gpus` fake GPUs (and `CPUS_PER_GPU` CPUs each), so
the experiment's fractional `resources` are scheduled as on a cluster; and each trial, instead of training,
reports its milestones at once, each with a small checkpoint (so resuming, pruning and retention do their real
work). Trackers are off. Scores come from CURVES:

* `synthetic`: a seeded learning-curve model per (target task, language): a base score, a gain from the
  intermediate task that saturates with its steps, a drift with duration that is larger for low-resource
  languages, a penalty away from lr 1e-5, and noise. Deterministic in (configuration, seed, step), so a resumed
  sweep reports what an uninterrupted one would.
* a finished run directory: the journaled milestone of the same intermediate task nearest in step and lr,
  its scores moved by the same seeded noise.

No data is loaded and no model is built: it measures what the driver costs at scale, not what trials find.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ray import tune
from ray.tune.logger import TBXLoggerCallback

from xstilts.search.config import ConfigError, ExperimentContext
from xstilts.search.journal import Journal
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.trial import trial_seed
from xstilts.tasks.aggregate import probe_key, split_probe_key, summarize_probe
from xstilts.tasks.languages import low_resource_langs
from xstilts.tasks.registry import BASELINE

SYNTHETIC = "synthetic"
CPUS_PER_GPU = 8  # what each fake GPU's node share declares (a GPU node of 8 GPUs has about 64 cores)
STATE = "state.json"  # a simulated checkpoint: the step it was taken at, where a real one records it


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts` (stable across processes, unlike hash())."""
    return zlib.crc32(repr(parts).encode()) / 2**32


@dataclass(frozen=True)
class Simulation:
    """What a simulated trial needs (pickled to every trial): the curves, the probed targets and languages."""

    curves: str  # `synthetic` or a finished run directory's URI
    seed: int
    milestone_every: int
    max_steps: int
    targets: dict[str, list[str]]  # target task -> languages
    low_resource: list[str]
    recorded: dict[str, list[dict]] = field(default_factory=dict)  # intermediate task -> milestones (a run's)
    gpus: int = 64  # the fake GPUs the local Ray declares

    @property
    def ray_resources(self) -> dict[str, int]:
        """What the local Ray declares: `gpus` GPUs and CPUS_PER_GPU CPUs for each."""
        return {"num_gpus": self.gpus, "num_cpus": self.gpus * CPUS_PER_GPU}

    @property
    def label(self) -> str:
        return "simulated (synthetic learning curves)" if self.curves == SYNTHETIC else f"simulated ({self.curves})"

    def scores(self, config: dict, seed: int, step: int) -> dict[str, float | str]:
        task, lr = config["intermediate_task"], float(config["lr"])
        rng = random.Random(zlib.crc32(repr((sorted(config.items()), seed, step)).encode()))
        by_task: dict[str, dict[str, float]] = {}
        if self.recorded:
            base = self._nearest(task, step, lr)
            for key, value in base.items():
                if (parts := split_probe_key(key)) is not None:
                    by_task.setdefault(parts[0], {})[parts[1]] = value + rng.gauss(0.0, 1.0)
        else:
            gain = 8.0 * _unit(self.seed, task) - 2.0 if task != BASELINE else 0.0
            drift = 4.0 * _unit(self.seed, task, "drift")
            saturation = 1.0 - math.exp(-step / max(1.0, self.max_steps / 4))
            lr_penalty = 2.0 * math.log(lr / 1e-5) ** 2
            for target, langs in self.targets.items():
                for lang in langs:
                    low = lang in self.low_resource
                    base_score = 45.0 + 35.0 * _unit(self.seed, target, lang) - (12.0 if low else 0.0)
                    duration = drift * (step / self.max_steps) * (2.0 if low else 1.0)
                    value = base_score + gain * saturation - duration - lr_penalty + rng.gauss(0.0, 1.0)
                    by_task.setdefault(target, {})[lang] = max(0.0, min(100.0, value))
        out: dict[str, float | str] = {
            probe_key(t, lang): s for t, langs in by_task.items() for lang, s in langs.items()
        }
        out.update(summarize_probe(by_task, self.low_resource))
        return out

    def _nearest(self, task: str, step: int, lr: float) -> dict[str, float]:
        pool = self.recorded.get(task) or [m for ms in self.recorded.values() for m in ms]
        best = min(pool, key=lambda m: (abs(m["step"] - step), abs(math.log(m["lr"] / lr))))
        return best["metrics"]


def simulation_of(ctx: ExperimentContext, curves: str, gpus: int = 64) -> Simulation:
    """The simulation of the experiment's sweep; CURVES `synthetic` or a finished run directory (ConfigError if
    it has no milestones)."""
    exp, base = ctx.exp, ctx.base
    targets = {t: list(exp.target.languages) for t in exp.target.tasks}
    low = list(low_resource_langs(exp.target.languages, exp.target.low_resource_max_class))
    recorded: dict[str, list[dict]] = {}
    if curves != SYNTHETIC:
        run_dir = RunDir(curves if "://" in curves else (base / curves).resolve())
        if not run_dir.has_ledger():
            raise ConfigError(f"--simulate {curves}: not `synthetic` and not a run directory with milestones")
        for m in Journal(run_dir).milestones():
            row = {"step": m["step"], "lr": float(m["config"]["lr"]), "metrics": m["metrics"]}
            recorded.setdefault(m["config"]["intermediate_task"], []).append(row)
        if not recorded:
            raise ConfigError(f"--simulate {curves}: the run has no milestones yet")
    return Simulation(
        curves if curves == SYNTHETIC else str(curves),
        exp.search.seed,
        exp.intermediate.milestone_every,
        max(exp.intermediate.steps),
        targets,
        low,
        recorded,
        gpus,
    )


class NoTensorBoard(TBXLoggerCallback):
    """Trackers are off in a simulated sweep: Ray adds its own TensorBoard logger unless one is present, so
    this one, which logs nothing, is (Ray's CSV and JSON loggers stay: Tune's ResultGrid reads them)."""

    def log_trial_start(self, trial) -> None:
        pass

    def log_trial_result(self, iteration, trial, result) -> None:
        pass

    def log_trial_end(self, trial, failed: bool = False) -> None:
        pass


def wait_at_gate() -> None:
    """Test-only (XSTILTS_TEST_SIMULATE_GATE=<dir>; unset in real use, where this returns at once): a simulated
    milestone is reported only after taking one of the tokens a test grants, so a test holds the driver at a
    known point without a clock. `<dir>/allow` holds the number of tokens granted so far; a milestone takes the
    first free one by creating `<dir>/taken-<i>` exclusively (trials run in separate processes), and polls
    while none is free."""
    gate = os.environ.get("XSTILTS_TEST_SIMULATE_GATE")
    if not gate:
        return
    while True:
        try:
            allowed = int((Path(gate) / "allow").read_text() or 0)
        except (FileNotFoundError, ValueError):  # not granted yet, or being rewritten
            allowed = 0
        for i in range(allowed):
            try:
                os.close(os.open(Path(gate) / f"taken-{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return
            except FileExistsError:
                continue
        time.sleep(0.05)


def simulated_trial(config: dict, sim: Simulation) -> None:
    """A trial that reports each milestone at once, with a checkpoint of its step (resumed from it)."""
    seed = trial_seed(sim.seed, tune.get_context().get_trial_id(), config)
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt:
            start = int(json.loads((Path(ckpt) / STATE).read_text())["step"])
    if config["intermediate_task"] == BASELINE:  # the baseline reports once, at step 0, as a real trial
        wait_at_gate()
        tune.report({"step": 0, **sim.scores(config, seed, 0), "startup_s": 0.0, "resumed_from_step": 0})
        return
    every, last = sim.milestone_every, int(config["intermediate_steps"])
    for step in range(start + every, last + 1, every):
        metrics = {"step": step, **sim.scores(config, seed, step), "startup_s": 0.0, "resumed_from_step": start}
        wait_at_gate()
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / STATE).write_text(json.dumps({"step": step}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
