"""A tiny Unigram tokenizer over a few made-up words, shared by the featurisation tests."""

import random

import pytest

from xstilts.models.pretrain import train_tokenizer

WORDS = ["ka", "lo", "mi", "ne", "ru", "ta", "si", "po", "kalo", "mine", "tasi"]


@pytest.fixture(scope="module")
def tok():
    rng = random.Random(1)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12))) for _ in range(300)]
    return train_tokenizer(lines, 120, 64)
