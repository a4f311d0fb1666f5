"""The Ray Tune trial: intermediate training with a transfer probe and a checkpoint at each milestone."""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import replace
from pathlib import Path

import torch
from ray import tune

from xstilts.models.checkpoint import load_resume, read_state
from xstilts.models.evaluate import collate_for
from xstilts.models.heads import auto_class, load_for_task, quiet_transformers
from xstilts.models.multitask import build_multitask, load_multitask, mixing_weights, multitask_collate
from xstilts.models.train import Snapshot, TrainConfig, release_memory, train
from xstilts.models.transfer import TargetData, fork_and_evaluate
from xstilts.search.plan import TrialPlan, features_for, tag_labels, tokenizer_for
from xstilts.tasks.registry import TaskSpec, build_registry


def target_data(plan: TrialPlan) -> list[TargetData]:
    """Every probe target's English train features and per-language dev features."""
    registry = build_registry()
    pad_id = tokenizer_for(plan.encoder).pad_token_id
    out = []
    for task, langs in plan.targets:
        spec = registry[task]
        dev, gold = {}, {}
        for lang in langs:
            feats = features_for(plan.encoder, plan.source, task, "dev", lang)
            dev[lang], gold[lang] = feats if spec.adapter == "bucc" else (feats, None)
        train_feats = features_for(plan.encoder, plan.source, task, "train", "en") if "train" in spec.sources \
            else None
        out.append(TargetData(spec, train_feats, dev, pad_id, gold, tag_labels(plan.encoder, plan.source, task),
                              plan.retrieval_layer))
    return out


def trial_seed(base: int, trial_id: str, config: dict) -> int:
    """The trial's seed: the searcher's (experiment seed + suggestion index, in the config), else one derived
    from the trial id; both stable across restores, so repeated configurations add seed variance."""
    if config.get("seed") is not None:
        return int(config["seed"])
    return base + zlib.crc32(trial_id.encode()) % 100_000


def _setup(task: TaskSpec, plan: TrialPlan, seed: int, ckpt_dir: str | None):
    """Return (model, data, collate) for one intermediate task or the multi-task mixture."""
    registry = build_registry()
    pad_id = tokenizer_for(plan.encoder).pad_token_id
    start = ckpt_dir or plan.encoder
    if task.kind == "multitask":
        specs = [registry[m] for m in task.members]
        data = {s.name: features_for(plan.encoder, plan.source, s.name, "train", "en") for s in specs}
        if ckpt_dir:
            model = load_multitask(ckpt_dir, specs, labels={s.name: tag_labels(plan.encoder, plan.source, s.name)
                                                            for s in specs})
        else:
            model = build_multitask(start, specs, seed=seed,
                                    labels={s.name: tag_labels(plan.encoder, plan.source, s.name) for s in specs})
        sizes = {name: len(next(iter(d.values()))) for name, d in data.items()}
        collate = multitask_collate({s.name: collate_for(s, pad_id) for s in specs}, data,
                                    mixing_weights(sizes, plan.multitask_cap))
        return model, {"index": list(range(max(sizes.values())))}, collate
    # a checkpoint of the same task keeps its trained head; the pretrained encoder gets a fresh one
    model = load_for_task(start, task, seed=seed, labels=tag_labels(plan.encoder, plan.source, task.name))
    return model, features_for(plan.encoder, plan.source, task.name, "train", "en"), collate_for(task, pad_id)


def run_trial(config: dict, plan: TrialPlan) -> None:
    """Train config['intermediate_task'] for config['intermediate_steps'] steps, reporting each milestone.

    `step` (ASHA's time attribute) is the intermediate step; the no-intermediate baseline reports once,
    at step 0. Results carry the scores of `fork_and_evaluate`.
    """
    torch.set_num_threads(plan.threads)  # 2 threads on 2 cores was 4-10x slower (STACK.md)
    task = build_registry()[config["intermediate_task"]]
    targets = target_data(plan)
    seed = trial_seed(plan.seed, tune.get_context().get_trial_id(), config)
    recipe = replace(plan.target_recipe, seed=seed)

    def report(model: torch.nn.Module, step: int, snapshot: Snapshot | None) -> None:
        metrics = {"step": step, **fork_and_evaluate(model, targets, recipe, list(plan.low_resource))}
        release_memory()  # the probes' copies are gone; Ray keeps this worker for the next trial
        with tempfile.TemporaryDirectory() as tmp:
            if snapshot is None:
                tune.report(metrics)
            else:
                snapshot.save(Path(tmp), extra={"intermediate_task": task.name})
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    if task.kind == "none":
        quiet_transformers()
        report(auto_class("retrieval").from_pretrained(plan.encoder), 0, None)
        return
    cfg = TrainConfig(max_steps=config["intermediate_steps"], lr=config["lr"], batch_size=config["batch_size"],
                      seed=seed, device=plan.device, eval_every=plan.milestone_every)
    checkpoint, resume = tune.get_checkpoint(), None
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            if read_state(Path(ckpt_dir))["step"] >= cfg.max_steps:
                return
            model, data, collate = _setup(task, plan, seed, ckpt_dir)
            resume = load_resume(Path(ckpt_dir))
    else:
        model, data, collate = _setup(task, plan, seed, None)
    train(model, data, collate, cfg, on_eval=lambda snap: report(snap.model, snap.step, snap), resume=resume)
    del model, data, collate
    release_memory()
