"""Scoring a model on one split: predictions per task kind, then the task's official metric."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xstilts.models import retrieval
from xstilts.models.predict import collate_for, predict_choices, predict_labels, predict_spans, predict_tags
from xstilts.models.train import Data, Model
from xstilts.tasks.metrics import CHANCE, chance_level, get_metric
from xstilts.tasks.registry import TaskSpec

__all__ = ["evaluate_split", "collate_for"]


def _tag_labels(model: Model, spec: TaskSpec, labels: tuple[str, ...] | None) -> tuple[str, ...]:
    """The tag inventory: given, declared, or the trained head's id2label (CCG)."""
    if labels:
        return tuple(labels)
    if spec.labels:
        return spec.labels
    id2label = model.config.id2label
    return tuple(id2label[i] for i in range(len(id2label)))


def _retrieval(model: Model, features: Data, pad_id: int, device: str, layer: int) -> list:
    """Mined (xx id, en id, score) candidates of BUCC's pools, else each source's nearest target index."""
    if "src_ids" in features:
        return retrieval.bucc_candidates(model, features, pad_id, layer, device=device)
    return retrieval.tatoeba_predictions(model, features, pad_id, layer, device=device)


def _gold(spec: TaskSpec, features: Data, gold: Any, preds: list) -> Any:
    """Gold labels in the metric's format: given, or from the features (Tatoeba: the identity order)."""
    if gold is not None:
        return gold
    if spec.kind in ("classification", "multiple_choice"):
        return list(features["labels"])
    if spec.kind == "retrieval" and "gold" not in features:
        return list(range(len(preds)))
    return list(features["gold"])


# kind -> (model, spec, eval features, pad id, device, tag inventory, retrieval layer) -> predictions in the
# format the task's metric reads (the predictors are looked up when called, so tests can replace them).
Predictor = Callable[[Model, TaskSpec, Data, int, str, "tuple[str, ...] | None", int], list]
PREDICTORS: dict[str, Predictor] = {
    "classification": lambda m, spec, f, pad, device, labels, layer: predict_labels(
        m, f["input_ids"], pad, device=device
    ),
    "multiple_choice": lambda m, spec, f, pad, device, labels, layer: predict_choices(
        m, f["input_ids"], pad, device=device
    ),
    "tagging": lambda m, spec, f, pad, device, labels, layer: predict_tags(
        m, f["input_ids"], f["word_starts"], _tag_labels(m, spec, labels), pad, device=device
    ),
    "span": lambda m, spec, f, pad, device, labels, layer: predict_spans(
        m, f, pad, allow_no_answer=spec.no_answer, device=device
    ),
    "retrieval": lambda m, spec, f, pad, device, labels, layer: _retrieval(m, f, pad, device, layer),
}


def predict(
    model: Model,
    spec: TaskSpec,
    features: Data,
    pad_id: int,
    device: str = "auto",
    *,
    labels: tuple[str, ...] | None = None,
    layer: int = retrieval.DEFAULT_LAYER,
) -> list:
    """Predictions on eval features, in the format the task's metric reads."""
    if spec.kind not in PREDICTORS:
        raise ValueError(f"task {spec.name!r}: kind {spec.kind!r} has no evaluation")
    return PREDICTORS[spec.kind](model, spec, features, pad_id, device, labels, layer)


def evaluate_split(
    model: Model,
    spec: TaskSpec,
    features: Data,
    gold: Any,
    lang: str,
    pad_id: int,
    device: str = "auto",
    *,
    labels: tuple[str, ...] | None = None,
    dev: tuple[Data, Any] | None = None,
    layer: int = retrieval.DEFAULT_LAYER,
    with_chance: bool = False,
) -> dict[str, float]:
    """Predict on eval features (featurize(..., training=False)) and score with the task's metric; with
    `with_chance`, the split's chance score too (`chance_level`, under the key CHANCE) where the metric has one.

    `gold` in the metric's format, or None to take it from the features: labels (classification,
    multiple choice), gold (tagging: tag strings per word; span: answer texts per example; BUCC: id
    pairs), identity order (Tatoeba). A metric tuned on dev (BUCC's threshold) uses `dev` = (features,
    gold or None) when given, else this split itself (as XTREME reports BUCC dev F1). `labels` is the
    tag inventory when the spec declares none (else the model's id2label is used).
    """
    metric = get_metric(spec.metric)
    preds = predict(model, spec, features, pad_id, device, labels=labels, layer=layer)
    tuned = None
    if metric.tuned_on_dev and dev is not None:
        dev_preds = predict(model, spec, dev[0], pad_id, device, labels=labels, layer=layer)
        tuned = (_gold(spec, dev[0], dev[1], dev_preds), dev_preds)
    gold = _gold(spec, features, gold, preds)
    scores = metric.score(gold, preds, lang=lang, dev=tuned)
    chance = chance_level(spec, gold) if with_chance else None
    return scores if chance is None else {**scores, CHANCE: chance}
