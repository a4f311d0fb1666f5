"""The report's statistics: paired bootstrap over languages x seeds, its interval and mark, too few seeds,
duration effects (longest vs shortest), and duration curves that start at the baseline."""

import math

import numpy as np
import pandas as pd
import pytest

from xstilts.search.report.plots import curve
from xstilts.search.report.stats import (
    MIN_SEEDS,
    TOO_FEW,
    bootstrap,
    bootstrap_worst,
    duration_deltas,
    interval_text,
    paired_strata,
)


def head(effects: dict[str, float], seeds=(0, 1, 2), noise=1.0, langs=("de", "sw", "ur", "el"), rng_seed=0):
    """Headline rows: winner 'none' and the winners of `effects` (a constant shift on every language), with
    seed x language noise the winners share (it cancels when paired) plus a little of their own."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    shared = {(t, s, lang): rng.normal(50, 5) for t in ("xnli", "panx") for s in seeds for lang in langs}
    for winner, shift in {"none": 0.0, **effects}.items():
        for (task, seed, lang), base in shared.items():
            score = base + shift + rng.normal(0, noise)
            rows.append(
                {
                    "winner": winner,
                    "target_task": task,
                    "seed": seed,
                    "lang": lang,
                    "score": score,
                    "low_resource": lang in ("sw", "ur", "el"),
                    "resource_tier": "low" if lang == "sw" else "mid" if lang in ("ur", "el") else "high",
                }
            )
    return pd.DataFrame(rows)


EIGHT = tuple(range(8))


def test_a_real_shift_is_significant_and_no_shift_is_not():
    h = head({"big": 3.0, "same": 0.0}, seeds=EIGHT)
    big = bootstrap(paired_strata(h, "big", "none"))
    same = bootstrap(paired_strata(h, "same", "none"))
    assert big.significant and big.lo > 0 and big.p < 0.01 and big.delta == pytest.approx(3.0, abs=0.5)
    assert not same.significant and same.lo < 0 < same.hi and same.p > 0.05
    assert big.lo <= big.delta <= big.hi and big.n_seeds == 8 and big.p >= big.p_resolution > 0


def test_three_seeds_that_agree_give_the_exact_p_of_a_quarter_and_no_claim():
    big = bootstrap(paired_strata(head({"big": 3.0}), "big", "none"))
    assert big.lo > 0 and big.n_seeds == 3  # the bootstrap interval excludes 0 ...
    assert big.p == pytest.approx(0.25) and big.p_resolution == pytest.approx(0.25)  # ... the exact test does not
    assert not big.significant


def test_the_observed_delta_is_the_mean_of_task_means_of_the_paired_differences():
    h = head({"w": 1.0})
    d = bootstrap(paired_strata(h, "w", "none"))
    w = h[h.winner == "w"].set_index(["target_task", "seed", "lang"])["score"]
    n = h[h.winner == "none"].set_index(["target_task", "seed", "lang"])["score"]
    assert d.delta == pytest.approx((w - n).groupby("target_task").mean().mean())


def test_fewer_than_three_seeds_give_no_interval():
    assert MIN_SEEDS == 3
    d = bootstrap(paired_strata(head({"w": 3.0}, seeds=(0, 1)), "w", "none"))
    assert np.isfinite(d.delta) and math.isnan(d.lo) and math.isnan(d.p) and not d.significant
    assert interval_text(d.delta, d.lo, d.hi, d.significant) == f"{d.delta:+.2f} ({TOO_FEW})"
    assert interval_text(1.234, 0.5, 2.0, True) == "+1.23 [+0.50, +2.00] *"
    assert interval_text(-0.5, -1.0, 0.2, False) == "-0.50 [-1.00, +0.20]"


def test_worst_language_delta():
    h = head({"mnli@step100": 0.0, "mnli@step300": 4.0}, seeds=EIGHT)
    h.loc[(h.winner == "mnli@step300") & (h.lang == "ur"), "score"] -= 30  # longer training hurts ur alone
    from xstilts.search.report.stats import worst_arrays

    a, b = worst_arrays(h, "mnli@step300", "mnli@step100")
    worst = bootstrap_worst(a, b)
    assert a.shape == (8, 4) and worst.delta < 0 and worst.significant  # ur became the worst language


def test_each_duration_winner_s_low_resource_delta_vs_none_is_tested_and_holm_adjusted():
    h = head({"mnli@step100": 0.0, "mnli@step300": 4.0}, seeds=EIGHT)
    duration = pd.DataFrame(
        [
            {"winner": "none", "role": "baseline", "intermediate_task": "none", "step": 0},
            {"winner": "mnli@step100", "role": "duration", "intermediate_task": "mnli", "step": 100},
            {"winner": "mnli@step300", "role": "duration", "intermediate_task": "mnli", "step": 300},
        ]
    )
    rows = duration_deltas(h, duration).set_index("winner")
    assert list(rows.index) == ["mnli@step100", "mnli@step300"]  # the baseline is what they are tested against
    assert rows.loc["mnli@step300", "low_resource_mean_significant"]
    assert rows.loc["mnli@step300", "low_resource_mean_delta_lo"] > 0
    assert not rows.loc["mnli@step100", "low_resource_mean_significant"]
    assert rows.loc["mnli@step300", "worst_significant"]
    assert rows.loc["mnli@step300", "low_resource_mean_n_paired_seeds"] == 8
    raw, adjusted = rows["low_resource_mean_delta_p"], rows["low_resource_mean_delta_p_adjusted"]
    assert (adjusted >= raw).all() and adjusted.min() == pytest.approx(min(1.0, 2 * raw.min()))  # Holm, m = 2


def test_duration_curves_start_at_the_baseline():
    per_seed = pd.DataFrame(
        {"intermediate_task": ["mnli"] * 4, "step": [100, 100, 200, 200], "seed": [0, 1, 0, 1], "mean": [1, 3, 5, 7]}
    )
    baseline = pd.DataFrame({"seed": [0, 1], "mean": [10.0, 20.0], "step": [0, 0]})
    g = curve(per_seed, baseline, "mnli", "mean")
    assert list(g.index) == [0, 100, 200]
    assert g.loc[0].tolist() == [15.0, 10.0, 20.0] and g.loc[200, "mean"] == 6.0


def test_rank_agreement_is_spearman_over_distinct_encoders(tmp_path):
    from scipy.stats import spearmanr  # a test dependency: an independent Spearman

    from tests.helpers.report import WINNERS, evaluation_rows
    from xstilts.search.report.tables import load_headline, rank_agreement, winners_table
    from xstilts.search.rundir import RunDir

    exp = tmp_path / "exp"
    (exp / "evaluation").mkdir(parents=True)
    evaluation_rows().to_parquet(exp / "evaluation" / "evaluation.parquet", index=False)
    head = load_headline(RunDir(exp), "test")
    winners = winners_table(head, None)
    probe = {"t0": (30.0, 20.0), "t1": (35.0, 21.0), "t2": (33.0, 25.0), "t3": (31.0, 22.0), "t4": (29.0, 19.0)}
    results = pd.DataFrame(  # the sweep's milestones: probed on xnli only
        [
            {"trial_id": t, "step": s, "target_task": "xnli", "mean": probe[t][0], "low_resource_mean": probe[t][1]}
            for _, _, s, t, _ in WINNERS.values()
        ]
    )
    table = rank_agreement(head, winners, results).set_index(["scope", "summary"])
    encoders = sorted({(t, s) for _, _, s, t, _ in WINNERS.values()})
    assert len(encoders) == 5 and (table["n_encoders"] == 5).all()  # mnli@best and mnli@step200 share one
    name: dict = {}
    for k, w in WINNERS.items():  # an encoder's first winner (best before duration) stands for it
        name.setdefault((w[3], w[2]), k)
    zs = head[head["lang"] != "en"]
    for scope, h in (("probed tasks", zs[zs["target_task"] == "xnli"]), ("all tasks", zs)):
        task_means = h.groupby(["winner", "seed", "target_task"], observed=True)["score"].mean()
        evaluated = task_means.groupby("winner").mean()
        x = [probe[t][0] for t, _ in encoders]
        y = [evaluated[name[e]] for e in encoders]
        assert table.loc[(scope, "mean"), "spearman"] == pytest.approx(spearmanr(x, y).statistic)
    assert rank_agreement(head, winners, None).empty


def test_the_report_states_the_rule_and_shows_both_rankings_side_by_side():
    from xstilts.search.report.tables import selection_table
    from xstilts.search.selection import Rule, describe_rule

    assert describe_rule(Rule("english_dev")).startswith("english_dev: English dev")
    assert "low_resource_mean over the target languages" in describe_rule(Rule("low_resource_mean"))
    milestones = [
        {
            "trial_id": trial,
            "step": step,
            "config": {"intermediate_task": task},
            "metrics": {"probe/xnli/en": en, "probe/xnli/sw": low, "low_resource_mean": low},
        }
        for task, trial, step, en, low in [
            ("mnli", "a", 100, 80.0, 30.0),
            ("mnli", "a", 200, 70.0, 40.0),
            ("qqp", "b", 100, 75.0, 45.0),
            ("none", "n", 0, 90.0, 50.0),
        ]
    ]
    table = selection_table(milestones, "low_resource_mean").set_index("intermediate_task")
    assert list(table.index) == ["mnli", "qqp"]  # by English-dev rank; the baseline is not ranked
    assert table.loc["mnli", "english_dev_winner"] == "a@100" and table.loc["mnli", "target_dev_winner"] == "a@200"
    assert table.loc["mnli", "english_dev_rank"] == 1 and table.loc["qqp", "target_dev_rank"] == 1
    assert table.loc["qqp", "english_dev"] == 75.0 and table.loc["mnli", "target_dev"] == 40.0
