"""The Ray Tune trial: intermediate training with a transfer probe and a checkpoint at each milestone."""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import replace
from pathlib import Path

import torch
from ray import tune

from xstilts.models.checkpoint import load_resume, read_state
from xstilts.models.heads import load_for_task
from xstilts.models.predict import classification_collate
from xstilts.models.train import Snapshot, TrainConfig, train
from xstilts.models.transfer import TargetData, fork_and_evaluate
from xstilts.search.plan import TrialPlan, features_for, tokenizer_for
from xstilts.tasks.registry import build_registry


def target_data(plan: TrialPlan) -> TargetData:
    spec = build_registry()[plan.target_task]
    return TargetData(
        spec=spec,
        train=features_for(plan.encoder, plan.source, spec.name, "train", "en"),
        dev={lang: features_for(plan.encoder, plan.source, spec.name, "dev", lang) for lang in plan.languages},
        pad_id=tokenizer_for(plan.encoder).pad_token_id,
    )


def trial_seed(base: int, trial_id: str) -> int:
    """A seed per trial, stable across restores (trial ids survive them), so repeats add seed variance."""
    return base + zlib.crc32(trial_id.encode()) % 100_000


def run_trial(config: dict, plan: TrialPlan) -> None:
    """Train config['intermediate_task'] for config['intermediate_steps'] steps, reporting each milestone.

    `step` (ASHA's time attribute) is the intermediate step; the no-intermediate baseline reports once,
    at step 0. Results carry the scores of `fork_and_evaluate`.
    """
    torch.set_num_threads(plan.threads)  # 2 threads on 2 cores was 4-10x slower (STACK.md)
    registry = build_registry()
    task = registry[config["intermediate_task"]]
    target = target_data(plan)
    seed = trial_seed(plan.seed, tune.get_context().get_trial_id())
    recipe = replace(plan.target_recipe, seed=seed)

    def report(model: torch.nn.Module, step: int, snapshot: Snapshot | None) -> None:
        metrics = {"step": step, **fork_and_evaluate(model, target, recipe, list(plan.low_resource))}
        with tempfile.TemporaryDirectory() as tmp:
            if snapshot is None:
                tune.report(metrics)
            else:
                snapshot.save(Path(tmp), extra={"intermediate_task": task.name})
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    if task.kind == "none":
        target_spec = registry[plan.target_task]
        report(load_for_task(plan.encoder, target_spec, seed=seed), 0, None)
        return

    cfg = TrainConfig(max_steps=config["intermediate_steps"], lr=config["lr"],
                      batch_size=config["batch_size"], seed=seed, device=plan.device,
                      eval_every=plan.milestone_every)
    checkpoint = tune.get_checkpoint()
    resume = None
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            model = load_for_task(ckpt_dir, task)  # same kind and labels: the trained head is kept
            resume = load_resume(Path(ckpt_dir))
            if read_state(Path(ckpt_dir))["step"] >= cfg.max_steps:
                return
    else:
        model = load_for_task(plan.encoder, task, seed=seed)
    data = features_for(plan.encoder, plan.source, task.name, "train", "en")
    train(model, data, classification_collate(target.pad_id), cfg,
          on_eval=lambda snap: report(snap.model, snap.step, snap), resume=resume)
