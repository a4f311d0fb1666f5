"""Which rows make each batch: plain seeded permutations, or grouped by length; both pure in the micro-step."""

import numpy as np
import pytest

from xstilts.models.sampling import LengthGroupedBatches, batch_indices, padding_share, row_lengths, sampler


def pad_share(batches, lengths):
    """Pad tokens / all tokens when each batch is padded to its longest row (written out independently)."""
    real = sum(lengths[i] for rows in batches for i in rows)
    padded = sum(max(lengths[i] for i in rows) * len(rows) for rows in batches)
    return 1 - real / padded


def test_grouped_batches_cover_each_epoch_once_and_pad_less():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 300, size=1000).tolist()
    grouped = LengthGroupedBatches(lengths, batch_size=16, seed=3, group=10)
    epoch = [grouped(k) for k in range(grouped.per_epoch)]
    flat = [i for rows in epoch for i in rows]
    assert grouped.per_epoch == 62 and len(flat) == len(set(flat)) == 62 * 16  # disjoint, full batches
    assert all(len(rows) == 16 for rows in epoch)
    plain = [batch_indices(1000, 16, 3, k) for k in range(62)]
    assert pad_share(epoch, lengths) < 0.5 * pad_share(plain, lengths)
    assert padding_share(lengths, epoch) == pytest.approx(pad_share(epoch, lengths))
    assert [grouped(k) for k in range(62, 70)] != epoch[:8]  # the next epoch is another permutation


def test_grouped_batches_are_a_pure_function_of_the_micro_step():
    lengths = list(range(1, 201))
    a, b = LengthGroupedBatches(lengths, 8, seed=1), LengthGroupedBatches(lengths, 8, seed=1)
    steps = [37, 3, 60, 0, 37, 24]  # out of order and across epochs: a resumed run asks like this
    in_order = {k: b(k) for k in sorted(steps)}  # b walks the epochs in order, a jumps between them
    assert [a(k) for k in steps] == [in_order[k] for k in steps]
    assert a(37) == LengthGroupedBatches(lengths, 8, seed=1)(37)
    assert LengthGroupedBatches(lengths, 8, seed=2)(0) != a(0)
    with pytest.raises(ValueError, match="cannot fill a batch"):
        LengthGroupedBatches([3, 4], 8, seed=0)


def test_sampler_groups_where_asked_and_possible():
    data = {"input_ids": [[0] * n for n in range(1, 41)], "labels": [0] * 40}
    assert isinstance(sampler(data, 4, 0, group_by_length=True), LengthGroupedBatches)
    plain = sampler(data, 4, 0, group_by_length=False)
    assert [plain(k) for k in range(3)] == [batch_indices(40, 4, 0, k) for k in range(3)]
    virtual = sampler({"index": list(range(40))}, 4, 0, group_by_length=True)  # multi-task: no ids
    assert virtual(5) == batch_indices(40, 4, 0, 5)
    assert row_lengths({"input_ids": [[[1, 2], [1, 2, 3]], [[1], [1]]]}).tolist() == [3, 1]  # multiple choice
