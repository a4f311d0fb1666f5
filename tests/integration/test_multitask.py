import pytest
import torch

from tests.helpers.models import tiny_model, toy_data
from xstilts.models.multitask import build_multitask, load_multitask, mixing_weights, multitask_collate
from xstilts.models.predict import classification_collate
from xstilts.models.train import TrainConfig, train
from xstilts.tasks.registry import build_registry

pytestmark = pytest.mark.integration
REG = build_registry()
SPECS = [REG["mnli"], REG["sst2"], REG["qqp"]]


def test_mixing_is_proportional_with_a_cap():
    w = mixing_weights({"mnli": 392_702, "qqp": 363_846, "ccg": 38_000, "commonsense_qa": 9_741}, cap=16_384)
    assert w["mnli"] == w["qqp"] == w["ccg"]  # all capped at 16384
    assert w["commonsense_qa"] == pytest.approx(9_741 / (3 * 16_384 + 9_741))
    with pytest.raises(ValueError):
        mixing_weights({"a": 0}, cap=10)


def test_heads_share_one_encoder_and_all_train(tmp_path):
    model = build_multitask(tiny_model(), SPECS, seed=0)
    encoders = {id(m.base_model) for m in model.tasks.values()}
    assert len(encoders) == 1
    assert model.tasks["sst2"].classifier.out_proj.out_features == 2
    before = {n: m.classifier.out_proj.weight.clone() for n, m in model.tasks.items()}
    data = {s.name: {**toy_data(), "labels": [y % s.num_labels for y in toy_data()["labels"]]} for s in SPECS}
    weights = mixing_weights({n: 40 for n in data}, cap=100)
    collate = multitask_collate({n: classification_collate(1) for n in data}, data, weights)
    train(model, {"input_ids": [0] * 40}, collate, TrainConfig(max_steps=30, lr=5e-3, batch_size=8, device="cpu"))
    for name, m in model.tasks.items():  # every head was sampled and updated
        assert not torch.equal(before[name], m.classifier.out_proj.weight), name

    model.save_pretrained(str(tmp_path / "ck"))
    again = load_multitask(tmp_path / "ck", SPECS)
    for name in model.names:
        a, b = model.tasks[name].state_dict(), again.tasks[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
