"""Prediction and collation: batches of featurised rows -> padded tensors -> label predictions."""

from __future__ import annotations

import torch

from xstilts.models.train import autocast, resolve_device


def pad_ids(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence; returns input_ids and attention_mask [n, len]."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def classification_collate(pad_id: int):
    """Return a collate function for sequence classification (dynamic padding)."""
    def collate(data: dict[str, list], idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        ids, mask = pad_ids([data["input_ids"][i] for i in idx], pad_id)
        return {"input_ids": ids, "attention_mask": mask,
                "labels": torch.tensor([data["labels"][i] for i in idx])}
    return collate


def mlm_collate(pad_id: int, mask_id: int, vocab_size: int, special_ids: list[int], prob: float = 0.15):
    """Return a collate function for masked-LM pretraining (BERT's 80/10/10 masking)."""
    special = torch.tensor(special_ids)

    def collate(data: dict[str, list], idx: list[int], gen: torch.Generator) -> dict[str, torch.Tensor]:
        ids, mask = pad_ids([data["input_ids"][i] for i in idx], pad_id)
        labels = ids.clone()
        chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~torch.isin(ids, special)
        labels[~chosen] = -100
        roll = torch.rand(ids.shape, generator=gen)
        ids = ids.masked_fill(chosen & (roll < 0.8), mask_id)
        rand = chosen & (roll >= 0.8) & (roll < 0.9)
        ids[rand] = torch.randint(len(special_ids), vocab_size, ids.shape, generator=gen)[rand]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
    return collate


@torch.no_grad()
def predict_labels(model: torch.nn.Module, input_ids: list[list[int]], pad_id: int,
                   batch_size: int = 128, device: str = "auto") -> list[int]:
    """Return the argmax label of each sequence (logits [n, n_labels])."""
    dev = resolve_device(device)
    model.to(dev).eval()
    out: list[int] = []
    for start in range(0, len(input_ids), batch_size):
        ids, mask = pad_ids(input_ids[start:start + batch_size], pad_id)
        with autocast(dev, True):
            logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        out.extend(logits.argmax(-1).tolist())
    return out
