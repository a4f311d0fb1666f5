"""The offline world is learnable and transfers: MNLI, then a short XNLI-English fine-tune, then zero-shot.

The two controls run the same pipeline with a broken label mapping and with a head transfer that loses
the encoder: both must fall below the bar, so a regression of either kind fails this test.
"""

from dataclasses import replace

import pytest
import torch

from xstilts.models.heads import load_for_task
from xstilts.models.predict import classification_collate
from xstilts.models.setup import features_for, probe_targets
from xstilts.models.train import TrainConfig, train
from xstilts.models.transfer import TargetFineTune, fork_and_evaluate
from xstilts.tasks.registry import Recipe, build_registry

pytestmark = pytest.mark.integration
CHANCE = 100 / 3
TARGET = {"xnli": TargetFineTune(Recipe(steps=40, lr=1e-3, batch_size=16, grad_accum=1, eval_every=0), device="cpu")}


@pytest.fixture(scope="module")
def mnli_model(offline_plan):
    torch.set_num_threads(1)
    model = load_for_task(offline_plan.encoder, build_registry()["mnli"], seed=0)
    data = features_for(offline_plan.encoder, offline_plan.source, offline_plan.registry["mnli"], "train", "en")
    result = train(
        model, data, classification_collate(1), TrainConfig(max_steps=300, lr=1e-3, batch_size=32, device="cpu")
    )
    assert result.final_loss < 0.9
    return model


def target_data(plan):
    """The probe targets of the plan, as a trial builds them."""
    return probe_targets(
        plan.encoder, plan.source, [(plan.registry[t], langs) for t, langs in plan.targets], plan.retrieval_layer
    )


def scores(model, target, plan):
    out = fork_and_evaluate(model, [target], TARGET, 0, list(plan.low_resource), device="cpu")
    return {k.rsplit("/", 1)[1]: v for k, v in out.items() if k.startswith("probe/xnli/")}


def test_english_learns_and_transfers_zero_shot(mnli_model, offline_plan):
    acc = scores(mnli_model, target_data(offline_plan)[0], offline_plan)
    assert acc["en"] >= CHANCE + 15, acc
    assert max(v for lang, v in acc.items() if lang != "en") >= CHANCE + 5, acc
    assert min(v for lang, v in acc.items() if lang != "en") < acc["en"]  # transfer is imperfect


def test_control_broken_label_mapping_fails_the_bar(mnli_model, offline_plan):
    target = target_data(offline_plan)[0]
    shifted = {**target.train, "labels": [(y + 1) % 3 for y in target.train["labels"]]}
    acc = scores(mnli_model, replace(target, train=shifted), offline_plan)
    assert acc["en"] < CHANCE + 15, acc


def test_control_head_transfer_that_loses_the_encoder_fails_the_bar(mnli_model, offline_plan):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    fresh = AutoModelForSequenceClassification.from_config(mnli_model.config)
    acc = scores(fresh, target_data(offline_plan)[0], offline_plan)
    assert acc["en"] < CHANCE + 15, acc
