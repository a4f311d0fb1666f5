"""Inference batches: rows sorted by length under a padded-token budget, and predictions back in row order."""

from types import SimpleNamespace

import numpy as np
import torch

from xstilts.models.predict import length_batches, predict_choices, predict_labels, predict_tags, span_logits


def test_length_batches_cover_every_row_once_within_the_budget():
    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 200, size=300).tolist() + [900]  # one row longer than the budget
    batches = length_batches(sizes, batch_size=16, max_tokens=1024)
    flat = [i for rows in batches for i in rows]
    assert sorted(flat) == list(range(len(sizes)))
    assert [sizes[i] for i in flat] == sorted(sizes)  # sorted by length
    for rows in batches:
        assert len(rows) <= 16
        assert len(rows) == 1 or len(rows) * max(sizes[i] for i in rows) <= 1024
    assert batches[-1] == [300]  # the over-long row alone
    padded = sum(len(rows) * max(sizes[i] for i in rows) for rows in batches)
    unsorted = sum(16 * max(sizes[s : s + 16]) for s in range(0, len(sizes), 16))
    assert padded < 0.7 * unsorted


class Echo(torch.nn.Module):
    """Logits that are a function of each row's own ids (so a row scattered to the wrong place shows)."""

    def forward(self, input_ids, attention_mask):
        ids = input_ids.float() * attention_mask
        per_token = torch.stack([ids % 3, (ids + 1) % 3, (ids + 2) % 3], -1)  # [.., len, 3]
        pooled = torch.stack([ids.sum(-1) % 5, ids.sum(-1) % 7], -1)  # [.., 2]
        return SimpleNamespace(logits=pooled, per_token=per_token, start_logits=ids, end_logits=-ids)


class Tagger(Echo):
    def forward(self, input_ids, attention_mask):
        out = super().forward(input_ids, attention_mask)
        return SimpleNamespace(logits=out.per_token)


def rows(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 50, size=int(rng.integers(2, 60))).tolist() for _ in range(n)]


def test_predictions_come_back_in_row_order():
    ids = rows()
    model = Echo()
    expected = [int(np.argmax([sum(r) % 5, sum(r) % 7])) for r in ids]
    assert predict_labels(model, ids, 0, batch_size=8, device="cpu") == expected
    starts, ends = span_logits(model, ids, 0, batch_size=8, device="cpu")
    assert all(s.tolist() == r and e.tolist() == [-x for x in r] for s, e, r in zip(starts, ends, ids))
    word_starts = [[0, len(r) - 1, -1] for r in ids]
    tags = predict_tags(Tagger(), ids, word_starts, ("a", "b", "c"), 0, batch_size=8, device="cpu")
    first = [[("a", "b", "c")[int(np.argmax([x % 3, (x + 1) % 3, (x + 2) % 3]))] for x in (r[0], r[-1])] for r in ids]
    assert [t[:2] for t in tags] == first and all(t[2] == "a" for t in tags)  # truncated word: first label


def test_choices_come_back_in_row_order():
    ids = rows(24, seed=2)
    choices = [[r, r[: max(1, len(r) // 2)]] for r in ids]

    class Choice(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            return SimpleNamespace(logits=(input_ids * attention_mask).sum(-1).float())  # [n, n_choices]

    assert predict_choices(Choice(), choices, 0, batch_size=4, device="cpu") == [0] * 24
    reverse = [c[::-1] for c in choices]
    assert predict_choices(Choice(), reverse, 0, batch_size=4, device="cpu") == [1] * 24
