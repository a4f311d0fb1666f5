"""The work of `xstilts evaluate` without Ray: a winner's encoder retrained to its step, then scored."""

import pytest
import torch

from xstilts.models.train import TrainConfig
from xstilts.search.eval_tasks import evaluate_target, materialize_encoder

pytestmark = pytest.mark.integration


def test_winner_encoder_then_every_language_on_dev_and_test(offline_plan, tmp_path):
    torch.set_num_threads(1)
    winner = {"name": "mnli@step10", "role": "duration", "intermediate_task": "mnli", "step": 10, "trial_id": "abc",
              "config": {"intermediate_task": "mnli", "intermediate_steps": 20, "lr": 1e-3, "batch_size": 8}}
    enc = materialize_encoder(offline_plan, str(tmp_path), winner, str(tmp_path / "enc"))
    assert (tmp_path / "enc" / "config.json").is_file()
    assert materialize_encoder(offline_plan, str(tmp_path), winner, str(tmp_path / "enc")) == enc  # cached
    none = {**winner, "name": "none", "intermediate_task": "none", "step": 0}
    assert materialize_encoder(offline_plan, str(tmp_path), none, str(tmp_path / "x")) == offline_plan.encoder

    recipe = TrainConfig(max_steps=5, batch_size=8, device="cpu")
    langs = ["en", "de", "ru"]
    rows = evaluate_target(offline_plan, enc, "xquad", 0, langs, recipe, winner, "offline world")
    assert {(r["split"], r["lang"]) for r in rows} == {(s, lang) for s in ("dev", "test") for lang in langs}
    head = [r for r in rows if r["headline"]]
    assert {r["metric"] for r in head} == {"avg_metric"} and len(head) == 6
    by = {(r["split"], r["lang"], r["metric"]): r["score"] for r in rows}
    assert by[("dev", "de", "avg_metric")] == (by[("dev", "de", "exact_match")] + by[("dev", "de", "f1")]) / 2

    tatoeba = evaluate_target(offline_plan, enc, "tatoeba", 0, ["de", "sw"], recipe, winner, "offline world")
    assert {r["metric"] for r in tatoeba if r["headline"]} == {"accuracy"}
    assert all(r["resource_tier"] in ("high", "mid", "low") and r["source"] == "offline world" for r in tatoeba)
