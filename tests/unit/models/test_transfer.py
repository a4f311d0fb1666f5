"""The probe: retrieval targets use the encoder as it is, at the configured layer; the source is untouched."""

import torch

from tests.helpers.models import tiny_model
from xstilts.models import retrieval
from xstilts.models.transfer import TargetData, fork_and_evaluate
from xstilts.tasks.registry import build_registry


def test_retrieval_probe_uses_the_configured_layer_and_no_training(monkeypatch):
    seen = []

    def fake_predictions(model, features, pad_id, layer=retrieval.DEFAULT_LAYER, device="auto"):
        seen.append((model, layer))
        return [0, 2, 1]  # one of three right

    monkeypatch.setattr(retrieval, "tatoeba_predictions", fake_predictions)
    source = tiny_model()
    before = {k: v.clone() for k, v in source.state_dict().items()}
    target = TargetData(build_registry()["tatoeba"], None, {"de": {}, "sw": {}}, pad_id=1, layer=3)
    out = fork_and_evaluate(source, [target], {}, 0, low_resource=["sw"], device="cpu")
    assert seen == [(source, 3), (source, 3)]
    assert out["probe/tatoeba/de"] == out["probe/tatoeba/sw"] == out["mean"] == out["low_resource_mean"] == 100 / 3
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in before.items())
