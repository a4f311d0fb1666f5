"""The work of `xstilts evaluate`'s Ray tasks, called directly: a winner's encoder retrained to its step, then
scored."""

import dataclasses

import pytest
import torch

from xstilts.models.transfer import TargetFineTune
from xstilts.search.evaluation.jobs import ScoreJob, evaluate_targets, materialize_encoder
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Winner
from xstilts.tasks.languages import JOSHI_CLASS
from xstilts.tasks.registry import Recipe

pytestmark = pytest.mark.integration


def test_winner_encoder_then_every_language_on_dev_and_test(offline_plan, tmp_path):
    torch.set_num_threads(1)
    winner = Winner(
        name="mnli@step10",
        role="duration",
        intermediate_task="mnli",
        step=10,
        trial_id="abc",
        config={"intermediate_task": "mnli", "intermediate_steps": 20, "lr": 1e-3, "batch_size": 8},
    )
    run_dir = RunDir(tmp_path)
    enc = materialize_encoder(offline_plan, run_dir, winner)
    assert run_dir.has_encoder("mnli@step10")
    assert (tmp_path / run_dir.encoder_name("mnli@step10") / "config.json").is_file()
    assert materialize_encoder(offline_plan, run_dir, winner) == enc  # cached
    none = dataclasses.replace(winner, name="none", intermediate_task="none", step=0)
    assert materialize_encoder(offline_plan, run_dir, none) == offline_plan.encoder

    recipe = TargetFineTune(Recipe(steps=5, lr=1e-3, batch_size=8, grad_accum=1, eval_every=0), device="cpu")
    langs = ["en", "de", "ru"]

    def both(x):  # the languages of each scored split
        return {"dev": x, "test": x}

    # One SQuAD fine-tune scores XQuAD and MLQA, each with its own metric (MLQA's normalisation).
    qa = {"xquad": both(langs), "mlqa": both(["en", "de"])}
    rows = evaluate_targets(offline_plan, enc, ScoreJob(("xquad", "mlqa"), 0, qa, recipe, winner, "offline world"))
    xquad = [r for r in rows if r["target_task"] == "xquad"]
    assert {(r["split"], r["lang"]) for r in xquad} == {(s, lang) for s in ("dev", "test") for lang in langs}
    assert {(r["split"], r["lang"]) for r in rows if r["target_task"] == "mlqa"} == {
        (s, lang) for s in ("dev", "test") for lang in ("en", "de")
    }
    head = [r for r in xquad if r["headline"]]
    assert {r["metric"] for r in head} == {"avg_metric"} and len(head) == 6
    by = {(r["split"], r["lang"], r["metric"]): r["score"] for r in xquad}
    assert by[("dev", "de", "avg_metric")] == (by[("dev", "de", "exact_match")] + by[("dev", "de", "f1")]) / 2
    # XQuAD's dev and test are one set (as on the hub): scored once, reported under both splits.
    assert all(by[("dev", lang, m)] == by[("test", lang, m)] for lang in langs for m in ("exact_match", "f1"))
    with pytest.raises(ValueError, match="do not share a training set"):
        mixed = {"xquad": both(langs), "tydiqa": both(["en"])}
        evaluate_targets(offline_plan, enc, ScoreJob(("xquad", "tydiqa"), 0, mixed, recipe, winner, "offline world"))

    retrieval = ScoreJob(("tatoeba",), 0, {"tatoeba": both(["de", "sw"])}, None, winner, "offline world")
    unprobed = dataclasses.replace(offline_plan, low_resource=())  # sw evaluated but not among the probed
    tatoeba = evaluate_targets(unprobed, enc, retrieval)
    assert {r["metric"] for r in tatoeba if r["headline"]} == {"accuracy"}
    # the chance score of each split where the metric has one: Tatoeba, 1 / candidates; QA's F1, none
    chance = [r["chance"] for r in tatoeba if r["headline"]]
    candidates = [100 / c for c in chance]  # one of n candidates at random: 100 / n
    assert all(n >= 10 and abs(n - round(n)) < 1e-9 for n in candidates), chance
    assert all(r["chance"] is None for r in xquad)
    assert all(r["chance"] is None for r in tatoeba if not r["headline"])
    assert all(r["resource_tier"] in ("high", "mid", "low") and r["source"] == "offline world" for r in tatoeba)
    # one definition of low-resource for every evaluated language, probed or not (xquad: th, hi, ... are not
    # probe languages), and the 'low' tier is that set
    max_class = offline_plan.low_resource_max_class
    assert any(r["low_resource"] for r in tatoeba)  # sw
    for r in xquad + tatoeba:
        low = r["lang"] != "en" and JOSHI_CLASS[r["lang"]] <= max_class
        assert r["low_resource"] == low and (r["resource_tier"] == "low") == low, r
