"""Scoring a model on one split with the task's official metric, and the one number summaries use."""

from __future__ import annotations

from typing import Any

import torch

from xstilts.models import retrieval
from xstilts.models.predict import collate_for, predict_choices, predict_labels, predict_spans, predict_tags
from xstilts.tasks.metrics import accuracy, mlqa_em_f1, pos_scores, seqeval_f1, squad_em_f1
from xstilts.tasks.registry import TaskSpec, UnknownNameError, unknown_name_message

__all__ = ["evaluate_split", "headline", "collate_for", "NO_ANSWER_TASKS"]

NO_ANSWER_TASKS = ("squad_v2",)  # span tasks whose questions may have no answer in the context

# TaskSpec.metric -> the result key(s) its headline averages (xtreme evaluate.py: QA uses (EM + F1) / 2).
HEADLINE_KEYS: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy",), "tag_accuracy": ("accuracy",),
    "seqeval": ("f1",), "pos": ("f1",), "bucc_f1": ("f1",),
    "squad": ("exact_match", "f1"), "mlqa": ("exact_match", "f1"),
}


def headline(spec: TaskSpec, scores: dict[str, float]) -> float:
    """Return the single number used for mean/worst/low-resource summaries of `spec`'s scores."""
    if spec.metric not in HEADLINE_KEYS:
        raise UnknownNameError(unknown_name_message("metric", spec.metric, list(HEADLINE_KEYS)))
    keys = HEADLINE_KEYS[spec.metric]
    return sum(scores[k] for k in keys) / len(keys)


def _tag_labels(model: torch.nn.Module, spec: TaskSpec, labels: tuple[str, ...] | None) -> tuple[str, ...]:
    """The tag inventory: given, declared, or the trained head's id2label (CCG)."""
    if labels:
        return tuple(labels)
    if spec.labels:
        return spec.labels
    id2label = model.config.id2label
    return tuple(id2label[i] for i in range(len(id2label)))


def _score_tags(spec: TaskSpec, gold: list[list[str]], preds: list[list[str]]) -> dict[str, float]:
    if spec.metric == "seqeval":
        return seqeval_f1(gold, preds)
    if spec.metric == "pos":
        return pos_scores(gold, preds)
    if spec.metric == "tag_accuracy":
        return accuracy([t for s in gold for t in s], [t for s in preds for t in s])
    raise ValueError(f"task {spec.name}: metric {spec.metric!r} does not score tags")


def _retrieval(model: torch.nn.Module, spec: TaskSpec, features: dict[str, list], gold: Any, pad_id: int,
               device: str, dev: tuple[dict[str, list], Any] | None, layer: int) -> dict[str, float]:
    if spec.metric == "bucc_f1":
        candidates = retrieval.bucc_candidates(model, features, pad_id, layer, device=device)
        dev_candidates, dev_gold = None, None
        if dev is not None:
            dev_candidates = retrieval.bucc_candidates(model, dev[0], pad_id, layer, device=device)
            dev_gold = dev[1]
        return retrieval.score_bucc(candidates, gold, dev_candidates, dev_gold)
    preds = retrieval.tatoeba_predictions(model, features, pad_id, layer, device=device)
    return accuracy(list(range(len(preds))) if gold is None else list(gold), preds)


def evaluate_split(model: torch.nn.Module, spec: TaskSpec, features: dict[str, list], gold: Any, lang: str,
                   pad_id: int, device: str = "auto", *, labels: tuple[str, ...] | None = None,
                   dev: tuple[dict[str, list], Any] | None = None,
                   layer: int = retrieval.DEFAULT_LAYER) -> dict[str, float]:
    """Predict on eval features (featurize(..., training=False)) and score with spec.metric.

    `gold` in the metric's format, or None to take it from the features: labels (classification,
    multiple choice), gold (tagging: tag strings per word; span: answer texts per example), identity
    order (Tatoeba). BUCC needs gold pairs; its threshold is chosen on `dev` = (features, gold pairs)
    when given, else on this split itself (as XTREME reports BUCC dev F1). `labels` is the tag
    inventory when the spec declares none (else the model's id2label is used).
    """
    if gold is None and spec.kind != "retrieval":
        gold = features["labels"] if spec.kind in ("classification", "multiple_choice") else features["gold"]
    if spec.kind == "classification":
        return accuracy(list(gold), predict_labels(model, features["input_ids"], pad_id, device=device))
    if spec.kind == "multiple_choice":
        return accuracy(list(gold), predict_choices(model, features["input_ids"], pad_id, device=device))
    if spec.kind == "tagging":
        inventory = _tag_labels(model, spec, labels)
        preds = predict_tags(model, features["input_ids"], features["word_starts"], inventory, pad_id, device=device)
        return _score_tags(spec, list(gold), preds)
    if spec.kind == "span":
        preds = predict_spans(model, features, pad_id, allow_no_answer=spec.name in NO_ANSWER_TASKS,
                              device=device)
        return mlqa_em_f1(gold, preds, lang) if spec.metric == "mlqa" else squad_em_f1(gold, preds)
    if spec.kind == "retrieval":
        return _retrieval(model, spec, features, gold, pad_id, device, dev, layer)
    raise ValueError(f"task {spec.name!r}: kind {spec.kind!r} has no evaluation")
