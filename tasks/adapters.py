"""Adapters: a loaded hub split (its own columns) -> the internal columns of its task kind.

classification: text_a, text_b?, label    multiple_choice: context, question, choices, label
span: id, context, question, answers       tagging: tokens, tags      retrieval: text_a (xx), text_b (en)
Most tasks only rename columns (`columns`); the others reshape, each in a few lines, in one place.
"""

from __future__ import annotations

from collections.abc import Callable

from xstilts.tasks.registry import TaskSpec


def columns(ds, spec: TaskSpec):
    """Keep and rename the spec's columns (internal name -> hub column)."""
    ds = ds.select_columns(list(spec.columns.values()))
    return ds.rename_columns({hub: ours for ours, hub in spec.columns.items() if hub != ours})


def commonsense_qa(ds, spec: TaskSpec):
    """choices {label, text} and answerKey 'A'..'E' -> choices [text] and label index."""
    return ds.map(lambda r: {"context": "", "question": r["question"], "choices": r["choices"]["text"],
                             "label": "ABCDE".index(r["answerKey"]) if r["answerKey"] else -1},
                  remove_columns=ds.column_names)


def cosmos_qa(ds, spec: TaskSpec):
    """answer0..answer3 -> choices; label is already an index."""
    return ds.map(lambda r: {"context": r["context"], "question": r["question"],
                             "choices": [r[f"answer{i}"] for i in range(4)], "label": int(r["label"])},
                  remove_columns=ds.column_names)


def hellaswag(ds, spec: TaskSpec):
    """ctx + endings; label is a string ('' on the unlabelled test split)."""
    return ds.map(lambda r: {"context": r["ctx"], "question": "", "choices": r["endings"],
                             "label": int(r["label"]) if r["label"] != "" else -1},
                  remove_columns=ds.column_names)


def ccg(ds, spec: TaskSpec):
    """jiant's CCG lines 'tok tok … TAB tag tag …' (read as text) -> tokens and tag strings."""
    def split(r: dict) -> dict:
        text, _, tags = r["text"].partition("\t")
        return {"tokens": text.split(" "), "tags": tags.split(" ")}
    return ds.map(split, remove_columns=ds.column_names)


ADAPTERS: dict[str, Callable] = {"columns": columns, "commonsense_qa": commonsense_qa, "cosmos_qa": cosmos_qa,
                                 "hellaswag": hellaswag, "ccg": ccg}
