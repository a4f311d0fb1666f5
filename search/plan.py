"""Resolve an experiment into a `TrialPlan`: data source, encoder and recipes, prepared and checked
in the driver before Ray starts (a bad file fails here, with nothing written)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from xstilts.models.train import TrainConfig
from xstilts.search.config import Experiment
from xstilts.tasks.languages import low_resource_langs
from xstilts.tasks.loading import DataError, DataSource, describe, load_split, read_bucc
from xstilts.tasks.registry import TaskSpec, build_registry
from xstilts.tasks.world import WorldSpec, write_world


@dataclass(frozen=True)
class TrialPlan:
    """Everything a trial needs that is not searched; passed to trials with tune.with_parameters."""

    encoder: str  # local directory or hub id
    source: DataSource
    targets: tuple[tuple[str, tuple[str, ...]], ...]  # (target task, its probe languages)
    low_resource: tuple[str, ...]
    target_recipe: TrainConfig
    milestone_every: int
    multitask_cap: int
    retrieval_layer: int
    threads: int
    seed: int
    device: str


def world_spec(exp: Experiment) -> WorldSpec:
    return WorldSpec(seed=exp.seed, languages=tuple(exp.target.languages))


def resolve_source(exp: Experiment, base: Path, prepare: bool) -> DataSource:
    """Return the data source; for `offline`, write (or verify) the generated world."""
    cache = (base / exp.cache_dir).resolve()
    if exp.source == "hub":
        return DataSource("hub", None, cache / "hf")
    if exp.source == "offline":
        root = write_world(world_spec(exp), cache) if prepare else cache / f"world-{world_spec(exp).digest()}"
        return DataSource("local", root, cache / "hf")
    return DataSource("local", (base / exp.source).resolve(), cache / "hf")


def resolve_encoder(exp: Experiment, base: Path, source: DataSource, prepare: bool) -> str:
    """Return the encoder's name_or_path; for `offline`, build the tiny pretrained XLM-R once."""
    if exp.model != "offline":
        return str((base / exp.model).resolve()) if exp.model.startswith((".", "/", "~")) else exp.model
    from xstilts.models.pretrain import EncoderConfig, prepare_encoder

    cfg = EncoderConfig(seed=exp.seed, **exp.encoder.model_dump())
    digest = hashlib.sha256(repr(cfg).encode()).hexdigest()[:8]
    out = (base / exp.cache_dir).resolve() / f"encoder-{world_spec(exp).digest()}-{digest}"
    if prepare:
        prepare_encoder(sorted((Path(source.root) / "text").glob("*.txt")), out, cfg, exp.device)
    return str(out)


def intermediate_specs(exp: Experiment) -> list[TaskSpec]:
    """The trainable intermediate tasks of the experiment (multitask brings its members)."""
    registry = build_registry()
    names = list(exp.intermediate.tasks)
    if "multitask" in names:
        names += list(registry["multitask"].members)
    return [registry[n] for n in dict.fromkeys(names) if registry[n].sources]


def needed_splits(exp: Experiment) -> list[tuple[str, str, str]]:
    """(task, split, lang) of every split a sweep reads."""
    registry = build_registry()
    splits = [(spec.name, "train", "en") for spec in intermediate_specs(exp)]
    for task in exp.target.tasks:
        if "train" in registry[task].sources:
            splits.append((task, "train", "en"))
        splits += [(task, "dev", lang) for lang in exp.target.langs_for(task)]
    return splits


def make_plan(exp: Experiment, base: Path, prepare: bool = True) -> TrialPlan:
    """Prepare data and encoder (when `prepare`), check every split loads and featurises, return the plan."""
    registry = build_registry()
    source = resolve_source(exp, base, prepare)
    splits = needed_splits(exp)
    for task, split, lang in splits:  # a missing or unreadable file fails before anything is built
        if registry[task].adapter != "bucc":
            load_split(registry[task], split, lang, source)
        elif source.kind == "local":
            read_bucc(Path(source.root), registry[task], split, lang)
        else:
            raise DataError("task bucc2018 is not on the hub (its candidate pools come from XTREME's "
                            "download script); set `source` to a directory holding bucc2018/")
    encoder = resolve_encoder(exp, base, source, prepare)
    for task, split, lang in splits:  # bad labels fail here, not inside a trial
        features_for(encoder, source, task, split, lang)
    recipe = TrainConfig(max_steps=exp.target.steps, lr=exp.target.lr, batch_size=exp.target.batch_size,
                         seed=exp.seed, device=exp.device)
    return TrialPlan(
        encoder=encoder, source=source,
        targets=tuple((t, tuple(exp.target.langs_for(t))) for t in exp.target.tasks),
        low_resource=tuple(low_resource_langs(exp.target.languages, exp.target.low_resource_max_class)),
        target_recipe=recipe, milestone_every=exp.intermediate.milestone_every,
        multitask_cap=exp.intermediate.multitask_cap, retrieval_layer=exp.target.retrieval_layer, threads=max(1, int(exp.resources.cpu)), seed=exp.seed,
        device=exp.device)


def release_plan_check() -> None:
    """Drop this process's cached features (the driver's, after `make_plan` checked every split)."""
    from xstilts.models.train import release_memory

    features_for.cache_clear()
    release_memory()


@functools.lru_cache(maxsize=8)
def tokenizer_for(encoder: str):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(encoder)


@functools.lru_cache(maxsize=8)
def tag_labels(encoder: str, source: DataSource, task: str) -> tuple[str, ...] | None:
    """The tag inventory of a tagging task that declares none (CCG): read off its training data."""
    from xstilts.tasks.features import tag_inventory

    spec = build_registry()[task]
    if spec.kind != "tagging" or spec.labels:
        return None
    return tag_inventory(load_split(spec, "train", "en", source).to_dict())


@functools.lru_cache(maxsize=256)  # evaluate: 9 targets x languages x 2 splits
def features_for(encoder: str, source: DataSource, task: str, split: str, lang: str):
    """Featurised split (training features for train, eval features otherwise), cached per process
    (reused actors keep it across trials). BUCC returns (features, gold id pairs)."""
    from xstilts.tasks.features import effective_max_len, featurize, featurize_bucc

    spec = build_registry()[task]
    tok = tokenizer_for(encoder)
    if spec.adapter == "bucc":
        src, tgt, gold = read_bucc(Path(source.root), spec, split, lang)
        return featurize_bucc(src, tgt, tok, effective_max_len(spec, tok)), gold
    return featurize(load_split(spec, split, lang, source), spec, tok, where=describe(spec, split, lang, source),
                     training=split == "train", labels=tag_labels(encoder, source, task))
