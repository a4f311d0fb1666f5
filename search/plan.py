"""Resolve an experiment into a `TrialPlan`: data source, encoder and recipes, prepared and checked
in the driver before Ray starts (a bad file fails here, with nothing written)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from xstilts.models.train import TrainConfig
from xstilts.search.config import Experiment
from xstilts.tasks.languages import low_resource_langs
from xstilts.tasks.loading import DataSource, describe, load_split
from xstilts.tasks.registry import build_registry
from xstilts.tasks.world import WorldSpec, write_world


@dataclass(frozen=True)
class TrialPlan:
    """Everything a trial needs that is not searched; passed to trials with tune.with_parameters."""

    encoder: str  # local directory or hub id
    source: DataSource
    target_task: str
    languages: tuple[str, ...]
    low_resource: tuple[str, ...]
    target_recipe: TrainConfig
    milestone_every: int
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
    out = (base / exp.cache_dir).resolve() / f"encoder-{world_spec(exp).digest()}-{_digest(cfg)}"
    if prepare:
        prepare_encoder(sorted((Path(source.root) / "text").glob("*.txt")), out, cfg, exp.device)
    return str(out)


def _digest(obj) -> str:
    import hashlib
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:8]


def make_plan(exp: Experiment, base: Path, prepare: bool = True) -> TrialPlan:
    """Prepare data and encoder (when `prepare`), check every split loads and featurises, return the plan."""
    registry = build_registry()
    source = resolve_source(exp, base, prepare)
    target = registry[exp.target.task]
    splits = [(t, "train", "en") for t in exp.intermediate.tasks if registry[t].sources]
    splits += [(target.name, "train", "en")] + [(target.name, "dev", lang) for lang in exp.target.languages]
    for task, split, lang in splits:  # a missing or unreadable file fails before anything is built
        load_split(registry[task], split, lang, source)
    encoder = resolve_encoder(exp, base, source, prepare)
    for task, split, lang in splits:  # bad labels fail here, not inside a trial
        features_for(encoder, source, task, split, lang)
    recipe = TrainConfig(max_steps=exp.target.steps, lr=exp.target.lr, batch_size=exp.target.batch_size,
                         seed=exp.seed, device=exp.device)
    return TrialPlan(
        encoder=encoder, source=source, target_task=target.name, languages=tuple(exp.target.languages),
        low_resource=tuple(low_resource_langs(exp.target.languages, exp.target.low_resource_max_class)),
        target_recipe=recipe, milestone_every=exp.intermediate.milestone_every,
        threads=max(1, int(exp.resources.cpu)), seed=exp.seed, device=exp.device)


@functools.lru_cache(maxsize=8)
def tokenizer_for(encoder: str):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(encoder)


@functools.lru_cache(maxsize=32)
def features_for(encoder: str, source: DataSource, task: str, split: str, lang: str) -> dict[str, list]:
    """Featurised split, cached per process (reused actors keep it across trials)."""
    from xstilts.tasks.features import featurize

    spec = build_registry()[task]
    return featurize(load_split(spec, split, lang, source), spec, tokenizer_for(encoder),
                     where=describe(spec, split, lang, source))
