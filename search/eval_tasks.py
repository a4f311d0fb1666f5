"""The work of `xstilts evaluate`'s Ray tasks: a winner's intermediate encoder, and one target task x seed."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import torch

from xstilts.models.checkpoint import read_state
from xstilts.models.evaluate import collate_for, evaluate_split
from xstilts.models.heads import auto_class, load_for_task, quiet_transformers, save_encoder
from xstilts.models.train import TrainConfig, train
from xstilts.search.plan import TrialPlan, features_for, tag_labels, tokenizer_for
from xstilts.search.trainable import _setup, trial_seed
from xstilts.tasks.languages import resource_tier
from xstilts.tasks.registry import build_registry

HEADLINE_KEY = {"accuracy": "accuracy", "seqeval": "f1", "pos": "f1", "bucc_f1": "f1", "tag_accuracy": "accuracy"}
QA_METRICS = ("squad", "mlqa")


def _trial_checkpoint(exp_dir: Path, trial_id: str, step: int) -> Path | None:
    """A kept Ray checkpoint of the trial at exactly `step`, if any."""
    for ckpt in sorted(exp_dir.glob(f"run_trial_{trial_id}_*/checkpoint_*")):
        if (ckpt / "state.json").is_file() and read_state(ckpt)["step"] == step:
            return ckpt
    return None


def materialize_encoder(plan: TrialPlan, exp_dir: str, winner: dict, out_dir: str) -> str:
    """The winner's intermediate encoder as a save_pretrained directory (the pretrained one for 'none')."""
    torch.set_num_threads(plan.threads)
    if winner["intermediate_task"] == "none":
        return plan.encoder
    out = Path(out_dir)
    if (out / "config.json").is_file():
        return str(out)
    task = build_registry()[winner["intermediate_task"]]
    ckpt = _trial_checkpoint(Path(exp_dir), winner["trial_id"], winner["step"])
    seed = trial_seed(plan.seed, winner["trial_id"], winner["config"])
    model, data, collate = _setup(task, plan, seed, str(ckpt) if ckpt else None)
    if ckpt is None:  # retrain to the winner's step: same config, seed and batches as the trial
        cfg = TrainConfig(max_steps=winner["config"]["intermediate_steps"], lr=winner["config"]["lr"],
                          batch_size=winner["config"]["batch_size"], seed=seed, device=plan.device)
        stop = winner["step"]

        class _Stop(Exception):
            pass

        def on_eval(snap) -> None:
            if snap.step >= stop:
                raise _Stop
        try:
            train(model, data, collate, replace(cfg, eval_every=stop), on_eval=on_eval)
        except _Stop:
            pass
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_encoder(model, tmp)
    tmp.rename(out)
    return str(out)


def evaluate_targets(plan: TrialPlan, encoder: str, task_names: list[str], seed: int,
                     langs: dict[str, list[str]], recipe: TrainConfig, winner: dict,
                     source_label: str) -> list[dict]:
    """Fine-tune on the English training set the tasks share (retrieval: no training), then score every
    task's languages on dev and test; one row a metric. Several tasks share one fine-tune only when they
    train on the same data with the same head (XQuAD and MLQA: SQuAD v1.1, as XTREME's train_qa.sh does)."""
    torch.set_num_threads(plan.threads)
    quiet_transformers()
    registry = build_registry()
    first = registry[task_names[0]]
    if len({registry[t].fine_tune_key for t in task_names}) > 1:
        raise ValueError(f"tasks {task_names} do not share a training set and head")
    pad = tokenizer_for(plan.encoder).pad_token_id
    labels = tag_labels(plan.encoder, plan.source, first.name)
    if first.kind == "retrieval":
        model = auto_class("retrieval").from_pretrained(encoder)
    else:
        model = load_for_task(encoder, first, seed=seed, labels=labels)
        data = features_for(plan.encoder, plan.source, first.name, "train", "en")
        train(model, data, collate_for(first, pad), replace(recipe, seed=seed))
    rows = []
    for task_name in task_names:
        rows += _score_task(plan, model, registry[task_name], langs[task_name], pad, labels, seed, winner,
                            source_label)
    return rows


def _score_task(plan: TrialPlan, model, spec, langs: list[str], pad: int, labels, seed: int, winner: dict,
                source_label: str) -> list[dict]:
    rows, scored = [], {}
    for split in ("dev", "test"):
        if split not in spec.sources:
            continue
        for lang in langs:
            same = (spec.sources[split], lang)  # XQuAD, TyDiQA-GoldP, Tatoeba: dev and test are one set
            if same in scored:
                scores = scored[same]
            else:
                feats, gold, dev = features_for(plan.encoder, plan.source, spec.name, split, lang), None, None
                if spec.adapter == "bucc":
                    (feats, gold) = feats
                    if split == "test":  # BUCC's threshold is chosen on dev
                        dev = features_for(plan.encoder, plan.source, spec.name, "dev", lang)
                scores = scored[same] = evaluate_split(model, spec, feats, gold, lang, pad, device=plan.device,
                                                       labels=labels, dev=dev, layer=plan.retrieval_layer)
                if spec.metric in QA_METRICS:
                    scores["avg_metric"] = (scores["exact_match"] + scores["f1"]) / 2  # XTREME's QA task score
            head = "avg_metric" if spec.metric in QA_METRICS else HEADLINE_KEY[spec.metric]
            for metric, score in scores.items():
                rows.append({"winner": winner["name"], "role": winner["role"],
                             "intermediate_task": winner["intermediate_task"], "step": winner["step"],
                             "trial_id": winner["trial_id"], "target_task": spec.name, "seed": seed, "lang": lang,
                             "resource_tier": resource_tier(lang), "low_resource": lang in plan.low_resource,
                             "split": split, "metric": metric, "score": float(score), "headline": metric == head,
                             "source": source_label})
    return rows
