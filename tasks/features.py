"""Featurisation, once per task kind: Example columns -> token ids and labels (plain lists)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xstilts.tasks.loading import DataError
from xstilts.tasks.registry import TaskSpec

Features = dict[str, list]


def featurize_classification(rows: dict[str, list], tokenizer: Callable[..., Any], max_len: int,
                             num_labels: int, where: str) -> Features:
    """Tokenise sentence (pair) rows; returns input_ids [n][len], labels [n]."""
    texts = (rows["text_a"], rows["text_b"]) if "text_b" in rows else (rows["text_a"],)
    enc = tokenizer(*texts, truncation=True, max_length=max_len)
    labels = [int(y) for y in rows["label"]]
    bad = [y for y in labels if not 0 <= y < num_labels]
    if bad:
        raise DataError(f"{where}: label {bad[0]} outside 0..{num_labels - 1}")
    return {"input_ids": enc["input_ids"], "labels": labels}


FEATURIZERS = {"classification": featurize_classification}


def featurize(dataset, spec: TaskSpec, tokenizer: Callable[..., Any], where: str = "") -> Features:
    """Return the features of a loaded split (a `datasets.Dataset` with internal columns)."""
    rows = dataset.to_dict()
    return FEATURIZERS[spec.kind](rows, tokenizer, spec.max_len, spec.num_labels, where or spec.name)
