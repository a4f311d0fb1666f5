"""Experiment config: pydantic models mirroring experiments.yaml, with one-line field-path errors."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from xstilts.core.errors import InputError
from xstilts.search.settings import Encoder, Resources, Search, Strict, Trackers
from xstilts.tasks.languages import JOSHI_CLASS
from xstilts.tasks.registry import (
    BASELINE,
    RETRIEVAL_LAYER,
    TaskSpec,
    declared_registry,
    get_task,
    unknown_name_message,
)

TRAINABLE_KINDS = ("classification", "multiple_choice", "span", "tagging", "multitask", "none")


class ConfigError(InputError, ValueError):
    """A bad experiments file; str() is one line naming file, field and value."""


def _registry(info: ValidationInfo) -> dict[str, TaskSpec]:
    """The task registry the validation was given (`load_experiment` passes it in the context)."""
    registry = (info.context or {}).get("registry")
    return registry if registry is not None else declared_registry()


def _target_tasks(names: list[str], info: ValidationInfo) -> list[str]:
    """`names`, each a target task of the registry (else UnknownNameError naming near matches)."""
    registry = _registry(info)
    for name in names:
        get_task(registry, name, role="target")
    return names


class Intermediate(Strict):
    tasks: list[str] = Field(default=["mnli", "none"], min_length=1)
    steps: list[int] = Field(default=[100, 200, 300], min_length=1)
    milestone_every: int = Field(default=100, gt=0)
    multitask_cap: int = Field(default=2**14, gt=0)  # examples-proportional mixing limit (models/multitask.py)
    group_by_length: bool = False  # batches of rows of similar length (less padding; models/sampling.py)
    compile: bool = False  # torch.compile the intermediate model (models/train.py); benchmarks/README.md
    # wsd (warmup-stable-decay; Hägele et al. 2024, arXiv 2405.18392): warm-up, then a constant rate; each
    # milestone is probed, evaluated and checkpointed as a fork cooled down for cooldown_fraction of the steps
    # so far, while the run goes on uncooled, so a milestone is the model of a run of that length, annealed.
    # linear: one warm-up and linear decay over the trial's steps (a milestone is then a checkpoint in the middle
    # of a decaying schedule, and durations differ in their schedules too).
    schedule: Literal["wsd", "linear"] = "wsd"
    warmup_steps: int | None = Field(default=None, ge=0)  # wsd's fixed warm-up (None: milestone_every // 10)
    cooldown_fraction: float = Field(default=0.2, gt=0, le=1)
    cooldown_shape: Literal["linear", "1-sqrt"] = "linear"

    @property
    def warmup(self) -> int:
        """wsd's warm-up steps, the same for every milestone of every trial."""
        return self.milestone_every // 10 if self.warmup_steps is None else self.warmup_steps

    @field_validator("tasks")
    @classmethod
    def _known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        registry = _registry(info)
        for name in v:
            spec = get_task(registry, name, role="intermediate")
            if spec.kind not in TRAINABLE_KINDS:
                raise ValueError(f"intermediate task {name!r} ({spec.kind}) cannot be trained")
        if (info.context or {}).get("require_baseline") and BASELINE not in v:
            # `xstilts run`'s report compares every winner with this baseline
            raise ValueError(f"`xstilts run` reports against the 'none' baseline, so it must be listed (value: {v})")
        return v

    @model_validator(mode="after")
    def _milestones(self) -> Intermediate:
        bad = [s for s in self.steps if s <= 0 or s % self.milestone_every]
        if bad:
            raise ValueError(f"steps {bad} must be positive multiples of milestone_every ({self.milestone_every})")
        if self.schedule == "wsd" and self.warmup > self.milestone_every:
            raise ValueError(
                f"warmup_steps ({self.warmup}) must end before the first milestone (milestone_every: "
                f"{self.milestone_every}), whose cooldown starts from the peak rate"
            )
        return self


class RecipeOverride(Strict):
    """Fields that replace a target's declared recipe (tasks/registry.py `Recipe`); unset ones are kept.
    Setting `steps` drops the declared `epochs` and the other way round."""

    epochs: float | None = Field(default=None, gt=0)
    steps: int | None = Field(default=None, gt=0)
    lr: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)  # per device; the effective batch is x grad_accum
    grad_accum: int | None = Field(default=None, gt=0)
    max_len: int | None = Field(default=None, gt=8)
    warmup_ratio: float | None = Field(default=None, ge=0, lt=1)
    eval_every: int | None = Field(default=None, ge=0)  # 0: no dev evaluation; the final model is kept
    patience: int | None = Field(default=None, ge=0)  # 0: never stop early (the best evaluation is kept)
    group_by_length: bool | None = None  # batches of rows of similar length (less padding; models/sampling.py)
    freeze_encoder: bool | None = None  # train the new head only (a linear probe of the encoder's features)

    @model_validator(mode="after")
    def _one_length(self) -> RecipeOverride:
        if self.epochs is not None and self.steps is not None:
            raise ValueError(f"set epochs ({self.epochs:g}) or steps ({self.steps}), not both")
        return self


class Recipes(Strict):
    """A stage's target recipes: `recipe` over every target's declared one, then `recipes[task]` over that;
    and how much of each scored (dev/test) split the stage reads."""

    recipe: RecipeOverride = RecipeOverride()
    recipes: dict[str, RecipeOverride] = {}
    # score at most this many rows of each dev/test split: a seeded sample, the same for every encoder (None:
    # every row). For a bench on few cores; a retrieval task then searches a smaller pool (easier).
    max_eval_rows: int | None = Field(default=None, gt=0)
    # a retrieval task's rows instead (Tatoeba's pairs, BUCC's gold pairs): its candidate pool, which sets how
    # hard the search is (a pool of 48 lets a weak encoder score 100); None: max_eval_rows
    retrieval_rows: int | None = Field(default=None, gt=0)

    @field_validator("recipes")
    @classmethod
    def _fine_tuned(cls, v: dict[str, RecipeOverride], info: ValidationInfo) -> dict[str, RecipeOverride]:
        registry = _registry(info)
        for name in v:
            spec = get_task(registry, name, role="target")
            if spec.recipe is None:
                raise ValueError(f"{name!r} ({spec.kind}) is not fine-tuned, so it has no recipe")
        return v


class Target(Recipes):
    """The target tasks probed at each milestone (a short English fine-tune, then zero-shot dev scores)."""

    # a probe is short: the declared recipe for 2,000 steps without dev evaluation, unless the experiment says
    recipe: RecipeOverride = RecipeOverride(steps=2000, eval_every=0)

    tasks: list[str] = Field(default=["xnli", "panx", "xquad", "tatoeba"], min_length=1)
    languages: list[str] = Field(min_length=2)  # probe languages; each task uses those it has
    low_resource_max_class: int = Field(default=2, ge=0, le=5)
    retrieval_layer: int = Field(
        default=RETRIEVAL_LAYER, ge=0
    )  # BUCC/Tatoeba: mean-pooled layer (clamped to the depth)

    @field_validator("tasks")
    @classmethod
    def _known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"tasks listed twice: {v}")
        return _target_tasks(v, info)

    def langs_for(self, task: TaskSpec) -> list[str]:
        """The probe languages that `task` has, in config order."""
        return [lang for lang in self.languages if lang in task.eval_langs]

    @model_validator(mode="after")
    def _languages(self, info: ValidationInfo) -> Target:
        registry = _registry(info)
        valid = sorted({lang for t in self.tasks for lang in registry[t].eval_langs})
        for lang in self.languages:
            if lang not in valid:
                raise ValueError(unknown_name_message(f"language of {'/'.join(self.tasks)}", lang, valid))
        for task in self.tasks:
            if not [lang for lang in self.langs_for(registry[task]) if lang != "en"]:
                raise ValueError(f"task {task!r} has none of the languages {self.languages} besides English")
        if not any(lang != "en" and JOSHI_CLASS[lang] <= self.low_resource_max_class for lang in self.languages):
            raise ValueError(
                f"no language has Joshi class <= low_resource_max_class "
                f"({self.low_resource_max_class}), so low_resource_mean is undefined"
            )
        return self


ENGLISH_DEV = "english_dev"  # a milestone's mean English dev score over the probed tasks that have English


class Evaluation(Recipes):
    """The winners' full evaluation (`xstilts evaluate`): which winners, which targets, how many seeds, and
    each target's fine-tune (`recipe`, `recipes`: the declared, published recipes where unset)."""

    # english_dev: winners by the English dev probes (XTREME's strict zero-shot setting); target_dev: by
    # `select` over the target languages' dev probes (an "oracle" protocol: Keung et al. 2020)
    selection: Literal["english_dev", "target_dev"] = "english_dev"
    select: Literal["mean", "low_resource_mean", "worst"] = "low_resource_mean"  # the target_dev metric
    durations: bool = True  # also the best trial of each intermediate task at each milestone step
    # only the intermediate tasks whose best milestone ranks in the top this many by the rule (None: all);
    # the baseline is always evaluated
    top_tasks: int | None = Field(default=None, gt=0)
    tasks: list[str] = Field(
        default=["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"], min_length=1
    )
    seeds: int = Field(default=3, gt=0)
    resources: Resources = Resources()
    # every (trial, milestone) of the sweep is evaluated too, not only the winners: more points for the rank
    # agreement between the sweep's probe and the evaluation
    every_milestone: bool = False
    # a split that stands in for a target's test split, e.g. {panx: dev} where a directory of real data
    # has no labelled test set; the report marks every such score
    test_split: dict[str, str] = {}

    @field_validator("test_split")
    @classmethod
    def _stand_in(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        registry = _registry(info)
        for task, split in v.items():
            spec = get_task(registry, task, role="target")
            named = {k for k in spec.sources} | {loc.split for loc in spec.sources.values()}
            if split not in named or split == "train" or spec.sources.get("train") is spec.sources.get(split):
                raise ValueError(f"{task!r} has no scored split {split!r} to stand in for its test split")
        return v

    @property
    def rule(self) -> str:
        """The milestone score winners are chosen by: `english_dev`, or the target-dev `select` metric."""
        return ENGLISH_DEV if self.selection == "english_dev" else self.select

    @field_validator("tasks")
    @classmethod
    def _known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        return _target_tasks(v, info)


class Experiment(Strict):
    """One named experiment of experiments.yaml."""

    description: str = ""
    source: str = "offline"  # offline (generated world) | hub | a directory in the hub schemas
    model: str = "offline"  # offline (tiny local encoder) | hub id (xlm-roberta-large) | directory
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # training's autocast: auto = bf16 on CUDA devices that support it, fp32 elsewhere; bf16 = on CPU too (AMX /
    # AVX-512 bf16 CPUs); fp32 = never. Master weights stay float32 (models/train.py). Scoring is not set here:
    # it autocasts to bf16 on CUDA devices that support it.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    storage_path: str = "runs"
    cache_dir: str = ".cache"
    max_failures: int = Field(default=2, ge=-1)
    intermediate: Intermediate = Intermediate()
    target: Target
    search: Search = Search()
    resources: Resources = Resources()
    encoder: Encoder = Encoder()
    evaluation: Evaluation = Evaluation()
    trackers: Trackers = Trackers()  # not part of the experiment's identity (digest): logging only

    @field_validator("source", "model")
    @classmethod
    def _directory(cls, v: str, info: ValidationInfo) -> str:
        """A path (not offline, hub or a hub id) must be a directory, relative to the experiments file."""
        base = (info.context or {}).get("base")
        is_path = v not in ("offline", "hub") if info.field_name == "source" else v.startswith((".", "/", "~"))
        if base is not None and is_path and not (Path(base) / Path(v).expanduser()).is_dir():
            raise ValueError("directory not found")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if self.evaluation.selection == "english_dev" and "en" not in self.target.languages:
            raise ValueError(
                f"evaluation.selection english_dev picks winners by the English dev probes, so target.languages "
                f"must list en (value: {self.target.languages})"
            )
        if self.search.asha.grace_period > max(self.intermediate.steps):
            raise ValueError(
                f"search.asha.grace_period ({self.search.asha.grace_period}) exceeds the "
                f"largest intermediate step count ({max(self.intermediate.steps)})"
            )
        return self

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"trackers"}).encode()).hexdigest()[:12]


def _format_error(name: str, err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    shown = "" if isinstance(value, dict) or "(value: " in msg else f" (value: {json.dumps(value, default=str)})"
    where = f"{name}.{loc}" if loc else name
    return f"{where}: {msg}{shown}"


def load_experiment(
    path: Path, name: str = "offline", *, registry: dict[str, TaskSpec] | None = None, require_baseline: bool = False
) -> tuple[Experiment, Path]:
    """Return the validated experiment `name` of the YAML file and the directory paths resolve against.

    Every error of the experiment is reported together, in one line. `require_baseline`: the experiment
    must search the 'none' baseline (`xstilts run` reports against it).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{line} not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: expected a mapping of experiment names to experiments")
    if name not in raw:
        raise ConfigError(f"{path}: {unknown_name_message('experiment', name, [str(k) for k in raw])}")
    base = path.resolve().parent
    context = {
        "registry": registry if registry is not None else declared_registry(),
        "base": base,
        "require_baseline": require_baseline,
    }
    try:
        exp = Experiment.model_validate(raw[name], context=context)
    except ValidationError as exc:
        errors = "; ".join(_format_error(name, e) for e in exc.errors())
        raise ConfigError(f"{path}: {errors}") from None
    hub_model = exp.model != "offline" and not (base / exp.model).is_dir()
    for message in config_warnings(exp, name, hub_model):
        warnings.warn(f"{path}: {message}", ConfigWarning, stacklevel=2)
    return exp, base


@dataclass(frozen=True)
class ExperimentContext:
    """One experiment as every command sees it, built once per command and passed: the validated experiment,
    the directory its relative paths resolve against, its name, and the task registry (the declared one, or a
    stage's copy with its own sequence lengths). `load_context` builds it from an experiments file;
    `RunDir.context` from a run directory (evaluate, report, status, export)."""

    exp: Experiment
    base: Path
    name: str
    registry: dict[str, TaskSpec]


def load_context(path: Path | str, name: str = "offline", *, require_baseline: bool = False) -> ExperimentContext:
    """The experiment `name` of the YAML file at `path` as a context (ConfigError on bad input, one line)."""
    registry = declared_registry()
    exp, base = load_experiment(Path(path), name, registry=registry, require_baseline=require_baseline)
    return ExperimentContext(exp, base, name, registry)


class ConfigWarning(UserWarning):
    """A config that is valid but probably not what the user meant; the CLI prints it as one line."""


# A pretrained encoder fine-tuned above this lr loses what it learnt (XTREME / jiant fine-tune at 1e-5).
HUB_LR_WARNING = 1e-3


def config_warnings(exp: Experiment, name: str, hub_model: bool) -> list[str]:
    """What is accepted but questionable in `exp`: an evaluation lr above 1e-3 for a pretrained hub model
    (`hub_model`: the model is a hub id, not a local directory)."""
    if not hub_model:
        return []
    ev, registry = exp.evaluation, declared_registry()
    high: dict[str, float] = {}  # field path -> lr
    for task in ev.tasks:
        declared = registry[task].recipe
        if declared is None:
            continue
        own = ev.recipes[task].lr if task in ev.recipes else None
        lr, where = (own, f"recipes.{task}") if own is not None else (ev.recipe.lr or declared.lr, "recipe")
        if lr > HUB_LR_WARNING:
            high[f"{name}.evaluation.{where}.lr"] = lr
    if not high:
        return []
    fields = ", ".join(f"{k}: {v:g}" for k, v in high.items())
    return [
        f"{fields} fine-tune(s) the pretrained {exp.model} above {HUB_LR_WARNING:g}, which destroys a pretrained "
        f"encoder (XTREME's recipes use 1e-5)"
    ]


def experiment_from_record(config: dict, registry: dict[str, TaskSpec]) -> Experiment:
    """The experiment a run directory recorded (its config dump), validated again. A record from before
    `intermediate.schedule` existed ran the linear schedule, and is read as such (not as today's default)."""
    intermediate = config.get("intermediate")
    if isinstance(intermediate, dict) and "schedule" not in intermediate:
        config = {**config, "intermediate": {**intermediate, "schedule": "linear"}}
    return Experiment.model_validate(config, context={"registry": registry})
