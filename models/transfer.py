"""Target fine-tunes: a target's recipe as a `TrainConfig`, the English fine-tune with dev evaluation and
early stopping (the best evaluation's weights are kept), and the zero-shot transfer probe (from an encoder
in memory, fine-tune a copy briefly on each target's English data, retrieval targets use the encoder as it
is, and score every probe language's dev set with the task's official metric)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from xstilts.models.heads import transfer_encoder
from xstilts.models.retrieval import DEFAULT_LAYER
from xstilts.models.scoring import collate_for, evaluate_split
from xstilts.models.train import Collate, Data, Model, Snapshot, TrainConfig, cap_micro_batch, train
from xstilts.tasks.aggregate import probe_key, summarize_probe
from xstilts.tasks.metrics import headline
from xstilts.tasks.registry import Recipe, TaskSpec

# Which dev set a target fine-tune keeps its best checkpoint by (the experiment's evaluation.selection):
# english_dev: the English dev set (XTREME's strict zero-shot setting); target_dev: the mean over the
# target languages' dev sets (an "oracle" protocol: Keung et al. 2020).
SELECTIONS = ("english_dev", "target_dev")


def recipe_config(
    recipe: Recipe,
    examples: int,
    *,
    seed: int = 0,
    device: str = "auto",
    max_micro_batch: int | None = None,
    precision: str = "auto",
    **loop: Any,
) -> TrainConfig:
    """The training run of `recipe` on a training set of `examples` rows (epochs become optimizer steps),
    split into micro-batches of at most `max_micro_batch` (the effective batch is kept); `loop`: further
    TrainConfig fields (the intermediate runs' schedule, compile). The one way a recipe becomes a run."""
    cfg = TrainConfig(
        max_steps=recipe.optimizer_steps(examples),
        lr=recipe.lr,
        batch_size=recipe.batch_size,
        grad_accum=recipe.grad_accum,
        warmup_ratio=recipe.warmup_ratio,
        eval_every=recipe.eval_every,
        patience=recipe.patience,
        seed=seed,
        device=device,
        group_by_length=recipe.group_by_length,
        precision=precision,
        **loop,
    )
    return cap_micro_batch(cfg, max_micro_batch)


def freeze_if(model: Model, recipe: Recipe) -> None:
    """With `recipe.freeze_encoder`, only the head trains: the encoder's weights keep their values (no
    gradient, so AdamW leaves them alone) and backward stops at the head."""
    if recipe.freeze_encoder:
        for p in model.base_model.parameters():
            p.requires_grad_(False)


def rows_of(data: Data) -> int:
    return len(next(iter(data.values())))


@dataclass
class FineTuneResult:
    steps: int  # optimizer steps run (fewer than cfg.max_steps when it stopped early)
    best_step: int  # the step whose weights the model now has
    best_score: float  # its dev score (NaN when nothing was evaluated: eval_every 0)


def fine_tune(
    model: Model, data: Data, collate: Collate, cfg: TrainConfig, dev_score: Callable[[Model], float] | None
) -> FineTuneResult:
    """Train `model` by `cfg`. With cfg.eval_every > 0 and a `dev_score`, the model is scored every
    eval_every steps and at the end; the best score's weights (the first, on ties) are restored at the
    end, and training stops after cfg.patience evaluations without improvement (0: runs to the end).
    Otherwise the final model is kept."""
    if not cfg.eval_every or dev_score is None:
        result = train(model, data, collate, cfg)
        return FineTuneResult(result.steps, result.steps, math.nan)
    best: dict = {"score": -math.inf, "step": 0, "state": None, "stale": 0}

    def on_eval(snap: Snapshot) -> bool:
        score = dev_score(snap.model)
        if score > best["score"]:  # NaN never improves
            state = {k: v.detach().to("cpu", copy=True) for k, v in snap.model.state_dict().items()}
            best.update(score=score, step=snap.step, state=state, stale=0)
        else:
            best["stale"] += 1
        return bool(cfg.patience) and best["stale"] >= cfg.patience

    result = train(model, data, collate, cfg, on_eval=on_eval)
    if best["state"] is not None and best["step"] != result.steps:
        with torch.no_grad():
            model.load_state_dict(best["state"])
    return FineTuneResult(result.steps, best["step"] or result.steps, best["score"])


def selection_langs(langs: Iterable[str], selection: str) -> list[str]:
    """The dev languages a fine-tune is selected on: English (english_dev) or the others (target_dev)."""
    return [lang for lang in langs if (lang == "en") == (selection == "english_dev")]


def selection_score(scores: Mapping[str, float], selection: str) -> float:
    """The dev score a fine-tune is selected by: English (english_dev) or the mean over the other languages."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if selection == "english_dev":
        return scores.get("en", math.nan)
    others = [v for lang, v in scores.items() if lang != "en"]
    return sum(others) / len(others) if others else math.nan


@dataclass
class TargetData:
    """Featurised English train set (None for retrieval) and per-language dev sets of one target task."""

    spec: TaskSpec
    train: Data | None
    dev: Mapping[str, Data]  # lang -> eval features (gold included)
    pad_id: int
    labels: tuple[str, ...] | None = None  # tag inventory when the spec declares none
    layer: int = DEFAULT_LAYER  # retrieval: hidden layer mean-pooled (clamped to the encoder's depth)

    def dev_scores(self, model: Model, device: str, langs: list[str] | None = None) -> dict[str, float]:
        """lang -> headline dev score (accuracy, F1, or (EM + F1) / 2 for QA) of `langs` (default: all)."""
        return {
            lang: headline(
                self.spec,
                evaluate_split(
                    model,
                    self.spec,
                    feats,
                    None,
                    lang,
                    self.pad_id,
                    device=device,
                    labels=self.labels,
                    layer=self.layer,
                ),
            )
            for lang, feats in self.dev.items()
            if langs is None or lang in langs
        }


@dataclass(frozen=True)
class TargetFineTune:
    """How a target task is fine-tuned on English, by the sweep's probe and by the evaluation alike: its
    recipe, and the dev set that selects the kept checkpoint when the recipe evaluates during training."""

    recipe: Recipe
    selection: str = "english_dev"
    device: str = "auto"
    max_micro_batch: int | None = None
    precision: str = "auto"  # the fine-tune's autocast (models/train.py PRECISIONS)


def fine_tune_target(model: Model, target: TargetData, how: TargetFineTune, seed: int) -> Model:
    """`model` (the encoder under `target`'s head) fine-tuned on `target.train` by `how`; with a recipe that
    evaluates during training, the checkpoint kept is the best on `target.dev`'s selection languages."""
    assert target.train is not None, f"{target.spec.name}: no training set to fine-tune on"
    freeze_if(model, how.recipe)
    cfg = recipe_config(
        how.recipe,
        rows_of(target.train),
        seed=seed,
        device=how.device,
        max_micro_batch=how.max_micro_batch,
        precision=how.precision,
    )
    select = selection_langs(target.dev, how.selection)

    def dev_score(m: Model) -> float:
        return selection_score(target.dev_scores(m, how.device, select), how.selection)

    fine_tune(model, target.train, collate_for(target.spec, target.pad_id), cfg, dev_score if select else None)
    return model


def probe_target(
    source: Model, target: TargetData, how: TargetFineTune | None, seed: int, device: str = "auto"
) -> dict[str, float]:
    """lang -> headline dev score of one target on `device`: a copy of `source` under the target's head,
    fine-tuned by `how` (retrieval, `how` None: `source` as it is)."""
    model = source
    if target.train is not None and how is not None:
        model = fine_tune_target(
            transfer_encoder(source, target.spec, seed=seed, labels=target.labels), target, how, seed
        )
    return target.dev_scores(model, device)


def fork_and_evaluate(
    source: Model,
    targets: list[TargetData],
    fine_tunes: Mapping[str, TargetFineTune],
    seed: int,
    low_resource: list[str],
    device: str = "auto",
) -> dict[str, float | str]:
    """Probe every target from `source` (left untouched), each fine-tuned by `fine_tunes[task]` (retrieval
    targets have none) and scored on `device`.

    Returns `probe/<task>/<lang>` scores plus mean, low_resource_mean, worst and worst_lang over the
    non-English languages (tasks weighted equally, as XTREME averages tasks).
    """
    was_training = source.training
    scores = {t.spec.name: probe_target(source, t, fine_tunes.get(t.spec.name), seed, device) for t in targets}
    source.train(was_training)
    out: dict[str, float | str] = {
        probe_key(task, lang): s for task, langs in scores.items() for lang, s in langs.items()
    }
    out.update(summarize_probe(scores, low_resource))
    return out
