"""The wsd schedule: a constant rate after a fixed warm-up, each milestone a cooled-down fork of the run."""

import pytest
import torch
from transformers import XLMRobertaForSequenceClassification

from tests.helpers.models import tiny_model, toy_data
from xstilts.models.checkpoint import RESUME_WEIGHTS, load_resume, read_state, resume_weights
from xstilts.models.predict import classification_collate
from xstilts.models.train import TrainConfig, cool_down, cooldown_steps, spent_steps, train

pytestmark = pytest.mark.integration
WSD = TrainConfig(
    max_steps=12, lr=5e-3, batch_size=8, seed=3, device="cpu", eval_every=6, schedule="wsd", warmup_steps=2
)


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_the_fork_leaves_the_run_unchanged_and_its_rate_reaches_the_decay_end():
    """Two wsd runs, one of which asks for (and so trains) each milestone's cooled fork: the runs end with the
    same weights (dropout on: the RNG is the run's own again after a fork), the forks differ from the run, and a
    fork's learning rate ends at 0 after cooldown_fraction of the steps so far."""
    data, collate = toy_data(), classification_collate(1)
    plain, forked = tiny_model(), tiny_model()
    train(plain, data, collate, WSD)
    cooled: dict[int, tuple[list[torch.Tensor], list[torch.Tensor], int]] = {}

    def on_eval(snap):
        fork = snap.model
        cooled[snap.step] = (params(fork), params(snap.main), snap.cooldown_steps)
        assert snap.main is not fork and snap.scheduler.get_last_lr()[0] == pytest.approx(WSD.lr)  # still peak

    train(forked, data, collate, WSD, on_eval=on_eval)
    for p, q in zip(plain.parameters(), forked.parameters()):
        assert torch.equal(p, q)
    assert sorted(cooled) == [6, 12]
    assert [cooled[s][2] for s in (6, 12)] == [1, 2]  # round(0.2 * 6), round(0.2 * 12)
    for fork, main, _ in cooled.values():
        assert any(not torch.equal(a, b) for a, b in zip(fork, main))

    result = cool_down(forked, _optimizer_at(forked), data, collate, WSD, 12)
    assert result.steps == 2 and result.lr_after == 0.0


def _optimizer_at(model) -> torch.optim.Optimizer:
    from xstilts.models.train import _optimizer

    opt = _optimizer(model, WSD, torch.device("cpu"))
    for group in opt.param_groups:
        group["initial_lr"] = WSD.lr
    return opt


def test_the_cooldown_decays_by_its_shape_over_a_fifth_of_the_steps():
    assert [cooldown_steps(WSD, s) for s in (6, 12, 100)] == [1, 2, 20]
    assert cooldown_steps(WSD, 13) == 3  # 2.6 -> 3
    # halves round up (Python's round would give 2 for 2.5)
    assert cooldown_steps(TrainConfig(max_steps=25, schedule="wsd", cooldown_fraction=0.1), 25) == 3
    assert cooldown_steps(TrainConfig(max_steps=10), 10) == 0  # linear: no forks
    assert spent_steps(WSD, 6) == 7 and spent_steps(WSD, 12) == 12 + 1 + 2


def test_a_wsd_checkpoint_holds_the_cooled_model_and_resumes_the_uncooled_run(tmp_path):
    data, collate = toy_data(), classification_collate(1)
    full = tiny_model()
    train(full, data, collate, WSD)
    kept = {}

    def on_eval(snap):
        if snap.step == 6:
            snap.save(tmp_path / "ck")
            kept["cooled"] = params(snap.model)

    train(tiny_model(), data, collate, WSD, on_eval=on_eval)
    ck = tmp_path / "ck"
    assert read_state(ck)["cooldown_steps"] == 1 and (ck / RESUME_WEIGHTS / "model.safetensors").is_file()
    top = XLMRobertaForSequenceClassification.from_pretrained(ck)  # what evaluation and export read
    for p, q in zip(top.parameters(), kept["cooled"]):
        assert torch.equal(p, q)
    resumed = XLMRobertaForSequenceClassification.from_pretrained(resume_weights(ck))
    train(resumed, data, collate, WSD, resume=load_resume(ck))
    for (name, p), q in zip(full.named_parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_an_evaluation_that_draws_from_the_rng_leaves_the_run_as_if_it_had_not_been_evaluated(tmp_path):
    """A probe reseeds torch; the run (dropout on) goes on with its own RNG, so a run retrained without
    evaluations (the evaluation's retrain of a winner) ends with the same weights, and the checkpoint
    holds the RNG state from before the evaluation."""
    data, collate = toy_data(), classification_collate(1)
    quiet, probed = tiny_model(), tiny_model()
    train(quiet, data, collate, WSD)

    def on_eval(snap):
        before = snap.rng.clone()
        torch.manual_seed(1234)  # what a probe's fine-tune does
        torch.rand(100)
        if snap.step == 6:
            snap.save(tmp_path / "ck")
            assert torch.equal(load_resume(tmp_path / "ck").torch_rng, before)

    train(probed, data, collate, WSD, on_eval=on_eval)
    for p, q in zip(quiet.parameters(), probed.parameters()):
        assert torch.equal(p, q)


def test_a_warm_up_past_the_first_milestone_is_refused():
    from dataclasses import replace

    with pytest.raises(ValueError, match="warm-up of 8 steps ends after the first milestone"):
        train(tiny_model(), toy_data(), classification_collate(1), replace(WSD, warmup_steps=8))


def test_out_of_memory_in_the_cooldown_says_the_fork_needs_a_second_model(monkeypatch):
    import xstilts.models.train as train_module

    def out_of_memory(*args, **kwargs):
        raise train_module.OutOfMemory("CUDA out of memory at batch size 8")

    model = tiny_model()
    monkeypatch.setattr(train_module, "_optimizer_step", out_of_memory)
    with pytest.raises(train_module.OutOfMemory, match="cooldown of the milestone at step 6.*copy of the model"):
        cool_down(model, _optimizer_at(model), toy_data(), classification_collate(1), WSD, 6)
