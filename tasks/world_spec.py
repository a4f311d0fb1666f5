"""What the offline world is (`WorldSpec`: seed, sizes, tasks and languages; its digest names the files) and
what each task's generator is given (`World`: the spec, the lexicons, the registry and the file paths)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from xstilts.tasks.languages import JOSHI_CLASS
from xstilts.tasks.loading import relative_files
from xstilts.tasks.registry import TASKS, TaskSpec, UnknownNameError, unknown_name_message

GENERATOR_VERSION = 4  # bump when the generated data changes: it is part of the cache digest
WORLD_TASKS = tuple(spec.name for spec in TASKS if spec.sources)  # every task with data, registry order

Lexicons = dict[str, dict[str, str]]  # language -> concept -> surface form
Files = dict[PurePosixPath, list]  # relative path -> rows (JSON lines) or lines of text


@dataclass(frozen=True)
class WorldSpec:
    """Sizes, seed, tasks and languages of the offline world; its hash names the generated files.

    `languages` are generated for each target task where the task evaluates them; training sets are English.
    """

    seed: int = 0
    languages: tuple[str, ...] = ("en", "de", "fr", "ru", "el", "ur", "sw")
    tasks: tuple[str, ...] = WORLD_TASKS
    intermediate_train: int = 3000  # per intermediate task (ANLI: split 1:2:3 over its rounds)
    intermediate_dev: int = 300
    target_train: int = 400  # English training set of each target task (SQuAD v1.1 for XQuAD/MLQA)
    target_dev: int = 150  # per language (BUCC: gold pairs, plus half as many distractors per side)
    target_test: int = 150  # per language (XQuAD, Tatoeba: their single set)
    text_class5: int = 4000  # unlabelled sentences of a class-5 language; halved per class below
    code_switch_fraction: float = 0.3  # of a language's unlabelled sentences, partly in English

    def __post_init__(self) -> None:
        for kind, names, valid in (("world task", self.tasks, WORLD_TASKS), ("language", self.languages, JOSHI_CLASS)):
            for name in names:
                if name not in valid:
                    raise UnknownNameError(unknown_name_message(kind, name, list(valid)))

    def digest(self) -> str:
        payload = {**asdict(self), "generator": GENERATOR_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def task_languages(spec: WorldSpec, registry: Mapping[str, TaskSpec], task: str) -> list[str]:
    """The spec's languages that a target task evaluates (its dev/test sets are generated in these)."""
    langs = registry[task].eval_langs
    return [lang for lang in spec.languages if lang in langs]


@dataclass(frozen=True)
class World:
    """What a task's generator is given: the spec, every language's lexicon, and the registry whose split
    locations name the files (the paths `xstilts.tasks.loading` reads)."""

    spec: WorldSpec
    lexicons: Lexicons
    registry: Mapping[str, TaskSpec]

    def paths(self, task: str, split: str, lang: str = "en") -> list[PurePosixPath]:
        """The file(s) of one of our splits (train | dev | test) of a task, relative to the world's root."""
        return relative_files(self.registry[task], split, lang)

    def path(self, task: str, split: str, lang: str = "en") -> PurePosixPath:
        """The one file of a split that is not made of parts."""
        (path,) = self.paths(task, split, lang)
        return path

    def languages(self, task: str) -> list[str]:
        """The spec's languages that a target task evaluates."""
        return task_languages(self.spec, self.registry, task)

    def rng(self, *key: object) -> random.Random:
        """A random stream of its own for each key (seeded by the spec's seed and the key)."""
        return random.Random("-".join(str(k) for k in (self.spec.seed, *key)))

    def uid(self, *key: object) -> str:
        """A stable 24-hex id for each key."""
        return hashlib.md5("-".join(str(k) for k in (self.spec.seed, *key)).encode()).hexdigest()[:24]
