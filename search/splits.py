"""Which splits a sweep and an evaluation read, from the experiment, the task registry and, for a directory
of real data, which files it holds: the driver checks them before Ray starts, and `--dry-run` lists them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from xstilts.search.config import Experiment
from xstilts.tasks.loading import DataError, DataSource, has_files, is_generated_world, local_paths
from xstilts.tasks.registry import TaskSpec

Registry = dict[str, TaskSpec]
Split = tuple[TaskSpec, str, str]  # (task, split, language)
SCORED_SPLITS = ("dev", "test")


def training_specs(tasks: Iterable[str], registry: Registry) -> list[TaskSpec]:
    """The tasks with training data among `tasks` (multitask brings its members; none has no data)."""
    names = list(tasks)
    for name in list(names):
        names += list(registry[name].members)
    return [registry[n] for n in dict.fromkeys(names) if registry[n].sources]


def sweep_splits(exp: Experiment, registry: Registry) -> list[Split]:
    """(task, split, lang) of every split a sweep reads: intermediate training sets, probe train and dev sets."""
    splits: list[Split] = [(spec, "train", "en") for spec in training_specs(exp.intermediate.tasks, registry)]
    for task in exp.target.tasks:
        spec = registry[task]
        if "train" in spec.sources:
            splits.append((spec, "train", "en"))
        splits += [(spec, "dev", lang) for lang in exp.target.langs_for(spec)]
    return splits


def real_local(source: DataSource) -> bool:
    """A directory of real files (not a world `xstilts prepare` generated)."""
    return source.kind == "local" and source.root is not None and not is_generated_world(Path(source.root))


def split_langs(exp: Experiment, spec: TaskSpec, split: str, source: DataSource) -> list[str]:
    """The languages an evaluation scores on `split` of `spec`: every language of the task on the hub; the
    experiment's languages in a generated world (it holds no others); in a directory of real data, every
    language of the task whose files for that split are there (a partial directory scores what it has)."""
    if split not in spec.sources:
        return []
    if source.kind == "hub":
        return list(spec.eval_langs)
    if not real_local(source):
        return [x for x in spec.eval_langs if x in exp.target.languages]
    return [x for x in spec.eval_langs if has_files(source, spec, split, x)]


def eval_langs(exp: Experiment, spec: TaskSpec, source: DataSource) -> list[str]:
    """Every language the evaluation scores `spec` in, on any split (dev or test), in declaration order."""
    langs = {x for split in SCORED_SPLITS for x in split_langs(exp, spec, split, source)}
    return [x for x in spec.eval_langs if x in langs]


def evaluation_splits(
    exp: Experiment, registry: Registry, intermediate: Iterable[str], source: DataSource
) -> list[Split]:
    """Every split an evaluation reads: the winners' intermediate training sets (an encoder without a kept
    checkpoint is retrained), each target's English training set and its dev and test sets in the languages
    `split_langs` gives. A directory of real data without any language's test files for a target is an
    error naming the file, unless `evaluation.test_split` names the split that stands in."""
    splits: list[Split] = [(spec, "train", "en") for spec in training_specs(intermediate, registry)]
    for task in exp.evaluation.tasks:
        spec = registry[task]
        if "train" in spec.sources:
            splits.append((spec, "train", "en"))
        for split in SCORED_SPLITS:
            langs = split_langs(exp, spec, split, source)
            if split == "test" and not langs and split in spec.sources and real_local(source):
                missing = local_paths(Path(source.root or "."), spec, "test", "en")[0]
                raise DataError(
                    f"{missing}: file not found (task {task}, test split, language en, and no other language's "
                    f"test file either); set evaluation.test_split: {{{task}: dev}} to score its dev split "
                    "in its place, or leave the task out of evaluation.tasks"
                )
            splits += [(spec, split, lang) for lang in langs]
    return list(dict.fromkeys(splits))
