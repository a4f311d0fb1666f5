"""search.replicates in a trial, with Ray Tune's calls stood in for: the replicates are trained in turns to
each milestone, the trial reports their mean once per milestone with one checkpoint holding every replicate,
and a restored trial goes on from that checkpoint to the same numbers."""

import contextlib
import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from xstilts.models.transfer import TargetFineTune
from xstilts.search.sweep import trial as trial_module
from xstilts.tasks.registry import Recipe

pytestmark = pytest.mark.integration


class FakeTune:
    """tune.get_context / get_checkpoint / report / Checkpoint, recording each report and copying its
    checkpoint (Ray copies it to storage the same way)."""

    def __init__(self, root: Path, restore: Path | None = None):
        self.root, self.restore, self.reports = root, restore, []

    def get_context(self):
        return SimpleNamespace(get_trial_id=lambda: "t0")

    def get_checkpoint(self):
        if self.restore is None:
            return None
        where = self.restore
        return SimpleNamespace(as_directory=lambda: contextlib.nullcontext(str(where)))

    def report(self, metrics, checkpoint=None):
        kept = None
        if checkpoint is not None:
            kept = self.root / f"checkpoint_{len(self.reports)}"
            shutil.copytree(checkpoint.path, kept)
        self.reports.append((metrics, kept))

    class Checkpoint:
        def __init__(self, path):
            self.path = path

        @classmethod
        def from_directory(cls, path):
            return cls(path)


def small_plan(offline_plan):
    probe = {"xnli": TargetFineTune(Recipe(steps=2, lr=1e-3, batch_size=4, grad_accum=1, eval_every=0), device="cpu")}
    return dataclasses.replace(
        offline_plan,
        targets=(("xnli", ("en", "de", "sw")),),
        probe=probe,
        replicates=2,
        milestone_every=2,
        warmup_steps=1,
    )


CONFIG = {"intermediate_task": "sst2", "intermediate_steps": 4, "lr": 1e-3, "batch_size": 4, "seed": 5}


def replicated_trial(offline_plan, root: Path, monkeypatch):
    """Run a 2-replicate SST-2 trial of 4 steps (milestones at 2 and 4); returns its plan and FakeTune."""
    torch.set_num_threads(1)
    plan = small_plan(offline_plan)
    fake = FakeTune(root)
    monkeypatch.setattr(trial_module, "tune", fake)
    trial_module.run_trial(CONFIG, plan)
    return plan, fake


def test_replicates_report_their_mean_once_per_milestone_and_resume(offline_plan, tmp_path, monkeypatch):
    plan, fake = replicated_trial(offline_plan, tmp_path / "a", monkeypatch)
    config = CONFIG
    assert [m["step"] for m, _ in fake.reports] == [2, 4]
    first, ckpt = fake.reports[0]
    assert first["replicates"] == 2 and "replicate_sd/mean" in first
    assert first["budget_steps"] == 2 * (2 + 1)  # two replicates, each 2 steps and a 1-step cooldown
    for r in range(2):
        assert (ckpt / f"replicate-{r}" / "model.safetensors").is_file()
        assert (ckpt / f"replicate-{r}" / "resume" / "model.safetensors").is_file()
    # a trial restored from its first milestone's checkpoint reports the second as the uninterrupted one did
    again = FakeTune(tmp_path / "b", restore=ckpt)
    monkeypatch.setattr(trial_module, "tune", again)
    trial_module.run_trial(config, plan)
    assert [m["step"] for m, _ in again.reports] == [4]
    resumed, whole = again.reports[0][0], fake.reports[1][0]
    assert resumed["resumed_from_step"] == 2
    assert resumed["mean"] == pytest.approx(whole["mean"], abs=1e-6)


def test_the_baseline_s_replicates_are_probes_with_distinct_seeds(offline_plan, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    plan = small_plan(offline_plan)
    fake = FakeTune(tmp_path)
    monkeypatch.setattr(trial_module, "tune", fake)
    trial_module.run_trial({"intermediate_task": "none", "intermediate_steps": 2, "lr": 1e-3, "batch_size": 4}, plan)
    [(metrics, ckpt)] = fake.reports
    assert metrics["step"] == 0 and ckpt is None and metrics["budget_steps"] == 0
    assert "replicate_sd/mean" in metrics  # two probes, two seeds


def test_the_evaluation_retrains_a_replicate_to_the_model_the_trial_had(offline_plan, tmp_path, monkeypatch):
    """Without the checkpoint, a winner's replicate is retrained with that replicate's seed to the milestone
    (probes left out: they do not move the run's RNG), and is the cooled model the trial checkpointed."""
    from safetensors.torch import load_file

    from xstilts.search.evaluation.jobs import materialize_encoder, replicate_name
    from xstilts.search.rundir import RunDir
    from xstilts.search.selection import Winner

    plan, fake = replicated_trial(offline_plan, tmp_path / "trial", monkeypatch)
    config = CONFIG
    ckpt = fake.reports[0][1]
    winner = Winner("sst2@step2", "duration", "sst2", 2, "t0", config)
    run_dir = RunDir(tmp_path / "run")
    paths = [materialize_encoder(plan, run_dir, winner, r) for r in (0, 1)]
    assert run_dir.has_encoder(replicate_name("sst2@step2", 1)) and paths[0] != paths[1]
    for r, path in enumerate(paths):
        retrained = load_file(str(Path(path) / "model.safetensors"))
        trained = load_file(str(ckpt / f"replicate-{r}" / "model.safetensors"))
        shared = [k for k in retrained if f"roberta.{k}" in trained]
        assert len(shared) > 5
        assert all(torch.allclose(retrained[k], trained[f"roberta.{k}"], atol=1e-6) for k in shared)
