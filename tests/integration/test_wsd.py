"""The wsd schedule: a constant rate after a fixed warm-up, each milestone a cooled-down fork of the run."""

import pytest
import torch
from transformers import XLMRobertaForSequenceClassification

from tests.integration.test_train import tiny_model, toy_data
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
