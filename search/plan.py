"""Resolve an experiment into a `TrialPlan`: data source, encoder and recipes, with every split the job will
read loaded and featurised in the driver before Ray starts (a bad file fails here, with nothing written)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xstilts.models.heads import TRAIN_DTYPE, checkpoint_dtype
from xstilts.models.pretrain import EncoderConfig, prepare_encoder
from xstilts.models.setup import TrainingSetup, clear_feature_cache, features_for, setup_training, split_stats
from xstilts.models.transfer import TargetFineTune
from xstilts.search.config import Experiment, ExperimentContext
from xstilts.search.splits import Registry, Split, sweep_splits
from xstilts.search.stages import Stage, stage_fine_tunes, stage_registry
from xstilts.tasks.checks import check_splits_readable
from xstilts.tasks.languages import low_resource_langs
from xstilts.tasks.loading import DataSource
from xstilts.tasks.registry import TaskSpec
from xstilts.tasks.world import write_world
from xstilts.tasks.world_spec import WorldSpec


@dataclass(frozen=True)
class TrialPlan:
    """Everything a trial or an evaluation job needs that is not searched (tune.with_parameters ships it)."""

    encoder: str  # local directory or hub id
    source: DataSource
    registry: Registry
    targets: tuple[tuple[str, tuple[str, ...]], ...]  # (target task, its probe languages)
    low_resource: tuple[str, ...]  # the probed languages among them (every language is_low_resource decides)
    low_resource_max_class: int
    precision: str  # training's autocast (Experiment.precision)
    probe: dict[str, TargetFineTune]  # each fine-tuned probe target: its recipe and the dev set that selects it
    milestone_every: int
    multitask_cap: int
    retrieval_layer: int
    threads: int
    seed: int
    device: str
    max_micro_batch: int | None = None  # resources.max_micro_batch
    group_by_length: bool = False  # intermediate.group_by_length
    compile: bool = False  # intermediate.compile
    replicates: int = 1  # search.replicates
    schedule: str = "linear"  # intermediate.schedule, warmup_steps (resolved), cooldown_fraction and _shape
    warmup_steps: int | None = None
    cooldown_fraction: float = 0.2
    cooldown_shape: str = "linear"

    def setup_training(self, spec: TaskSpec, seed: int, checkpoint: str | None = None) -> TrainingSetup:
        """The set-up of an intermediate task (the multi-task mixture: its members) on this plan's
        encoder and data, from the pretrained encoder or a checkpoint of the same task."""
        members = [self.registry[m] for m in spec.members]
        return setup_training(
            spec,
            self.encoder,
            self.source,
            seed,
            checkpoint=checkpoint,
            members=members,
            multitask_cap=self.multitask_cap,
        )


def world_spec(exp: Experiment) -> WorldSpec:
    return WorldSpec(seed=exp.seed, languages=tuple(exp.target.languages))


def resolve_source(ctx: ExperimentContext, prepare: bool) -> DataSource:
    """Return the data source; for `offline`, write (or verify) the generated world."""
    exp, base, registry = ctx.exp, ctx.base, ctx.registry
    cache = (base / exp.cache_dir).resolve()
    if exp.source == "hub":
        return DataSource("hub", None, cache / "hf")
    if exp.source == "offline":
        spec = world_spec(exp)
        root = write_world(spec, cache, registry) if prepare else cache / f"world-{spec.digest()}"
        return DataSource("local", root, cache / "hf")
    return DataSource("local", (base / exp.source).resolve(), cache / "hf")


def resolve_encoder(ctx: ExperimentContext, source: DataSource, prepare: bool) -> str:
    """Return the encoder's name_or_path; for `offline`, build the tiny pretrained XLM-R once."""
    exp, base = ctx.exp, ctx.base
    if exp.model != "offline":
        return str((base / exp.model).resolve()) if exp.model.startswith((".", "/", "~")) else exp.model

    cfg = EncoderConfig(seed=exp.seed, **exp.encoder.model_dump())
    digest = hashlib.sha256(repr(cfg).encode()).hexdigest()[:8]
    out = (base / exp.cache_dir).resolve() / f"encoder-{world_spec(exp).digest()}-{digest}"
    if prepare:
        prepare_encoder(sorted((Path(source.root or ".") / "text").glob("*.txt")), out, cfg, exp.device)
    return str(out)


def provenance(plan: TrialPlan, splits: Sequence[Split]) -> dict[str, Any]:
    """What a run records about its inputs: the data source, the encoder and the dtypes it trains in, and per
    split read the rows featurised and how many were dropped or truncated (`models.setup.split_stats`)."""

    stats = {}
    for spec, split, lang in splits:
        counts = split_stats(plan.encoder, plan.source, spec, split, lang)
        stats[f"{spec.name}/{split}/{lang}"] = counts
    return {
        "data source": plan.source.label,
        "encoder": plan.encoder,
        "checkpoint dtype": checkpoint_dtype(plan.encoder),
        "training dtype": f"{str(TRAIN_DTYPE).removeprefix('torch.')} master weights; training precision "
        f"{plan.precision}: "
        + (
            "bf16 autocast on CPU and on CUDA devices that support it"
            if plan.precision == "bf16"
            else "fp32"
            if plan.precision == "fp32"
            else "bf16 autocast on CUDA devices that support it, fp32 on CPU"
        )
        + f"; scoring autocasts to bf16 on CUDA devices that support it (device: {plan.device})",
        "splits": stats,
    }


def check_splits(splits: Sequence[Split], encoder: str, source: DataSource) -> None:
    """Featurise every split once (bad labels or rows fail here, not inside a Ray worker), keeping no copy."""
    try:
        for spec, split, lang in splits:
            features_for(encoder, source, spec, split, lang)
    finally:
        clear_feature_cache()


def check_inputs(
    ctx: ExperimentContext,
    *,
    splits: Sequence[Split] | None = None,
    prepare: bool = True,
    stage: Stage = "probe",
) -> None:
    """Refuse a bad data file among `splits` (default: the sweep's) with one `DataError` line before any work:
    reads and parses every file of the data and writes nothing beside it (`tasks.checks`; the offline world,
    which `prepare` generates, is written or verified first); callers run it before Ray starts."""
    exp = ctx.exp
    registry = stage_registry(exp, ctx.registry, stage)
    source = resolve_source(replace(ctx, registry=registry), prepare)
    check_splits_readable(sweep_splits(exp, registry) if splits is None else splits, source)


def make_plan(
    ctx: ExperimentContext,
    *,
    splits: Sequence[Split] | None = None,
    prepare: bool = True,
    stage: Stage = "probe",
    checked: bool = False,
) -> TrialPlan:
    """Prepare data and encoder (when `prepare`), check that every split of `splits` (default: the sweep's) is
    readable (`check_inputs`; `checked`: the caller did so already), then that it loads and featurises, and
    return the plan; its registry has the `stage`'s sequence lengths."""
    if not checked:
        check_inputs(ctx, splits=splits, prepare=prepare, stage=stage)
    exp = ctx.exp
    registry = stage_registry(exp, ctx.registry, stage)
    source = resolve_source(replace(ctx, registry=registry), prepare)
    splits = sweep_splits(exp, registry) if splits is None else splits
    encoder = resolve_encoder(ctx, source, prepare)
    check_splits(splits, encoder, source)
    probe = stage_fine_tunes(exp, registry, "probe")
    return TrialPlan(
        encoder=encoder,
        source=source,
        registry=registry,
        targets=tuple((t, tuple(exp.target.langs_for(registry[t]))) for t in exp.target.tasks),
        low_resource=tuple(low_resource_langs(exp.target.languages, exp.target.low_resource_max_class)),
        low_resource_max_class=exp.target.low_resource_max_class,
        precision=exp.precision,
        probe=probe,
        milestone_every=exp.intermediate.milestone_every,
        multitask_cap=exp.intermediate.multitask_cap,
        retrieval_layer=exp.target.retrieval_layer,
        threads=max(1, int(exp.resources.cpu)),
        max_micro_batch=exp.resources.max_micro_batch,
        group_by_length=exp.intermediate.group_by_length,
        compile=exp.intermediate.compile,
        replicates=exp.search.replicates,
        schedule=exp.intermediate.schedule,
        warmup_steps=exp.intermediate.warmup,
        cooldown_fraction=exp.intermediate.cooldown_fraction,
        cooldown_shape=exp.intermediate.cooldown_shape,
        seed=exp.seed,
        device=exp.device,
    )
