"""Within-trial duration effects on small constructed tables: the unit is the trial, the p-values are exact at
small n, the interval counts intermediate-seed variance, and Holm's correction runs over each family."""

import math

import numpy as np
import pandas as pd
import pytest

from xstilts.search.report.effects import (
    Cells,
    duration_effects,
    hierarchical_draws,
    holm,
    p_text,
    sign_flip_p,
)

LANGS = {"de": False, "fr": False, "sw": True, "ur": True}  # lang -> low-resource


def evaluation(trials: dict[str, dict[int, float]], noise: float = 0.0) -> pd.DataFrame:
    """Headline rows of every milestone of `trials` (trial id -> step -> score), 3 target seeds, 2 target
    tasks, the languages of LANGS and English."""
    rng = np.random.default_rng(0)
    rows = []
    for trial, steps in trials.items():
        for step, score in steps.items():
            for task in ("udpos", "xquad"):
                for seed in range(3):
                    for lang, low in {"en": False, **LANGS}.items():
                        rows.append(
                            {
                                "winner": f"{trial}@{step}",
                                "role": "milestone",
                                "intermediate_task": "sst2",
                                "trial_id": trial,
                                "step": step,
                                "target_task": task,
                                "seed": seed,
                                "lang": lang,
                                "low_resource": low,
                                "score": score + noise * rng.standard_normal(),
                            }
                        )
    return pd.DataFrame(rows)


def results(lrs: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"trial_id": t, "lr": lr, "seed": i} for i, (t, lr) in enumerate(lrs.items())])


def test_the_within_trial_answer_holds_where_the_best_at_each_step_comparison_says_the_opposite():
    # the probe chose trial a at 30 steps (evaluated 60) and trial b at 120 (evaluated 65): across those
    # winners, +5 for training longer; within each trial, longer training lost 5 points
    head = evaluation({"a": {30: 60.0, 120: 55.0}, "b": {30: 70.0, 120: 65.0}})
    table = duration_effects(head, results({"a": 3e-5, "b": 1e-4}))
    across = 65.0 - 60.0
    assert across > 0
    assert set(table["lr"]) == {"3e-05", "0.0001", "all"}
    assert np.allclose(table["estimate"], -5.0)
    pooled = table[(table["lr"] == "all") & (table["summary"] == "low_resource_mean")].iloc[0]
    assert pooled["n_trials"] == 2 and pooled["n_intermediate_seeds"] == 2 and pooled["n_target_seeds"] == 3
    assert pooled["n_languages"] == 2 * 2  # sw and ur in each of the 2 target tasks


def test_the_exact_sign_flip_test_at_three_units_and_its_resolution():
    p, resolution, test = sign_flip_p(np.array([1.75, 1.03, 1.76]))
    assert p == pytest.approx(0.25) and resolution == pytest.approx(0.25) and test.startswith("exact")
    assert sign_flip_p(np.array([1.0, -0.2, 0.5]))[0] == pytest.approx(0.5)  # 4 of 8 flips as extreme
    assert p_text(0.25) == "p = 0.25" and p_text(1e-9) == "p < 0.001"
    p_many, res_many, _ = sign_flip_p(np.full(12, 2.0))
    assert 0 < res_many <= p_many < 0.001  # random flips: never 0


def test_the_interval_widens_when_intermediate_seeds_disagree():
    agree = np.full((3, 3, 4), 2.0)
    disagree = agree.copy()
    disagree[0] += 3.0
    disagree[1] -= 3.0  # the same mean effect, +5, -1 and +2 by trial
    widths = []
    for strata in (agree, disagree):
        cells = Cells([strata + np.random.default_rng(1).normal(0, 0.3, strata.shape)], np.full((3, 3), 2.0))
        low, high = np.percentile(hierarchical_draws(cells, "mean"), [2.5, 97.5])
        widths.append(high - low)
    assert widths[1] > 3 * widths[0]


def test_holm_on_a_fixed_family():
    # sorted 0.01, 0.03, 0.04 of m = 3: 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; max(1 x 0.04, 0.06) = 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm([0.2, math.nan, 0.01])
    assert adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)


def test_three_agreeing_trials_are_not_significant_and_the_table_is_adjusted_per_family():
    head = evaluation({t: {30: 60.0, 120: 62.0} for t in "abc"}, noise=0.2)
    table = duration_effects(head, results({t: 3e-5 for t in "abc"}))
    assert set(table["summary"]) == {"mean", "low_resource_mean", "worst"}
    assert (table["p"] >= 0.25 - 1e-9).all() and not table["significant"].any() and not table["robust"].any()
    assert (table["low"] < table["estimate"]).all() and (table["estimate"] < table["high"]).all()
    assert (table["sign_stability"] > 0.9).all() and (np.sign(table[["half_a", "half_b"]]) == 1).all().all()
    assert table.groupby("summary")["family"].nunique().eq(1).all()


def test_the_report_states_the_within_trial_answer_with_its_test_and_family():
    from xstilts.search.report.render import render_markdown
    from xstilts.search.report.sections import longer_section

    head = evaluation({"a": {30: 60.0, 120: 55.0}, "b": {30: 70.0, 120: 65.0}})
    md = render_markdown(longer_section(duration_effects(head, results({"a": 3e-5, "b": 1e-4}))))
    line = next(x for x in md.splitlines() if x.startswith("- sst2"))
    assert "sst2, 30 → 120 steps within trials (2 trial(s), lr all)" in line
    assert "low-resource mean -5.00 [-5.00, -5.00] (p = 0.5, Holm-adjusted p = 1; not significant;" in line
    assert "Holm-adjusted" in md and "one family per summary" in md and "p = 0 " not in md
    assert "evaluation.every_milestone" in render_markdown(longer_section(duration_effects(head.iloc[0:0], None)))


def test_the_verdict_opens_with_the_within_trial_answer():
    from xstilts.search.report.render import render_markdown
    from xstilts.search.report.sections import verdict_section

    head = evaluation({t: {30: 60.0, 120: 55.0} for t in "abcdefghi"}, noise=0.3)  # 9 trials: random flips
    table = duration_effects(head, results({t: 3e-5 for t in "abcdefghi"}))
    md = render_markdown(verdict_section(table, ["sw", "ur"]))
    assert md.startswith("## Verdict") and "low-resource languages (sw, ur)" in md
    assert f"{int(table['robust'].sum())} of {len(table)} duration effects are robust" in md
    assert table["robust"].all() and "sst2 30 → 120 steps (lr 3e-05) on the low resource mean: -5.0" in md
    empty = render_markdown(verdict_section(table.iloc[0:0], []))
    assert "cannot say" in empty and "every_milestone" in empty


def test_trials_evaluated_at_different_steps_and_tasks_missing_a_trial_give_answers_not_errors():
    from xstilts.search.report.render import render_markdown
    from xstilts.search.report.sections import effect_lines

    head = evaluation({"a": {30: 60.0, 60: 61.0}, "b": {60: 70.0, 120: 72.0}})  # no trial has 30 and 120
    table = duration_effects(head, results({"a": 3e-5, "b": 3e-5}))
    assert {(r.from_step, r.to_step) for r in table.itertuples()} == {(30, 60), (60, 120)}
    (line,) = effect_lines(table)
    assert "60 → 120 steps" in line or "30 → 60 steps" in line
    assert render_markdown([("ul", [line])])
    three = evaluation({t: {30: 60.0, 120: 62.0} for t in "abc"})
    lost = three[~((three["trial_id"] == "c") & (three["target_task"] == "xquad"))]  # xquad lacks trial c
    table = duration_effects(lost, results({t: 3e-5 for t in "abc"}))
    assert (table["n_trials"] == 2).all() and np.allclose(table["estimate"], 2.0)


def test_languages_are_drawn_once_per_replicate_since_every_trial_has_the_same_ones():
    # per-language effects +6, +6, -4, -4, the same in every trial and seed: the interval must span the
    # languages' spread, as drawing 4 languages with replacement does
    strata = np.tile(np.array([6.0, 6.0, -4.0, -4.0]), (3, 3, 1))
    cells = Cells([strata], np.zeros((3, 3)))
    low, high = np.percentile(hierarchical_draws(cells, "mean"), [2.5, 97.5])
    assert low <= -1.5 and high >= 3.5


def test_halves_of_the_low_resource_mean_split_its_own_languages():
    from xstilts.search.report.effects import halves

    head = evaluation({t: {30: 60.0, 120: 62.0} for t in "abc"})
    scores = head.assign(trial_id=head["trial_id"], intermediate_seed=0)
    a, b = halves(scores, 30, 120, "low_resource_mean")
    assert np.isfinite(a) and np.isfinite(b)  # sw in one half, ur in the other, whatever the shuffle


def test_each_replicate_is_an_intermediate_run_of_its_own():
    """search.replicates: one trial, 3 replicates (distinct intermediate seeds) evaluated at two milestones;
    the effect pairs milestones within a replicate, its units are the replicates, and their seeds are
    counted."""
    frames = []
    for r, drop in enumerate((-4.0, -6.0, -5.0)):
        rep = evaluation({"a": {40: 60.0, 80: 60.0 + drop}})
        frames.append(rep.assign(replicate=r, intermediate_seed=7 + r * 1_000_003))
    head = pd.concat(frames, ignore_index=True)
    table = duration_effects(head, results({"a": 3e-5}))
    mean = table[table["summary"] == "mean"].iloc[0]
    assert mean["estimate"] == pytest.approx(-5.0)
    assert mean["n_trials"] == 3 and mean["n_intermediate_seeds"] == 3
    assert mean["low"] < -5.0 < mean["high"] and mean["high"] < 0  # the replicates' spread is in the interval
    assert mean["p"] == pytest.approx(0.25)  # exact sign flip over the 3 replicates


def test_target_seeds_nested_in_replicates_are_paired_within_each_and_all_counted():
    """The evaluation gives each replicate its own target seeds (jobs.target_seeds): milestones still pair on
    the seed within a replicate, the design is balanced, and every target seed is counted."""
    from xstilts.search.evaluation.jobs import target_seeds

    frames = []
    for r, drop in enumerate((-4.0, -6.0, -5.0)):
        rep = evaluation({"a": {40: 60.0, 80: 60.0 + drop}})
        seeds = dict(enumerate(target_seeds(10, 3, r)))
        frames.append(rep.assign(replicate=r, intermediate_seed=7 + r, seed=rep["seed"].map(seeds)))
    head = pd.concat(frames, ignore_index=True)
    assert head.groupby("replicate")["seed"].agg(frozenset).nunique() == 3  # no seed shared
    mean = duration_effects(head, results({"a": 3e-5})).query("summary == 'mean'").iloc[0]
    assert mean["estimate"] == pytest.approx(-5.0) and mean["n_trials"] == 3
    assert mean["n_target_seeds"] == 9 and mean["n_intermediate_seeds"] == 3
    assert mean["low"] < -5.0 < mean["high"] < 0


def test_target_seeds_of_replicate_0_are_those_of_an_unreplicated_run():
    from xstilts.search.evaluation.jobs import target_seeds

    assert target_seeds(5, 3) == [5, 6, 7]
    assert not set(target_seeds(5, 3, 1)) & set(target_seeds(5, 3, 0))


def test_the_report_averages_a_winner_s_replicates_outside_the_duration_effects():
    from xstilts.search.report.tables import replicate_means

    rows = pd.concat(
        [evaluation({"a": {40: 60.0 + r}}).assign(replicate=r, intermediate_seed=r) for r in range(3)],
        ignore_index=True,
    )
    means = replicate_means(rows)
    assert len(means) == len(rows) // 3 and np.allclose(means["score"], 61.0)
    assert "replicate" not in means.columns and "intermediate_seed" not in means.columns
