"""Each stage's target recipes: declared (jiant's XTREME recipes), then the stage's `recipe`, then
`recipes[task]`; sequence lengths become the stage's task declarations; the dry run prints them."""

import pytest

from tests.conftest import REPO, offline_raw, write_experiments
from xstilts.search.config import ConfigError, load_experiment
from xstilts.search.evaluation.evaluate import jobs_of
from xstilts.search.stages import stage_recipes, stage_registry
from xstilts.tasks.registry import build_registry

REG = build_registry()


def exp_with(tmp_path, overrides):
    return load_experiment(write_experiments(tmp_path, overrides), registry=REG)[0]


def test_declared_then_stage_then_task_overrides(tmp_path):
    exp = exp_with(
        tmp_path,
        {
            "evaluation": {
                "recipe": {"lr": 3e-5, "eval_every": 500},
                "recipes": {"udpos": {"epochs": 3, "batch_size": 8}, "xquad": {"max_len": 320}},
            }
        },
    )
    # the offline experiment's evaluation recipe sets steps 100: epochs for udpos replaces them
    ev = stage_recipes(exp, REG, "evaluation")
    assert (ev["udpos"].epochs, ev["udpos"].steps, ev["udpos"].batch_size, ev["udpos"].lr) == (3, None, 8, 3e-5)
    assert (ev["xnli"].steps, ev["xnli"].epochs, ev["xnli"].eval_every, ev["xnli"].grad_accum) == (100, None, 500, 1)
    assert "tatoeba" not in ev and "bucc2018" not in ev  # retrieval: not fine-tuned
    probe = stage_recipes(exp, REG, "probe")
    assert probe["xnli"].steps == 50 and probe["xnli"].lr == 2e-3  # the probe's own recipe
    assert stage_registry(exp, REG, "evaluation")["xquad"].max_len == 320
    assert stage_registry(exp, REG, "probe")["xquad"].max_len == REG["xquad"].max_len == 384


def test_the_xlmr_large_experiment_ships_the_published_recipes():
    exp, _ = load_experiment(REPO / "experiments.yaml", "xlmr-large", registry=REG)
    ev = stage_recipes(exp, REG, "evaluation")
    published = {"xnli": 2, "pawsx": 5, "udpos": 10, "panx": 10, "xquad": 2, "mlqa": 2, "tydiqa": 2}
    assert {t: r.epochs for t, r in ev.items()} == published
    assert {t: (r.batch_size, r.grad_accum) for t, r in ev.items()} == {
        **{t: (4, 8) for t in ("xnli", "pawsx", "udpos", "panx")},
        **{t: (4, 4) for t in ("xquad", "mlqa", "tydiqa")},
    }
    assert all((r.lr, r.eval_every, r.patience) == (1e-5, 1000, 30) for r in ev.values())
    lens = {t: stage_registry(exp, REG, "evaluation")[t].max_len for t in ev}
    assert lens == {
        **{t: 256 for t in ("xnli", "pawsx", "udpos", "panx")},
        **{t: 384 for t in ("xquad", "mlqa", "tydiqa")},
    }
    assert exp.evaluation.selection == "english_dev"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"evaluation": {"recipes": {"tatoeba": {"steps": 5}}}},
            "offline.evaluation.recipes: 'tatoeba' (retrieval) is not fine-tuned",
        ),
        (
            {"evaluation": {"recipe": {"epochs": 2, "steps": 5}}},
            "offline.evaluation.recipe: set epochs (2) or steps (5), not both",
        ),
        (
            {"target": {"recipes": {"xnlj": {"steps": 5}}}},
            "offline.target.recipes: Unknown target task 'xnlj'. Did you mean 'xnli'?",
        ),
        ({"target": {"recipe": {"warmup_ratio": 1.5}}}, "offline.target.recipe.warmup_ratio"),
        ({"target": {"languages": ["de", "sw"]}}, "must list en"),
    ],
)
def test_bad_recipes_are_one_line_naming_the_field(tmp_path, overrides, expected):
    with pytest.raises(ConfigError) as err:
        exp_with(tmp_path, overrides)
    assert expected in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)


def test_tasks_share_a_fine_tune_only_with_the_same_recipe(tmp_path):
    exp = exp_with(tmp_path, {"evaluation": {"recipes": {"mlqa": {"steps": 60}}}})
    qa = [REG["xquad"], REG["mlqa"]]
    assert jobs_of(qa, [0], stage_recipes(exp, REG, "evaluation")) == [(("xquad",), [0]), (("mlqa",), [0])]
    same = exp_with(tmp_path, {})
    assert jobs_of(qa, [0], stage_recipes(same, REG, "evaluation")) == [(("xquad", "mlqa"), [0])]


def test_unset_the_probe_is_short_and_the_evaluation_is_published(tmp_path):
    raw = offline_raw()
    raw["target"].pop("recipe")
    raw["evaluation"].pop("recipe")
    exp = load_experiment(write_experiments(tmp_path, raw=raw), registry=REG)[0]
    probe, ev = stage_recipes(exp, REG, "probe"), stage_recipes(exp, REG, "evaluation")
    assert (probe["xnli"].steps, probe["xnli"].eval_every, probe["xnli"].lr) == (2000, 0, 1e-5)
    assert ev["xnli"] == REG["xnli"].recipe


def test_retrieval_rows_set_a_retrieval_task_s_pool_apart_from_the_other_tasks_rows(tmp_path):
    exp = exp_with(tmp_path, {"evaluation": {"max_eval_rows": 48, "retrieval_rows": 400}})
    reg = stage_registry(exp, REG, "evaluation")
    assert reg["tatoeba"].max_eval_rows == 400 and reg["bucc2018"].max_eval_rows == 400
    assert reg["xnli"].max_eval_rows == 48 and reg["xquad"].max_eval_rows == 48
    plain = stage_registry(exp_with(tmp_path, {"evaluation": {"max_eval_rows": 48}}), REG, "evaluation")
    assert plain["tatoeba"].max_eval_rows == 48
