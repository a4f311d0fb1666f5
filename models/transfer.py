"""Zero-shot transfer probe: from an encoder in memory, fine-tune a copy briefly on each target's English
data (retrieval targets use the encoder as it is) and score every probe language's dev set with the
task's official metric."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from xstilts.models.evaluate import collate_for, evaluate_split
from xstilts.models.heads import transfer_encoder
from xstilts.models.train import Data, Model, TrainConfig, train
from xstilts.tasks.aggregate import summarize_probe
from xstilts.tasks.metrics import headline
from xstilts.tasks.registry import TaskSpec


@dataclass
class TargetData:
    """Featurised English train set (None for retrieval) and per-language dev sets of one target task."""

    spec: TaskSpec
    train: Data | None
    dev: Mapping[str, Data]  # lang -> eval features (gold included)
    pad_id: int
    labels: tuple[str, ...] | None = None  # tag inventory when the spec declares none
    layer: int = 14  # retrieval: hidden layer mean-pooled (XTREME: 14 of XLM-R Large's 24; clamped)


def probe_target(source: Model, target: TargetData, recipe: TrainConfig) -> dict[str, float]:
    """Return lang -> headline score of one target (accuracy, F1, or (EM + F1) / 2 for QA)."""
    spec = target.spec
    model = source
    if target.train is not None:
        model = transfer_encoder(source, spec, seed=recipe.seed, labels=target.labels)
        train(model, target.train, collate_for(spec, target.pad_id), replace(recipe, eval_every=0))
    scores = {}
    for lang, feats in target.dev.items():
        result = evaluate_split(
            model,
            spec,
            feats,
            None,
            lang,
            target.pad_id,
            device=recipe.device,
            labels=target.labels,
            layer=target.layer,
        )
        scores[lang] = headline(spec, result)
    return scores


def fork_and_evaluate(
    source: Model, targets: list[TargetData], recipe: TrainConfig, low_resource: list[str]
) -> dict[str, float | str]:
    """Probe every target from `source` (left untouched).

    Returns `probe/<task>/<lang>` scores plus mean, low_resource_mean, worst and worst_lang over the
    non-English languages (tasks weighted equally, as XTREME averages tasks).
    """
    was_training = source.training
    scores = {t.spec.name: probe_target(source, t, recipe) for t in targets}
    source.train(was_training)
    out: dict[str, float | str] = {
        f"probe/{task}/{lang}": s for task, langs in scores.items() for lang, s in langs.items()
    }
    out.update(summarize_probe(scores, low_resource))
    return out
