"""Which rows make each micro-batch: seeded epoch permutations, optionally grouped by length so that a batch
pads less. Both are pure functions of the micro-step, so a resumed (or prefetching) run sees exactly the
batches an uninterrupted run would."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from xstilts.tasks.feature_cache import lengths

Sampler = Callable[[int], list[int]]  # micro-step -> row indices


def batch_indices(n: int, batch_size: int, seed: int, micro_step: int) -> list[int]:
    """Indices of micro-batch `micro_step` in an endless stream of seeded epoch permutations."""
    start = micro_step * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        out.extend(perm[offset : offset + batch_size - len(out)].tolist())
    return out


class LengthGroupedBatches:
    """Batches of similar length, after transformers' LengthGroupedSampler: each seeded epoch permutation is
    cut into groups of `group` batches, each group sorted by length (longest first) and cut into batches,
    and the epoch's batch order shuffled (seeded). An epoch has n // batch_size full batches; the rows left
    over go into later epochs' permutations."""

    def __init__(self, lengths: Sequence[int] | np.ndarray, batch_size: int, seed: int, group: int = 50):
        if len(lengths) < batch_size:
            raise ValueError(f"{len(lengths)} rows cannot fill a batch of {batch_size}")
        self.lengths, self.batch_size, self.seed, self.group = np.asarray(lengths), batch_size, seed, group
        self.per_epoch = len(lengths) // batch_size
        self._cached: tuple[int, list[list[int]]] | None = None

    def _epoch(self, epoch: int) -> list[list[int]]:
        if self._cached is None or self._cached[0] != epoch:
            n, bs = len(self.lengths), self.batch_size
            perm = np.random.default_rng([self.seed, epoch]).permutation(n)[: self.per_epoch * bs]
            size = bs * self.group
            ordered = np.concatenate(
                [c[np.argsort(-self.lengths[c], kind="stable")] for c in np.split(perm, range(size, len(perm), size))]
            )
            batches = [ordered[i : i + bs].tolist() for i in range(0, len(ordered), bs)]
            order = np.random.default_rng([self.seed, epoch, 1]).permutation(len(batches))
            self._cached = (epoch, [batches[i] for i in order])
        return self._cached[1]

    def __call__(self, micro_step: int) -> list[int]:
        epoch, position = divmod(micro_step, self.per_epoch)
        return self._epoch(epoch)[position]


def padding_share(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Pad tokens / all tokens when each batch (row indices) is padded to its longest row."""
    pads = total = 0
    for rows in batches:
        width = max(lengths[i] for i in rows)
        total += width * len(rows)
        pads += sum(width - lengths[i] for i in rows)
    return pads / total


def row_lengths(data: Mapping[str, Sequence]) -> np.ndarray | None:
    """Each row's length in tokens (multiple choice: its longest choice), or None when rows have no ids; read
    off the Arrow offsets for mapped features."""
    if "input_ids" not in data:
        return None
    return lengths(data["input_ids"])


def sampler(data: Mapping[str, Sequence], batch_size: int, seed: int, group_by_length: bool) -> Sampler:
    """The micro-step -> rows function of a run: length-grouped where asked and possible, else plain."""
    lengths = row_lengths(data) if group_by_length else None
    if lengths is not None and len(lengths) >= batch_size:
        return LengthGroupedBatches(lengths, batch_size, seed)
    n = len(next(iter(data.values())))
    return lambda micro_step: batch_indices(n, batch_size, seed, micro_step)
