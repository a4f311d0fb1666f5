"""Zero-shot transfer probe: fork a short English target fine-tune from an encoder in memory and
score every target language's dev set with the task's official metric."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from xstilts.models.heads import transfer_encoder
from xstilts.models.predict import classification_collate, predict_labels
from xstilts.models.train import TrainConfig, train
from xstilts.tasks.metrics import METRICS, summarize_transfer
from xstilts.tasks.registry import TaskSpec


@dataclass
class TargetData:
    """Featurised English train set and per-language dev sets of one target task."""

    spec: TaskSpec
    train: dict[str, list]
    dev: dict[str, dict[str, list]]  # lang -> features
    pad_id: int


def fork_and_evaluate(source: torch.nn.Module, target: TargetData, recipe: TrainConfig,
                      low_resource: list[str]) -> dict[str, float | str]:
    """Fine-tune a copy of `source`'s encoder on English, then score every language.

    Returns per-language scores under `<task>_<metric>_<lang>` plus mean, low_resource_mean, worst
    and worst_lang over the non-English languages. `source` itself is left untouched.
    """
    model = transfer_encoder(source, target.spec, seed=recipe.seed)
    train(model, target.train, classification_collate(target.pad_id), replace(recipe, eval_every=0))
    metric = METRICS[target.spec.metric]
    scores: dict[str, float] = {}
    for lang, feats in target.dev.items():
        preds = predict_labels(model, feats["input_ids"], target.pad_id, device=recipe.device)
        scores[lang] = metric(feats["labels"], preds)[target.spec.metric]
    out: dict[str, float | str] = {f"{target.spec.name}_{target.spec.metric}_{lang}": s for lang, s in scores.items()}
    out.update(summarize_transfer(scores, low_resource))
    del model
    return out
