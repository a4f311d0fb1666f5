"""write_report on a small synthetic evaluation: every number the report shows is recomputed here with
plain pandas (not the report's functions), and the plots are real, non-blank images."""

import base64
import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from scipy.stats import t as t_dist  # a test dependency: cross-checks the report's t quantiles

from tests.helpers.report import WINNERS, evaluation_rows
from xstilts.search.report.plots import plot_delta_heatmap
from xstilts.search.report.render import write_report
from xstilts.search.report.tables import distinct_encoders
from xstilts.search.rundir import RunDir
from xstilts.tasks.languages import JOSHI_CLASS, resource_tier

# winner id -> (role, intermediate task, step, trial id, offset added to every score)


def make_experiment(root, **kw):
    exp = root / "exp"
    (exp / "evaluation").mkdir(parents=True)
    evaluation_rows(**kw).to_parquet(exp / "evaluation" / "evaluation.parquet", index=False)
    trials = {w[3]: w for w in WINNERS.values()}
    pd.DataFrame(
        [
            {"trial_id": t, "intermediate_task": w[1], "lr": 1e-3 * (i + 1), "batch_size": 16, "step": w[2]}
            for i, (t, w) in enumerate(sorted(trials.items()))
        ]
    ).to_parquet(exp / "results.parquet")
    (exp / "xstilts-experiment.json").write_text(
        json.dumps(
            {
                "name": "synthetic",
                "digest": "abc123def456",
                "config": {
                    "seed": 0,
                    "target": {"tasks": ["xnli"], "languages": ["en", "de", "sw"]},
                    "evaluation": {"selection": "target_dev", "select": "low_resource_mean"},
                },
            }
        )
    )
    return exp


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    exp = make_experiment(tmp_path_factory.mktemp("report"))
    md_path = write_report(exp)
    raw = pd.read_parquet(exp / "evaluation" / "evaluation.parquet").query("split == 'test' and headline")
    return exp, md_path, distinct_encoders(raw)  # one winner per distinct encoder, as the report counts them


def ci(values):
    v = np.asarray(values, dtype=float)
    return t_dist.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))


def expected_xtreme(head):
    """winner -> (mean, ci, delta, delta ci) recomputed with a plain groupby."""
    per_seed = head.groupby(["winner", "target_task", "seed"])["score"].mean().groupby(["winner", "seed"]).mean()
    table = per_seed.unstack("seed")
    out = {}
    for winner, row in table.iterrows():
        diffs = row - table.loc["none"]
        out[winner] = (row.mean(), ci(row), row.mean() - table.loc["none"].mean(), ci(diffs))
    return out


def test_report_files_are_written(report):
    exp, md_path, _ = report
    out = exp / "report"
    assert md_path == out / "report.md"
    for name in (
        "winners",
        "xtreme_per_seed",
        "xtreme_scores",
        "task_deltas",
        "duration",
        "language_deltas",
        "tier_deltas",
        "robustness_per_seed",
        "duration_effects",
        "provenance",
    ):
        assert (out / "tables" / f"{name}.parquet").stat().st_size > 0


def test_xtreme_scores_cis_and_deltas(report):
    exp, md_path, head = report
    md = md_path.read_text()
    html = (md_path.parent / "report.html").read_text()
    table = pd.read_parquet(exp / "report" / "tables" / "xtreme_scores.parquet").set_index("winner")
    for winner, (mean, half, delta, dhalf) in expected_xtreme(head).items():
        got = table.loc[winner]
        assert (got["mean"], got["ci95"], got["delta"]) == pytest.approx((mean, half, delta))
        cell = f"{mean:.2f} ± {half:.2f}"
        assert f"| {cell} |" in md and f"<td>{cell}</td>" in html, winner
        if winner != "none":  # a delta's one interval: the paired bootstrap's (no t-interval beside it)
            assert "delta_ci95" not in table.columns
            assert got["delta_lo"] <= delta <= got["delta_hi"] and got["n_paired_seeds"] == 3
            # 3 seeds: the exact sign-flip p is at least 0.25, so no delta is marked whatever its interval
            assert got["delta_p"] >= 0.25 and got["delta_p_adjusted"] >= got["delta_p"] and not got["significant"]
            mark = ""
            dcell = f"{delta:+.2f} [{got['delta_lo']:+.2f}, {got['delta_hi']:+.2f}]{mark}"
            assert f"| {dcell} |" in md and f"<td>{dcell}</td>" in html, winner
    assert "synthetic" in md and "not benchmark numbers" in html


def test_per_task_deltas(report):
    exp, md_path, head = report
    md = md_path.read_text()
    table = pd.read_parquet(exp / "report" / "tables" / "task_deltas.parquet").set_index(["winner", "target_task"])
    lang_mean = head.groupby(["winner", "target_task", "seed"])["score"].mean().unstack("seed")
    for (winner, task), row in lang_mean.iterrows():
        diffs = row - lang_mean.loc[("none", task)]
        got = table.loc[(winner, task)]
        assert got["delta"] == pytest.approx(diffs.mean())
        if winner != "none":
            assert got["delta_lo"] <= diffs.mean() <= got["delta_hi"]
            assert f"{diffs.mean():+.2f} [{got['delta_lo']:+.2f}, {got['delta_hi']:+.2f}]" in md


def test_duration_answer_in_numbers(report):
    exp, md_path, head = report
    zs = head[head["lang"] != "en"]
    low = (
        zs[zs["low_resource"]]
        .groupby(["winner", "seed", "target_task"])["score"]
        .mean()
        .groupby(["winner", "seed"])
        .mean()
    )
    worst = zs.groupby(["winner", "seed", "lang"])["score"].mean().groupby(["winner", "seed"]).min()
    table = pd.read_parquet(exp / "report" / "tables" / "duration.parquet").set_index("winner")
    # mnli@best is mnli@step200's encoder and qqp@best qqp@step100's: each listed once, under its best name
    assert set(table.index) == {"none", "mnli@step100", "mnli@best", "qqp@best", "qqp@step200"}
    winners = pd.read_parquet(exp / "report" / "tables" / "winners.parquet").set_index("winner")
    assert winners.loc["mnli@best", "also"] == "mnli@step200" and winners.loc["qqp@best", "also"] == "qqp@step100"
    assert "mnli@step200" not in winners.index and len(winners) == len(WINNERS) - 2
    assert table.loc["none", "step"] == 0
    md = md_path.read_text()
    for winner in table.index:
        lr_mean, worst_mean = low[winner].mean(), worst[winner].mean()
        assert table.loc[winner, "low_resource_mean"] == pytest.approx(lr_mean)
        assert table.loc[winner, "worst"] == pytest.approx(worst_mean)
        assert table.loc[winner, "delta_low_resource_mean"] == pytest.approx(lr_mean - low["none"].mean())
        assert table.loc[winner, "worst_min"] == pytest.approx(worst[winner].min())
        assert f"{lr_mean:.2f} ± {low[winner].std(ddof=1):.2f}" in md
    # the sentence of the answer: low-resource mean from the shortest to the longest duration
    assert f"{low['mnli@step100'].mean():.2f} → {low['mnli@best'].mean():.2f}" in md


def test_language_deltas_grouped_by_tier(report):
    exp, md_path, head = report
    table = pd.read_parquet(exp / "report" / "tables" / "language_deltas.parquet")
    means = head.groupby(["winner", "target_task", "lang"])["score"].mean()
    row = table.query("winner == 'qqp@best' and target_task == 'xnli' and lang == 'sw'").iloc[0]
    assert row["delta"] == pytest.approx(means[("qqp@best", "xnli", "sw")] - means[("none", "xnli", "sw")])
    assert row["resource_tier"] == "low"
    tiers = pd.read_parquet(exp / "report" / "tables" / "tier_deltas.parquet").set_index(["winner", "resource_tier"])
    mid = {"el", "th"}
    d = (means["mnli@best"] - means["none"]).reset_index()
    per_lang = d[d["lang"].isin(mid)].groupby("lang")["score"].mean()
    assert tiers.loc[("mnli@best", "mid"), "delta"] == pytest.approx(per_lang.mean())
    md = md_path.read_text()
    assert md.index("### mnli@best") < md.index("### qqp@best")


def test_the_model_card_s_tier_score_is_the_report_s(report):
    """Each language's mean over tasks and seeds, then the tier's mean over languages (not every (task,
    language) row weighted alike, which favours the languages with more tasks)."""
    from xstilts.search.evaluation.export import _scores
    from xstilts.search.selection import Winner

    exp, _, head = report
    winner = Winner("mnli@best", "best", "mnli", 200, "a", {})
    _, tiers = _scores(RunDir(exp), winner, "none")
    got = {r["name"]: (r["score"], r["baseline"]) for r in tiers}
    for who, i in (("mnli@best", 0), ("none", 1)):
        rows = head[head["winner"] == who]
        per_lang = rows.groupby(["resource_tier", "lang"])["score"].mean()
        expected = per_lang.groupby("resource_tier").mean()
        assert {t: v[i] for t, v in got.items()} == pytest.approx(expected.to_dict())


def check_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.05  # not blank


def test_plots_are_images_and_embedded(report):
    exp, md_path, _ = report
    plots = exp / "report" / "plots"
    pngs = sorted(plots.glob("*.png"))
    assert {p.stem for p in pngs} == {"duration_curves", "heatmap_mnli_best", "heatmap_qqp_best"}
    html = (md_path.parent / "report.html").read_text()
    md = md_path.read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    for png in pngs:
        check_png(png)
        svg = png.with_suffix(".svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "</svg>" in svg
        assert base64.b64encode(png.read_bytes()).decode() in embedded
        assert f"(plots/{png.name})" in md
    assert 'src="plots/' not in html  # self-contained


def test_provenance(report):
    exp, md_path, _ = report
    prov = pd.read_parquet(exp / "report" / "tables" / "provenance.parquet").set_index("key")["value"]
    assert prov["experiment"] == "synthetic" and prov["config digest"] == "abc123def456"
    assert prov["data source"] == "offline world" and prov["target fine-tune seeds"] == "0, 1, 2"
    assert {"package torch", "package ray", "package optuna", "package xstilts"} <= set(prov.index)
    assert "abc123def456" in md_path.read_text()
    # the header states the selection rule (this run chose its winners by target dev)
    assert "Winners selected by target_dev: target dev (low_resource_mean" in md_path.read_text().split("##")[0]


def test_same_input_same_numbers(report, tmp_path):
    exp, _, _ = report
    write_report(exp, tmp_path / "again")
    for name in ("xtreme_scores", "task_deltas", "duration", "language_deltas", "tier_deltas"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(exp / "report" / "tables" / f"{name}.parquet"),
            pd.read_parquet(tmp_path / "again" / "tables" / f"{name}.parquet"),
        )
    strip = lambda p: re.sub(r"\| date \(UTC\) \|[^\n]*", "", p.read_text())  # noqa: E731
    assert strip(exp / "report" / "report.md") == strip(tmp_path / "again" / "report.md")


def test_one_seed_says_no_ci(tmp_path):
    exp = make_experiment(tmp_path, seeds=(5,), source="hub")
    md = write_report(exp).read_text()
    xtreme = md.split("## Per-task deltas")[0]
    rows = [line for line in xtreme.splitlines() if line.startswith(("| none |", "| mnli@best |"))]
    assert rows[0].endswith("(too few seeds for an interval) | – |")
    assert rows[1].endswith("(too few seeds for an interval) |") and not any("±" in r for r in rows)
    assert "[" not in rows[1]  # no bootstrap interval from one seed either
    assert "not benchmark numbers" not in md and "offline world" not in md


def test_missing_baseline_or_split_is_a_clear_error(tmp_path):
    exp = make_experiment(tmp_path, winners={k: v for k, v in WINNERS.items() if k != "none"})
    with pytest.raises(ValueError, match="no baseline"):
        write_report(exp)
    with pytest.raises(ValueError, match="Available splits: dev, test"):
        write_report(exp, split="validation")


def test_heatmap_with_forty_languages_is_readable(tmp_path):
    langs = sorted(JOSHI_CLASS)
    assert len(langs) == 40
    rng = np.random.default_rng(0)
    deltas = pd.DataFrame(
        [
            {"target_task": task, "lang": lang, "resource_tier": resource_tier(lang), "delta": rng.normal(0, 3)}
            for task in ("xnli", "panx", "udpos", "tatoeba", "xquad", "mlqa", "tydiqa", "pawsx", "bucc2018")
            for lang in langs
            if task != "pawsx" or lang in ("de", "en", "fr", "ja", "ko", "zh")
        ]
    )
    png, svg = plot_delta_heatmap(deltas, tmp_path / "heatmap40", title="40 languages")
    check_png(png)
    assert imread(png).shape[1] > 1.5 * imread(png).shape[0]  # wider than tall: scales with languages
    assert svg.stat().st_size > 0


def test_duration_curves_fall_back_to_best_winners(tmp_path):
    exp = make_experiment(tmp_path, winners={k: v for k, v in WINNERS.items() if v[0] != "duration"})
    write_report(exp)
    table = pd.read_parquet(exp / "report" / "tables" / "duration.parquet")
    assert table[["winner", "step"]].values.tolist() == [["none", 0], ["mnli@best", 200], ["qqp@best", 100]]
    check_png(exp / "report" / "plots" / "duration_curves.png")


def test_local_data_is_labelled_with_its_directory_and_stand_ins_and_reference_points_are_shown(tmp_path):
    from xstilts.tasks.reference_scores import reference_points

    exp = make_experiment(tmp_path, source="local data (/data/xtreme)")
    path = exp / "evaluation" / "evaluation.parquet"
    ev = pd.read_parquet(path)
    ev["stand_in"] = (ev["target_task"] == "xnli") & (ev["split"] == "test")  # xnli's test read from validation
    ev.to_parquet(path, index=False)
    md = write_report(exp).read_text()
    assert "Data source: local data (/data/xtreme)." in md
    assert "not benchmark numbers" not in md and "offline world" not in md
    assert "† xnli: the 'test' scores of these tasks are read from another split" in md
    deltas = md.split("## Per-task deltas")[1].split("\n## ")[0]
    header = next(line for line in deltas.splitlines() if line.startswith("| winner"))
    assert "| xnli † |" in header and "| xquad |" in header
    section = md.split("## The baseline beside published reference points")[1].split("\n## ")[0]
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:2]): line for line in section.splitlines()}
    en = rows[("xquad", "en")]
    mbert = reference_points("xquad", "en")["mBERT"]
    assert f"{mbert:.2f}" in en  # the paper's number beside the baseline's
    base = ev[(ev["winner"] == "none") & (ev["target_task"] == "xquad") & (ev["lang"] == "en")]
    f1 = base[(base["split"] == "test") & (base["metric"] == "f1")]["score"].mean()
    headline = base[(base["split"] == "test") & base["headline"]]["score"].mean()
    assert f"| f1 | {f1:.2f} |" in en and f1 != headline  # the published metric (F1), not the headline
    assert "–" in rows[("xnli †", "sw")]  # no reference point: a dash, and the stand-in mark on the task
    ref = pd.read_parquet(exp / "report" / "tables" / "reference.parquet")
    assert (
        ref.loc[ref["target_task"] == "xnli", "stand_in"].all()
        and not ref.loc[ref["target_task"] == "xquad", "stand_in"].any()
    )


def test_the_offline_world_gets_no_reference_points(tmp_path):
    md = write_report(make_experiment(tmp_path)).read_text()
    assert "published reference points" not in md and "not benchmark numbers" in md


def test_provenance_counts_the_cooldowns_in_the_steps_spent():
    from xstilts.search.config import Intermediate
    from xstilts.search.report.provenance import schedule_text, spent_text

    def m(trial, step, budget):
        return {"trial_id": trial, "step": step, "metrics": {"budget_steps": budget}}

    # trial a: milestones 100 and 200 (cooldowns 20 and 40); b stopped at 100; the baseline spends nothing
    rows = [m("a", 100, 120), m("a", 200, 260), m("b", 100, 120), m("n", 0, 0)]
    assert spent_text(rows) == "380 over 3 trials (80 of them in milestone cooldowns)"
    old = [{"trial_id": "a", "step": 200, "metrics": {}}]  # a run from before budget_steps: its steps
    assert spent_text(old) == "200 over 1 trials (0 of them in milestone cooldowns)"
    wsd = SimpleNamespace(intermediate=Intermediate(steps=[100, 200]))
    assert schedule_text(wsd).startswith("wsd: 10 warm-up steps, then constant; each milestone cooled down for 0.2")
    linear = SimpleNamespace(intermediate=Intermediate(steps=[100], schedule="linear"))
    assert schedule_text(linear).startswith("linear:")


def test_a_language_at_chance_is_marked():
    from xstilts.search.report.sections import chance_text, verdict_section
    from xstilts.search.report.tables import chance_table

    rows = []
    for winner, lift in (("none", 0.0), ("mnli@best", 1.0)):
        for seed in (0, 1):
            for lang, score in (("de", 40.0), ("el", 0.5), ("ur", 1.0)):
                rows.append(
                    {"winner": winner, "target_task": "tatoeba", "seed": seed, "lang": lang}
                    | {"score": score + lift, "chance": 0.5}
                )
            rows.append(
                {"winner": winner, "target_task": "udpos", "seed": seed, "lang": "el", "score": 1.0, "chance": None}
            )
    table = chance_table(pd.DataFrame(rows)).set_index(["target_task", "lang"])
    assert ("udpos", "el") not in table.index  # an F1-scored task has no chance level
    assert table["at_chance"].to_dict() == {("tatoeba", "de"): False, ("tatoeba", "el"): True, ("tatoeba", "ur"): True}
    assert table.loc[("tatoeba", "ur"), "best"] == 2.0  # the best encoder's mean over seeds
    text = chance_text(table.reset_index())
    assert "tatoeba el (1.5), ur (2.0) (chance 0.5)" in text and " de " not in text
    verdict = verdict_section(pd.DataFrame(), ["el", "ur"], table.reset_index())
    assert ("note", text) in verdict
    assert chance_table(pd.DataFrame(rows).drop(columns="chance")).empty  # evaluations from before the column


def test_a_record_from_before_the_schedule_field_reads_as_the_linear_schedule_it_ran():
    from xstilts.search.config import Experiment, experiment_from_record
    from xstilts.tasks.registry import build_registry

    reg = build_registry()
    minimal = {"target": {"tasks": ["xnli"], "languages": ["en", "de", "sw"]}}
    record = Experiment.model_validate(minimal, context={"registry": reg}).model_dump(mode="json")
    assert record["intermediate"]["schedule"] == "wsd"  # today's default
    old = {**record, "intermediate": {k: v for k, v in record["intermediate"].items() if k != "schedule"}}
    assert experiment_from_record(old, reg).intermediate.schedule == "linear"
    assert experiment_from_record(record, reg).intermediate.schedule == "wsd"


def test_a_report_on_a_sweep_with_errored_trials_says_so_at_its_top(tmp_path):
    exp = make_experiment(tmp_path)
    assert "errored" not in write_report(exp).read_text()
    config = {"intermediate_task": "qqp", "intermediate_steps": 200, "lr": 1e-3, "seed": 7}
    RunDir(exp).append_event(
        {"event": "end", "trial_id": "t9", "how": "error", "reason": "OSError: disk", "config": config}
    )
    md = write_report(exp).read_text()
    top = md.split("\n## ")[0]
    assert "1 trial(s) of the sweep errored, so this report is on a partial sweep" in top
    assert "qqp, 200 steps, lr 0.001, seed 7 (OSError: disk)" in top and "--retry-errored" in top
