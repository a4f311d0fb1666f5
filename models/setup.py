"""Set-up of training and evaluation runs: featurised splits (memory-mapped from the node's feature cache,
and kept mapped per process, so reused Ray workers keep them across trials), the (model, data, collate) a
training run starts from for one task or the multi-task mixture, the probe targets' data, and an evaluation
job's fine-tuned model and scoring."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xstilts.models.heads import from_pretrained, load_for_task, quiet_transformers
from xstilts.models.multitask import build_multitask, load_multitask, mixing_weights, multitask_collate
from xstilts.models.retrieval import DEFAULT_LAYER
from xstilts.models.scoring import collate_for, evaluate_split
from xstilts.models.train import Model, release_memory
from xstilts.models.transfer import TargetData, TargetFineTune, fine_tune_target, selection_langs
from xstilts.tasks.feature_cache import FeatureTable, load_features
from xstilts.tasks.features import tag_inventory
from xstilts.tasks.loading import DataSource, load_split
from xstilts.tasks.metrics import get_metric
from xstilts.tasks.registry import TaskSpec


@functools.lru_cache(maxsize=8)
def tokenizer_for(encoder: str) -> Any:
    """The encoder's tokenizer (AutoTokenizer), once per process."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(encoder)


@functools.lru_cache(maxsize=32)
def tag_labels(source: DataSource, spec: TaskSpec) -> tuple[str, ...] | None:
    """The tag inventory of a tagging task that declares none (CCG): read off its training data (in Arrow,
    without turning the split into Python lists)."""
    if spec.kind != "tagging" or spec.labels:
        return None
    return tag_inventory(load_split(spec, "train", "en", source))


@functools.lru_cache(maxsize=256)  # evaluate: 9 targets x languages x 2 splits
def features_for(encoder: str, source: DataSource, spec: TaskSpec, split: str, lang: str) -> FeatureTable:
    """Featurised split (training features for train, eval features with their gold otherwise), mapped from
    the node's feature cache (featurised there by the first process that needs it)."""
    return load_features(spec, split, lang, source, tokenizer_for(encoder), labels=tag_labels(source, spec))


def split_stats(encoder: str, source: DataSource, spec: TaskSpec, split: str, lang: str) -> dict[str, int]:
    """What featurising one split counted, for the run's provenance: {"rows", "dropped", "truncated"}, plus
    the kind's own counts (tagging: empty_words, cut_words; spans: unanswerable and its reasons). Read from the
    feature cache (the split is featurised first if it is not there yet, as `features_for` does)."""
    return dict(features_for(encoder, source, spec, split, lang).stats)


def clear_feature_cache() -> None:
    """Drop this process's featurised splits and hand their memory back (e.g. after the driver's check)."""
    features_for.cache_clear()
    release_memory()


@dataclass
class TrainingSetup:
    """What `train` starts from: the model, its featurised data and the collate of its batches."""

    model: Model
    data: Mapping[str, Sequence]
    collate: Callable


def setup_training(
    spec: TaskSpec,
    encoder: str,
    source: DataSource,
    seed: int,
    *,
    checkpoint: str | None = None,
    members: Sequence[TaskSpec] = (),
    multitask_cap: int = 2**14,
) -> TrainingSetup:
    """The set-up of one intermediate task (or the multi-task mixture of `members`) from the pretrained
    encoder, or from a checkpoint of the same task (its trained head(s) kept)."""
    pad_id = tokenizer_for(encoder).pad_token_id
    start = checkpoint or encoder
    if spec.kind == "multitask":
        data = {m.name: features_for(encoder, source, m, "train", "en") for m in members}
        labels = {m.name: tag_labels(source, m) for m in members}
        model = (
            load_multitask(checkpoint, list(members), labels=labels)
            if checkpoint
            else build_multitask(start, list(members), seed=seed, labels=labels)
        )
        sizes = {name: len(next(iter(d.values()))) for name, d in data.items()}
        collate = multitask_collate(
            {m.name: collate_for(m, pad_id) for m in members}, data, mixing_weights(sizes, multitask_cap)
        )
        return TrainingSetup(model, {"index": range(max(sizes.values()))}, collate)
    model = load_for_task(start, spec, seed=seed, labels=tag_labels(source, spec))
    return TrainingSetup(model, features_for(encoder, source, spec, "train", "en"), collate_for(spec, pad_id))


def probe_targets(
    encoder: str, source: DataSource, targets: Sequence[tuple[TaskSpec, Sequence[str]]], layer: int
) -> list[TargetData]:
    """Every probe target's English train features (None for retrieval) and per-language dev features."""
    pad_id = tokenizer_for(encoder).pad_token_id
    out = []
    for spec, langs in targets:
        dev = {lang: features_for(encoder, source, spec, "dev", lang) for lang in langs}
        train_feats = features_for(encoder, source, spec, "train", "en") if "train" in spec.sources else None
        out.append(TargetData(spec, train_feats, dev, pad_id, tag_labels(source, spec), layer))
    return out


def target_model(
    model_dir: str,
    spec: TaskSpec,
    encoder: str,
    source: DataSource,
    how: TargetFineTune | None,
    seed: int,
    dev_langs: Sequence[str] = (),
    layer: int = DEFAULT_LAYER,
) -> Model:
    """An evaluation job's model: the intermediate encoder (save_pretrained directory) under a new head for
    `spec`, fine-tuned on its English training set by `how` (`fine_tune_target`, the probe's too), its kept
    checkpoint chosen on `dev_langs`' dev sets when the recipe evaluates; retrieval targets (`how` None) use
    the encoder as it is."""
    quiet_transformers()
    if spec.kind == "retrieval" or how is None:
        return from_pretrained("retrieval", model_dir)
    labels = tag_labels(source, spec)
    model = load_for_task(model_dir, spec, seed=seed, labels=labels)
    langs = selection_langs(dev_langs, how.selection) if how.recipe.eval_every else []
    dev = {lang: features_for(encoder, source, spec, "dev", lang) for lang in langs}
    train = features_for(encoder, source, spec, "train", "en")
    target = TargetData(spec, train, dev, tokenizer_for(encoder).pad_token_id, labels, layer)
    return fine_tune_target(model, target, how, seed)


def score_split(
    model: Model,
    spec: TaskSpec,
    split: str,
    lang: str,
    encoder: str,
    source: DataSource,
    device: str,
    layer: int,
) -> dict[str, float]:
    """The task's official scores of one split, with avg_metric where the headline averages several (QA) and
    the split's chance score where the metric has one (`chance_level`); a metric tuned on dev (BUCC's
    threshold) is tuned on the dev split when scoring test."""
    metric = get_metric(spec.metric)
    dev = None
    if metric.tuned_on_dev and split != "dev":
        dev = (features_for(encoder, source, spec, "dev", lang), None)
    scores = evaluate_split(
        model,
        spec,
        features_for(encoder, source, spec, split, lang),
        None,
        lang,
        tokenizer_for(encoder).pad_token_id,
        device=device,
        labels=tag_labels(source, spec),
        dev=dev,
        layer=layer,
        with_chance=True,
    )
    return metric.with_headline(scores)
