"""Prediction and collation, per task kind: featurised rows -> padded tensors -> predictions. Collation takes
a batch's rows from the (memory-mapped) feature columns and pads them to the batch's longest row."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from xstilts.models.train import Collate, Data, Model, autocast, resolve_device
from xstilts.tasks.feature_cache import lengths, take
from xstilts.tasks.registry import TaskSpec
from xstilts.tasks.span_features import MAX_ANSWER_TOKENS

IGNORE = -100  # tasks.features.IGNORE: label positions the loss skips
# Inference batches hold at most this many padded tokens (rows x longest row x choices): rows are sorted by
# length first, so a batch pads to about its own rows' length. Measured on a 12-layer, 384-wide encoder on
# one CPU thread, 64 UD POS sentences scored in one batch padded to the longest took 2.4 s, sorted into
# batches of at most 2,048 tokens about a third of that.
MAX_BATCH_TOKENS = 2048


def pad_ids(seqs: list[list[int]], pad_id: int, value_pad: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence; returns input_ids (padded with `value_pad`, default pad_id)
    and attention_mask [n, len]."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id if value_pad is None else value_pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


def pad_choices(rows: list[list[list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad [n][n_choices][len] ids to input_ids and attention_mask [n, n_choices, len]."""
    ids, mask = pad_ids([choice for row in rows for choice in row], pad_id)
    shape = (len(rows), len(rows[0]), ids.shape[-1])
    return ids.view(shape), mask.view(shape)


def classification_collate(pad_id: int) -> Collate:
    """Return a collate function for sequence classification (dynamic padding)."""

    def collate(data: Mapping[str, Sequence], idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        ids, mask = pad_ids(take(data["input_ids"], idx), pad_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(take(data["labels"], idx))}

    return collate


def multiple_choice_collate(pad_id: int) -> Collate:
    """Return a collate for multiple choice: input_ids [b, n_choices, len], labels [b]."""

    def collate(data: Mapping[str, Sequence], idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        ids, mask = pad_choices(take(data["input_ids"], idx), pad_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(take(data["labels"], idx))}

    return collate


def tagging_collate(pad_id: int) -> Collate:
    """Return a collate for token tagging: labels [b, len] padded with IGNORE."""

    def collate(data: Mapping[str, Sequence], idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        ids, mask = pad_ids(take(data["input_ids"], idx), pad_id)
        labels, _ = pad_ids(take(data["labels"], idx), pad_id, value_pad=IGNORE)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return collate


def span_collate(pad_id: int) -> Collate:
    """Return a collate for extractive QA windows: start_positions and end_positions [b]."""

    def collate(data: Mapping[str, Sequence], idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        ids, mask = pad_ids(take(data["input_ids"], idx), pad_id)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "start_positions": torch.tensor(take(data["start_positions"], idx)),
            "end_positions": torch.tensor(take(data["end_positions"], idx)),
        }

    return collate


def mlm_collate(pad_id: int, mask_id: int, vocab_size: int, special_ids: list[int], prob: float = 0.15) -> Collate:
    """Return a collate function for masked-LM pretraining (BERT's 80/10/10 masking)."""
    special = torch.tensor(special_ids)

    def collate(data: Mapping[str, Sequence], idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        ids, mask = pad_ids(take(data["input_ids"], idx), pad_id)
        labels = ids.clone()
        chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~torch.isin(ids, special)
        labels[~chosen] = -100
        roll = torch.rand(ids.shape, generator=gen)
        ids = ids.masked_fill(chosen & (roll < 0.8), mask_id)
        rand = chosen & (roll >= 0.8) & (roll < 0.9)
        ids[rand] = torch.randint(len(special_ids), vocab_size, ids.shape, generator=gen)[rand]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return collate


COLLATES: dict[str, Callable[[int], Collate]] = {
    "classification": classification_collate,
    "multiple_choice": multiple_choice_collate,
    "tagging": tagging_collate,
    "span": span_collate,
}


def collate_for(spec: TaskSpec, pad_id: int) -> Collate:
    """Return the training collate of `spec`'s kind (retrieval has no training)."""
    if spec.kind not in COLLATES:
        raise ValueError(f"task {spec.name!r} ({spec.kind}) has no training batches (kinds: {sorted(COLLATES)})")
    return COLLATES[spec.kind](pad_id)


def length_batches(sizes: Sequence[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS) -> list[list[int]]:
    """Row indices in batches of similar length: sorted by length (stable), each batch at most `batch_size`
    rows and `max_tokens` padded tokens (a single longer row still gets a batch of its own)."""
    batches: list[list[int]] = []
    rows: list[int] = []
    for i in np.argsort(np.asarray(sizes), kind="stable").tolist():
        if rows and (len(rows) == batch_size or (len(rows) + 1) * sizes[i] > max_tokens):
            batches.append(rows)
            rows = []
        rows.append(i)
    return batches + [rows] if rows else batches


@torch.no_grad()
def _outputs(
    model: Model, input_ids: Sequence, pad_id: int, batch_size: int, device: str, pad: Callable = pad_ids
) -> Iterator[tuple[list[int], Any]]:
    """Yield (row indices, model output) per length-sorted batch, in eval mode, without gradients."""
    dev = resolve_device(device)
    model.to(dev).eval()
    sizes = lengths(input_ids)
    if pad is pad_choices:  # every choice of a row is a sequence of the batch
        sizes = sizes * np.array([len(r) for r in input_ids], dtype=np.int64)
    for rows in length_batches(sizes.tolist(), batch_size):
        ids, mask = pad(take(input_ids, rows), pad_id)
        with autocast(dev, "auto"):
            yield rows, model(input_ids=ids.to(dev), attention_mask=mask.to(dev))


def _argmax(model: Model, input_ids: Sequence, pad_id: int, batch_size: int, device: str, pad: Callable) -> list:
    """The argmax of each row's logits ([n, n_labels] or [n, n_choices]), in the rows' order."""
    out: list = [None] * len(input_ids)
    for rows, output in _outputs(model, input_ids, pad_id, batch_size, device, pad):
        for i, y in zip(rows, output.logits.argmax(-1).tolist()):
            out[i] = y
    return out


def predict_labels(
    model: Model, input_ids: Sequence[Sequence[int]], pad_id: int, batch_size: int = 128, device: str = "auto"
) -> list[int]:
    """Return the argmax label of each sequence (logits [n, n_labels])."""
    return _argmax(model, input_ids, pad_id, batch_size, device, pad_ids)


def predict_choices(
    model: Model, input_ids: Sequence[Sequence[Sequence[int]]], pad_id: int, batch_size: int = 32, device: str = "auto"
) -> list[int]:
    """Return the argmax choice of each row (logits [n, n_choices])."""
    return _argmax(model, input_ids, pad_id, batch_size, device, pad_choices)


def truncated_tag(labels: tuple[str, ...]) -> str:
    """Tag given to words with no sub-token in the window: "O" (outside) for NER-like inventories,
    else the first label (a wrong guess that keeps sentence lengths equal for seqeval)."""
    return "O" if "O" in labels else labels[0]


def predict_tags(
    model: Model,
    input_ids: Sequence[Sequence[int]],
    word_starts: Sequence[Sequence[int]],
    labels: tuple[str, ...],
    pad_id: int,
    batch_size: int = 64,
    device: str = "auto",
) -> list[list[str]]:
    """Return one tag string per word: the argmax at each word's first sub-token (logits [n, len, n_tags])."""
    fill = truncated_tag(labels)
    out: list[list[str]] = [[] for _ in range(len(input_ids))]
    for rows, output in _outputs(model, input_ids, pad_id, batch_size, device):
        for i, best in zip(rows, output.logits.argmax(-1).tolist()):
            out[i] = [labels[best[pos]] if pos >= 0 else fill for pos in word_starts[i]]
    return out


def span_logits(
    model: Model, input_ids: Sequence[Sequence[int]], pad_id: int, batch_size: int = 64, device: str = "auto"
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return start and end logits per window, cut to the window's length ([len] float32 arrays)."""
    starts: list[np.ndarray] = [np.empty(0)] * len(input_ids)
    ends: list[np.ndarray] = [np.empty(0)] * len(input_ids)
    for rows, out in _outputs(model, input_ids, pad_id, batch_size, device):
        s_batch, e_batch = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
        for i, s, e in zip(rows, s_batch, e_batch):
            width = len(input_ids[i])
            starts[i], ends[i] = s[:width], e[:width]
    return starts, ends


def postprocess_spans(
    features: Data,
    start_logits: list,
    end_logits: list,
    *,
    allow_no_answer: bool = False,
    n_best: int = 20,
    max_answer_len: int = MAX_ANSWER_TOKENS,
) -> list[str]:
    """Return one answer string per example: the best-scoring context span over all its windows.

    A span scores start + end logit among each window's n_best starts and ends, with start <= end and at
    most `max_answer_len` tokens (HF run_qa's postprocess_qa_predictions). With `allow_no_answer`
    (SQuAD v2), "" is returned when the null score (CLS start + end, lowest over windows) beats it.
    """
    n = len(features["context"])
    best_score, best_text, null = [-np.inf] * n, [""] * n, [np.inf] * n
    for w, ex in enumerate(features["example_index"]):
        s, e = np.asarray(start_logits[w], dtype=np.float64), np.asarray(end_logits[w], dtype=np.float64)
        offsets = features["offset_mapping"][w][: len(s)]
        null[ex] = min(null[ex], s[0] + e[0])
        in_context = np.array([o is not None for o in offsets])
        i = np.argsort(-s, kind="stable")[:n_best]
        j = np.argsort(-e, kind="stable")[:n_best]
        i, j = i[in_context[i]], j[in_context[j]]
        length = j[None, :] - i[:, None] + 1
        scores = np.where((length >= 1) & (length <= max_answer_len), s[i][:, None] + e[j][None, :], -np.inf)
        if scores.size and scores.max() > best_score[ex]:
            a, b = np.unravel_index(scores.argmax(), scores.shape)
            best_score[ex] = scores[a, b]
            best_text[ex] = features["context"][ex][offsets[i[a]][0] : offsets[j[b]][1]].strip()
    return ["" if allow_no_answer and null[k] > best_score[k] else best_text[k] for k in range(n)]


def predict_spans(
    model: Model,
    features: Data,
    pad_id: int,
    *,
    allow_no_answer: bool = False,
    batch_size: int = 64,
    device: str = "auto",
) -> list[str]:
    """Return one answer string per example of eval span features ("" = no answer)."""
    starts, ends = span_logits(model, features["input_ids"], pad_id, batch_size, device)
    return postprocess_spans(features, starts, ends, allow_no_answer=allow_no_answer)
