"""Offline worlds that several tests write, and readers of their files."""

import functools
import json
from pathlib import Path

from xstilts.tasks.loading import local_paths
from xstilts.tasks.registry import build_registry
from xstilts.tasks.world_grammar import (
    ADJECTIVES,
    AGENTS,
    NAMES,
    OBJECTS,
    VERBS,
    build_lexicon,
)
from xstilts.tasks.world_spec import WorldSpec

# fmt: off
SMALL = WorldSpec(seed=3, languages=("en", "de", "ru", "sw"), intermediate_train=60, intermediate_dev=20,
                  target_train=30, target_dev=20, target_test=20, text_class5=80)
# fmt: on


REG = build_registry()


# fmt: off
SPEC = WorldSpec(seed=1, languages=("en", "de", "ru", "zh", "ar", "sw"), intermediate_train=600, intermediate_dev=150,
                 target_train=300, target_dev=60, target_test=60, text_class5=200)
# fmt: on


ADJ = set(ADJECTIVES) | {"good", "wonderful", "bad", "terrible"}


NOUNS = set(AGENTS) | set(OBJECTS) | set(NAMES)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def english(root: Path, task: str, split: str) -> list[dict]:
    found = [r for p in local_paths(root, REG[task], split, "en") for r in rows(p)]
    return [r for r in found if r["id"].startswith("english-")] if task == "tydiqa" else found


@functools.lru_cache
def inverse(lang: str) -> dict[str, str]:
    return {form: concept for concept, form in build_lexicon(lang, SPEC.seed).items()}


def meaning(sentence: str, lang: str) -> tuple:
    """A sentence read back through the world's dictionary: its concepts in order, verb group aside (SOV moves it)."""
    concepts = [inverse(lang).get(w, w) for w in sentence.split()]
    verbish = set(VERBS) | {"not", "never", "in", "near", "uses"}
    return tuple(c for c in concepts if c not in verbish), tuple(sorted(c for c in concepts if c in verbish))
