"""Tiny models and data that several tests train."""

import random

import torch


def tiny_model(num_labels: int = 3, dropout: float = 0.1):
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    torch.manual_seed(0)
    # fmt: off
    cfg = XLMRobertaConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=40, pad_token_id=1, type_vocab_size=1,
                           num_labels=num_labels, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    # fmt: on
    return XLMRobertaForSequenceClassification(cfg)


def toy_data(n: int = 40) -> dict:
    rng = random.Random(0)
    ids = [[0] + [rng.randrange(5, 40) for _ in range(rng.randrange(3, 9))] + [2] for _ in range(n)]
    return {"input_ids": ids, "labels": [s[1] % 3 for s in ids]}
