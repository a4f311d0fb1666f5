"""A target fine-tune by its recipe: epochs become optimizer steps, dev evaluation keeps the best weights,
patience stops early, and the selection rule decides which dev languages choose the checkpoint."""

import math
from dataclasses import replace

import pytest
import torch

from tests.helpers.models import tiny_model, toy_data
from xstilts.models import transfer
from xstilts.models.predict import classification_collate
from xstilts.models.train import TrainConfig
from xstilts.models.transfer import (
    TargetData,
    TargetFineTune,
    fine_tune,
    probe_target,
    recipe_config,
    selection_score,
)
from xstilts.tasks.registry import Recipe, build_registry

pytestmark = pytest.mark.integration


def weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_epochs_become_optimizer_steps_over_the_effective_batch_and_micro_batches_keep_it():
    xnli = build_registry()["xnli"].recipe
    assert (xnli.epochs, xnli.lr, xnli.effective_batch, xnli.eval_every, xnli.patience) == (2, 1e-5, 32, 1000, 30)
    cfg = recipe_config(xnli, 392_702)
    assert cfg.max_steps == math.ceil(2 * 392_702 / 32) == 24_544 and (cfg.batch_size, cfg.grad_accum) == (4, 8)
    assert (cfg.eval_every, cfg.patience, cfg.lr) == (1000, 30, 1e-5)
    capped = recipe_config(Recipe(steps=7, batch_size=32, grad_accum=1), 10, max_micro_batch=8)
    assert (capped.max_steps, capped.batch_size, capped.grad_accum) == (7, 8, 4)


def test_the_best_evaluation_is_kept_and_patience_stops_training():
    model, data = tiny_model(), toy_data()
    seen: dict[int, dict] = {}
    dev = iter([0.5, 0.9, 0.7, 0.6, 0.95, 0.1])  # best at the 2nd evaluation, then 2 without improvement

    def dev_score(m) -> float:
        seen[len(seen) + 1] = weights(m)
        return next(dev)

    cfg = TrainConfig(max_steps=12, lr=5e-3, batch_size=8, eval_every=2, patience=2, device="cpu")
    result = fine_tune(model, data, classification_collate(1), cfg, dev_score)
    assert (result.steps, result.best_step, result.best_score) == (8, 4, 0.9)  # stopped at step 8 (4th eval)
    assert len(seen) == 4 and same(weights(model), seen[2]) and not same(weights(model), seen[4])


def test_without_patience_it_runs_to_the_end_and_keeps_the_best():
    model, data = tiny_model(), toy_data()
    scores = iter([0.1, 0.2, 0.8, 0.3])
    kept: list[dict] = []

    def dev_score(m) -> float:
        kept.append(weights(m))
        return next(scores)

    cfg = TrainConfig(max_steps=8, lr=5e-3, batch_size=8, eval_every=2, patience=0, device="cpu")
    result = fine_tune(model, data, classification_collate(1), cfg, dev_score)
    assert (result.steps, result.best_step) == (8, 6) and same(weights(model), kept[2])


def test_no_dev_evaluation_keeps_the_final_model():
    model, data = tiny_model(), toy_data()
    calls = []
    cfg = TrainConfig(max_steps=4, lr=5e-3, batch_size=8, eval_every=0, patience=5, device="cpu")
    result = fine_tune(model, data, classification_collate(1), cfg, lambda m: calls.append(1) or 1.0)
    assert calls == [] and result.steps == result.best_step == 4 and math.isnan(result.best_score)


def test_selection_scores_english_or_the_target_languages():
    scores = {"en": 80.0, "de": 60.0, "sw": 40.0}
    assert selection_score(scores, "english_dev") == 80.0
    assert selection_score(scores, "target_dev") == 50.0
    with pytest.raises(ValueError, match="selection"):
        selection_score(scores, "test")


@pytest.mark.parametrize(("selection", "asked"), [("english_dev", ["en"]), ("target_dev", ["de", "sw"])])
def test_the_probe_selects_its_checkpoint_on_the_rule_s_dev_languages(monkeypatch, selection, asked):
    spec = build_registry()["xnli"]
    calls: list = []

    def fake_dev_scores(self, model, device, langs=None):
        calls.append(langs)
        return {lang: 50.0 for lang in (langs or self.dev)}

    monkeypatch.setattr(transfer.TargetData, "dev_scores", fake_dev_scores)
    monkeypatch.setattr(transfer, "transfer_encoder", lambda source, spec, seed, labels: tiny_model())
    data = toy_data()
    target = TargetData(spec, data, {"en": {}, "de": {}, "sw": {}}, pad_id=1)
    recipe = Recipe(steps=4, lr=1e-3, batch_size=8, grad_accum=1, eval_every=2, patience=0)
    probe_target(tiny_model(), target, TargetFineTune(recipe, selection=selection, device="cpu"), 0, "cpu")
    assert calls == [asked, asked, None]  # steps 2 and 4 select; then every language is scored


def test_a_frozen_encoder_trains_only_the_head_and_length_grouping_reaches_the_loop():
    from xstilts.models.transfer import freeze_if

    recipe = Recipe(steps=6, lr=5e-2, batch_size=8, grad_accum=1, eval_every=0, freeze_encoder=True)
    cfg = recipe_config(replace(recipe, group_by_length=True), 40, device="cpu")
    assert cfg.group_by_length and cfg.max_steps == 6
    model = tiny_model(dropout=0.0)
    before = weights(model)
    freeze_if(model, recipe)
    fine_tune(model, toy_data(), classification_collate(1), cfg, None)
    after = weights(model)
    encoder = [k for k in before if k.startswith("roberta.")]
    head = [k for k in before if k.startswith("classifier.")]
    assert encoder and head
    assert all(torch.equal(before[k], after[k]) for k in encoder)
    assert any(not torch.equal(before[k], after[k]) for k in head)
    trained = tiny_model(dropout=0.0)
    freeze_if(trained, replace(recipe, freeze_encoder=False))  # not frozen: the encoder moves too
    fine_tune(trained, toy_data(), classification_collate(1), cfg, None)
    assert any(not torch.equal(before[k], weights(trained)[k]) for k in encoder)
