"""Adapters: a loaded hub split (its own columns) -> the internal columns of its task kind.

classification: text_a, text_b?, label    multiple_choice: context, question, choices, label
span: id, context, question, answers       tagging: tokens, tags      retrieval: text_a (xx), text_b (en)
retrieval from pools (BUCC): side (src | tgt | gold), id, text (see loading.bucc_rows)
Most tasks only rename columns (`columns`); the others reshape, each in a few lines, in one place.
"""

from __future__ import annotations

from collections.abc import Callable

from xstilts.core.errors import InputError
from xstilts.tasks.registry import TaskSpec


class MissingColumns(InputError, KeyError):
    """A loaded split lacks columns that the task's spec maps."""

    def __init__(self, columns: list[str]):
        super().__init__(columns)
        self.columns = columns


def columns(ds, spec: TaskSpec):
    """Keep and rename the spec's columns (internal name -> hub column)."""
    missing = [col for col in spec.columns.values() if col not in ds.column_names]
    if missing:
        raise MissingColumns(missing)
    ds = ds.select_columns(list(spec.columns.values()))
    return ds.rename_columns({hub: ours for ours, hub in spec.columns.items() if hub != ours})


def commonsense_qa(ds, spec: TaskSpec):
    """choices {label, text} and answerKey 'A'..'E' -> choices [text] and label index."""
    return ds.map(
        lambda r: {
            "context": "",
            "question": r["question"],
            "choices": r["choices"]["text"],
            "label": "ABCDE".index(r["answerKey"]) if r["answerKey"] else -1,
        },
        remove_columns=ds.column_names,
    )


def cosmos_qa(ds, spec: TaskSpec):
    """answer0..answer3 -> choices; label is already an index."""
    return ds.map(
        lambda r: {
            "context": r["context"],
            "question": r["question"],
            "choices": [r[f"answer{i}"] for i in range(4)],
            "label": int(r["label"]),
        },
        remove_columns=ds.column_names,
    )


def hellaswag(ds, spec: TaskSpec):
    """ctx + endings; label is a string ('' on the unlabelled test split)."""
    return ds.map(
        lambda r: {
            "context": r["ctx"],
            "question": "",
            "choices": r["endings"],
            "label": int(r["label"]) if r["label"] != "" else -1,
        },
        remove_columns=ds.column_names,
    )


ADAPTERS: dict[str, Callable] = {
    "columns": columns,
    "commonsense_qa": commonsense_qa,
    "cosmos_qa": cosmos_qa,
    "hellaswag": hellaswag,
}
