"""Which splits a sweep and an evaluation read, from the experiment and the task registry: the driver checks
them before Ray starts, and `--dry-run` lists them."""

from __future__ import annotations

from collections.abc import Iterable

from xstilts.search.config import Experiment
from xstilts.tasks.registry import TaskSpec

Registry = dict[str, TaskSpec]
Split = tuple[TaskSpec, str, str]  # (task, split, language)


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


def eval_langs(exp: Experiment, spec: TaskSpec) -> list[str]:
    """Every language of the task that the data source has (the offline world: the experiment's)."""
    return list(spec.eval_langs) if exp.source == "hub" else [x for x in spec.eval_langs if x in exp.target.languages]


def evaluation_splits(exp: Experiment, registry: Registry, intermediate: Iterable[str]) -> list[Split]:
    """Every split an evaluation reads: the winners' intermediate training sets (an encoder without a kept
    checkpoint is retrained), each target's English training set and its dev and test sets."""
    splits: list[Split] = [(spec, "train", "en") for spec in training_specs(intermediate, registry)]
    for task in exp.evaluation.tasks:
        spec = registry[task]
        if "train" in spec.sources:
            splits.append((spec, "train", "en"))
        splits += [
            (spec, split, lang) for split in ("dev", "test") if split in spec.sources for lang in eval_langs(exp, spec)
        ]
    return list(dict.fromkeys(splits))
