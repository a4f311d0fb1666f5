"""Each stage's target recipes: a target's declared recipe (tasks/registry.py, jiant's XTREME recipes), then
the experiment's `recipe` for the stage, then its `recipes[task]`. The probe is `target`, the winners'
evaluation is `evaluation`; `max_len` overrides become the stage's task declarations (featurisation)."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from xstilts.models.transfer import TargetFineTune
from xstilts.search.config import Experiment, RecipeOverride, Recipes
from xstilts.tasks.loading import DataSource, local_rows
from xstilts.tasks.registry import Recipe, TaskSpec

Stage = Literal["probe", "evaluation"]
Registry = dict[str, TaskSpec]


def stage_config(exp: Experiment, stage: Stage) -> Recipes:
    return exp.target if stage == "probe" else exp.evaluation


def stage_tasks(exp: Experiment, stage: Stage) -> list[str]:
    return exp.target.tasks if stage == "probe" else exp.evaluation.tasks


def merged(recipe: Recipe, override: RecipeOverride) -> Recipe:
    """`recipe` with the override's set fields (steps replaces epochs and the other way round)."""
    fields = override.model_dump(exclude_none=True, exclude={"max_len"})
    if "steps" in fields:
        fields["epochs"] = None
    elif "epochs" in fields:
        fields["steps"] = None
    return replace(recipe, **fields)


def stage_recipes(exp: Experiment, registry: Registry, stage: Stage) -> dict[str, Recipe]:
    """task -> the recipe its fine-tune runs in `stage`, for the stage's targets that are fine-tuned."""
    cfg = stage_config(exp, stage)
    out = {}
    for name in stage_tasks(exp, stage):
        declared = registry[name].recipe
        if declared is not None:
            out[name] = merged(merged(declared, cfg.recipe), cfg.recipes.get(name, RecipeOverride()))
    return out


def stage_registry(exp: Experiment, registry: Registry, stage: Stage) -> Registry:
    """`registry` with the stage's max_len overrides and `max_eval_rows` in its target declarations, and for
    the evaluation each `evaluation.test_split` stand-in as the task's test split."""
    cfg = stage_config(exp, stage)
    out = dict(registry)
    for name in stage_tasks(exp, stage):
        max_len = cfg.recipes.get(name, RecipeOverride()).max_len or cfg.recipe.max_len
        if max_len is not None and registry[name].recipe is not None:
            out[name] = replace(out[name], max_len=max_len)
        rows = cfg.retrieval_rows if registry[name].kind == "retrieval" and cfg.retrieval_rows else cfg.max_eval_rows
        if rows is not None:
            out[name] = replace(out[name], max_eval_rows=rows)
    if stage == "evaluation":
        for name, split in exp.evaluation.test_split.items():
            spec = out[name]
            key = next(k for k, loc in spec.sources.items() if split in (k, loc.split) and k != "train")
            out[name] = replace(spec, sources={**spec.sources, "test": spec.sources[key]})
    return out


def recipe_lines(exp: Experiment, registry: Registry, name: str, source: DataSource | None = None) -> list[str]:
    """The dry run's table: each stage's recipe per fine-tuned target and the optimizer steps it implies on
    the English training set: the rows of a local source's files, else the hub's size (examples; QA windows
    long contexts into more features)."""
    lines = []
    if source is not None and source.kind == "local":
        lines.append(f"training sizes: rows of the local files under {source.root}")
    stages: list[tuple[Stage, str]] = [
        ("probe", f"{name}.target (each milestone's probe)"),
        ("evaluation", f"{name}.evaluation"),
    ]
    for stage, title in stages:
        lines.append(f"recipes of {title}:")
        reg = stage_registry(exp, registry, stage)
        for task, r in stage_recipes(exp, registry, stage).items():
            spec = reg[task]
            if source is not None and source.kind == "local":
                spec = replace(spec, train_size=local_rows(source, spec, "train", "en"))
            length = f"{r.steps} steps" if r.steps is not None else f"{r.epochs:g} epochs"
            stop = f"eval every {r.eval_every}, patience {r.patience}" if r.eval_every else "no dev evaluation"
            size = f"{spec.train_size:,} train examples -> " if spec.train_size else ""
            if source is not None and source.kind == "local" and spec.train_size is None:
                size = "no local training file -> "
            implied = f"{r.optimizer_steps(spec.train_size or 0):,}" if spec.train_size or r.steps else "?"
            implied += " optimizer steps"
            if r.steps is not None and spec.train_size:
                implied += f" ({r.steps * r.effective_batch / spec.train_size:.2g} epochs)"
            lines.append(
                f"  {task}: {length}, lr {r.lr:g}, batch {r.batch_size} x {r.grad_accum} = {r.effective_batch}, "
                f"max_len {spec.max_len}, warm-up {r.warmup_ratio:g}, {stop}; {size}{implied}"
            )
        if stage == "evaluation":
            rule = "English dev" if exp.evaluation.selection == "english_dev" else "the target languages' dev"
            lines.append(f"  best checkpoint of each fine-tune and winners by: {rule} ({exp.evaluation.selection})")
    return lines


def stage_fine_tunes(exp: Experiment, registry: Registry, stage: Stage) -> dict[str, TargetFineTune]:
    """task -> its target fine-tune in `stage` (the one place one is built): the stage's recipe, the dev set
    that selects its checkpoint (evaluation.selection), the device and precision, micro-batches capped by
    the stage's resources (the probe runs in a trial, on `resources`; the evaluation on its own)."""
    resources = exp.resources if stage == "probe" else exp.evaluation.resources
    return {
        task: TargetFineTune(recipe, exp.evaluation.selection, exp.device, resources.max_micro_batch, exp.precision)
        for task, recipe in stage_recipes(exp, registry, stage).items()
    }
