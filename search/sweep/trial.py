"""The Ray Tune trial (a thin adapter): the recipe's intermediate training, with the transfer probe and a
checkpoint reported to Tune at each milestone."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import zlib
from pathlib import Path

import torch
from ray import tune

from xstilts.models.checkpoint import load_resume, read_state, resume_weights
from xstilts.models.heads import from_pretrained, quiet_transformers
from xstilts.models.setup import probe_targets
from xstilts.models.train import (
    Model,
    Snapshot,
    TrainConfig,
    cap_micro_batch,
    release_memory,
    spent_steps,
    train,
)
from xstilts.models.transfer import fork_and_evaluate
from xstilts.search.plan import TrialPlan


def trial_seed(base: int, trial_id: str, config: dict) -> int:
    """The trial's seed: the searcher's (experiment seed + suggestion index, in the config), else one derived
    from the trial id; both stable across restores, so repeated configurations add seed variance."""
    if config.get("seed") is not None:
        return int(config["seed"])
    return base + zlib.crc32(trial_id.encode()) % 100_000


class InjectedFault(RuntimeError):
    """The test-only fault of XSTILTS_TEST_FAULT (see search/cluster.py TEST_SETTINGS)."""


def injected_fault(task: str, step: int) -> None:
    """Raise the test-only fault when XSTILTS_TEST_FAULT names this task and milestone step."""
    spec = os.environ.get("XSTILTS_TEST_FAULT")
    if not spec or spec != f"{task}@{step}":
        return
    once = os.environ.get("XSTILTS_TEST_FAULT_ONCE")
    if once:
        if Path(once).exists():
            return
        Path(once).touch()
    raise InjectedFault(f"injected test fault at {task} step {step} (XSTILTS_TEST_FAULT)")


def intermediate_config(plan: TrialPlan, config: dict, seed: int) -> TrainConfig:
    """The training recipe of a trial's sampled config (micro-batches capped by resources.max_micro_batch)."""
    cfg = TrainConfig(
        max_steps=config["intermediate_steps"],
        lr=config["lr"],
        batch_size=config["batch_size"],
        seed=seed,
        device=plan.device,
        precision=plan.precision,
        eval_every=plan.milestone_every,
        group_by_length=plan.group_by_length,
        compile=plan.compile,
        schedule=plan.schedule,
        warmup_steps=plan.warmup_steps,
        cooldown_fraction=plan.cooldown_fraction,
        cooldown_shape=plan.cooldown_shape,
    )
    return cap_micro_batch(cfg, plan.max_micro_batch)


def run_trial(config: dict, plan: TrialPlan) -> None:
    """Train config['intermediate_task'] for config['intermediate_steps'] steps, reporting each milestone.

    `step` (ASHA's time attribute) is the intermediate step; the no-intermediate baseline reports once,
    at step 0. Results carry the scores of `fork_and_evaluate` on the milestone's model (under the wsd schedule
    its cooled-down fork), its `cooldown_steps` and `budget_steps` (every optimizer step the trial has spent,
    the cooldowns' included).
    """
    started = time.perf_counter()
    torch.set_num_threads(plan.threads)  # on 2 cores, 2 threads per trial was 4-10x slower than 1
    task = plan.registry[config["intermediate_task"]]
    targets = probe_targets(
        plan.encoder, plan.source, [(plan.registry[t], langs) for t, langs in plan.targets], plan.retrieval_layer
    )
    seed = trial_seed(plan.seed, tune.get_context().get_trial_id(), config)
    startup: dict[str, float] = {"resumed_from_step": 0}

    def report(model: Model, step: int, snapshot: Snapshot | None) -> None:
        injected_fault(task.name, step)
        probed = fork_and_evaluate(model, targets, plan.probe, seed, list(plan.low_resource), plan.device)
        spent = {"cooldown_steps": 0, "budget_steps": 0}
        if snapshot is not None:
            spent = {"cooldown_steps": snapshot.cooldown_steps, "budget_steps": spent_steps(cfg, step)}
        metrics = {"step": step, **probed, **spent, **startup}
        release_memory()  # the probes' copies are gone; Ray keeps this worker for the next trial
        with tempfile.TemporaryDirectory() as tmp:
            if snapshot is None:
                tune.report(metrics)
            else:
                snapshot.save(Path(tmp), extra={"intermediate_task": task.name})
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    if task.kind == "none":
        quiet_transformers()
        startup["startup_s"] = time.perf_counter() - started
        report(from_pretrained("retrieval", plan.encoder), 0, None)
        return
    cfg = intermediate_config(plan, config, seed)
    checkpoint, resume = tune.get_checkpoint(), None
    with checkpoint.as_directory() if checkpoint is not None else contextlib.nullcontext() as ckpt_dir:
        if ckpt_dir is not None:
            if read_state(Path(ckpt_dir))["step"] >= cfg.max_steps:
                return
            resume = load_resume(Path(ckpt_dir))
            startup["resumed_from_step"] = resume.step  # 0 when the trial started fresh
        setup = plan.setup_training(task, seed, checkpoint=resume_weights(ckpt_dir) if ckpt_dir else None)
    startup["startup_s"] = time.perf_counter() - started  # data mapped, model loaded: reported with each result
    train(
        setup.model,
        setup.data,
        setup.collate,
        cfg,
        on_eval=lambda snap: report(snap.model, snap.step, snap),
        resume=resume,
    )
    del setup
    release_memory()
