"""What every featuriser shares: the features' type, the label the loss ignores, the split's statistics and
which rows the tokenizer cut (see `tasks/features.py`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

Features = dict[str, list]


IGNORE = -100  # label of positions the loss skips (torch's CrossEntropyLoss ignore_index)


def count(stats: Counter | None, **counts: int) -> None:
    """Add `counts` to a split's statistics (a key added with 0 is kept, so every count of a kind is there)."""
    if stats is not None:
        for key, n in counts.items():
            stats[key] += int(n)


def cut_rows(tokenizer: Callable[..., Any], max_len: int, ids: list, *texts: Sequence, **kwargs: Any) -> list[bool]:
    """Which rows the tokenizer cut to `max_len`: those at the limit whose encoding without truncation is longer
    (only they are encoded again)."""
    at_limit = [i for i, row in enumerate(ids) if len(row) >= max_len]
    cut = [False] * len(ids)
    if at_limit:
        full = tokenizer(*[[column[i] for i in at_limit] for column in texts], verbose=False, **kwargs)
        for i, row in zip(at_limit, full["input_ids"]):
            cut[i] = len(row) > max_len
    return cut
