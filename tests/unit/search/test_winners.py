"""Winner selection and the resumable parts of `xstilts evaluate`."""

import pyarrow.parquet as pq

from xstilts.search.evaluation.evaluate import jobs_of
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Rule, select_winners
from xstilts.tasks.registry import build_registry


def ms(trial, task, step, mean, low):
    return {
        "trial_id": trial,
        "step": step,
        "config": {"intermediate_task": task, "intermediate_steps": 300},
        "metrics": {"mean": mean, "low_resource_mean": low, "worst": low - 5},
        "end": "complete",
    }


MILESTONES = [
    ms("a", "mnli", 100, 50, 40),
    ms("a", "mnli", 200, 52, 45),
    ms("b", "mnli", 100, 55, 38),
    ms("b", "mnli", 200, 53, 44),
    ms("c", "sst2", 100, 41, 39),
    ms("n", "none", 0, 35, 33),
    ms("m", "none", 0, 36, float("nan")),
]


def test_best_per_task_per_duration_and_the_baseline_by_the_selection_rule():
    winners = {w.name: w for w in select_winners(MILESTONES, Rule("low_resource_mean", True))}
    assert set(winners) == {"mnli@best", "mnli@step100", "mnli@step200", "sst2@best", "sst2@step100", "none"}
    assert (winners["mnli@best"].trial_id, winners["mnli@best"].step) == ("a", 200)  # low 45 beats 44
    assert winners["mnli@step100"].trial_id == "a"  # 40 > 38 at step 100
    assert winners["none"].trial_id == "n" and winners["none"].role == "baseline"  # NaN never wins
    by_mean = {w.name: w for w in select_winners(MILESTONES, Rule("mean", False))}
    assert set(by_mean) == {"mnli@best", "sst2@best", "none"}
    assert (by_mean["mnli@best"].trial_id, by_mean["mnli@best"].step) == ("b", 100)
    assert by_mean["none"].trial_id == "m"


def test_top_tasks_keeps_the_best_ranked_intermediate_tasks_and_the_baseline():
    more = [*MILESTONES, ms("d", "qqp", 100, 60, 41), ms("d", "qqp", 200, 61, 42)]
    top1 = {w.name for w in select_winners(more, Rule("low_resource_mean", True, top=1))}
    assert top1 == {"mnli@best", "mnli@step100", "mnli@step200", "none"}  # mnli's 45 beats qqp's 42, sst2's 39
    top2 = {w.name for w in select_winners(more, Rule("mean", False, top=2))}
    assert top2 == {"qqp@best", "mnli@best", "none"}  # by mean: qqp 61, mnli 55, sst2 41


def test_parts_are_written_atomically_and_collected(tmp_path):
    rows = [{"winner": "none", "target_task": "xnli", "seed": 0, "lang": "de", "score": 40.0}]
    run_dir = RunDir(tmp_path)
    run_dir.write_part(rows, "mnli@best", "xnli", 0)
    run_dir.write_part(rows, "none", "xnli", 0)
    assert run_dir.part_name("mnli@best", "xnli", 0) == "evaluation/parts/mnli_best__xnli__seed0.parquet"
    assert not list(tmp_path.glob("evaluation/parts/*.tmp"))
    table = run_dir.collect_parts()
    assert table.num_rows == 2 and pq.read_table(tmp_path / "evaluation" / "evaluation.parquet").num_rows == 2


def test_jobs_share_a_fine_tune_only_where_xtreme_does_and_retrieval_runs_once():
    nine = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
    registry = build_registry()
    jobs = jobs_of([registry[t] for t in nine], [0, 1])
    assert jobs == [
        (("xnli",), [0]),
        (("xnli",), [1]),
        (("pawsx",), [0]),
        (("pawsx",), [1]),
        (("udpos",), [0]),
        (("udpos",), [1]),
        (("panx",), [0]),
        (("panx",), [1]),
        (("xquad", "mlqa"), [0]),
        (("xquad", "mlqa"), [1]),
        (("tydiqa",), [0]),
        (("tydiqa",), [1]),
        (("bucc2018", "tatoeba"), [0, 1]),
    ]
    covered = {(t, s) for tasks, seeds in jobs for t in tasks for s in seeds}
    assert covered == {(t, s) for t in nine for s in (0, 1)}  # every (task, seed) exactly in one job
    assert sum(len(tasks) * len(seeds) for tasks, seeds in jobs) == len(covered)


def test_english_dev_selection_uses_the_probes_english_scores():
    from xstilts.search.config import Evaluation
    from xstilts.search.selection import milestone_score

    def with_en(m, xnli_en, panx_en):
        return {
            **m,
            "metrics": {**m["metrics"], "probe/xnli/en": xnli_en, "probe/panx/en": panx_en, "probe/xnli/de": 99},
        }

    english = [
        with_en(MILESTONES[0], 70, 60),  # a@100: English 65
        with_en(MILESTONES[1], 60, 60),  # a@200: 60 (the best low-resource mean, 45)
        with_en(MILESTONES[2], 80, 70),  # b@100: 75
        with_en(MILESTONES[3], 50, 50),
        *MILESTONES[4:],
    ]
    assert milestone_score(english[0], "english_dev") == 65.0  # de is not English
    assert milestone_score(MILESTONES[4], "english_dev") == float("-inf")  # no English probe
    assert Evaluation().selection == "english_dev" and Evaluation().rule == "english_dev"  # XTREME's default
    assert Evaluation(selection="target_dev", select="mean").rule == "mean"
    strict = {w.name: w for w in select_winners(english, Rule(Evaluation().rule, False))}
    oracle = {w.name: w for w in select_winners(english, Rule(Evaluation(selection="target_dev").rule, False))}
    assert (strict["mnli@best"].trial_id, strict["mnli@best"].step) == ("b", 100)
    assert (oracle["mnli@best"].trial_id, oracle["mnli@best"].step) == ("a", 200)


def test_parts_whose_chance_is_all_null_or_missing_collect_into_one_table(tmp_path):
    """QA parts have no chance level (all null), Tatoeba's have one, and a part written before the column
    existed has none: one table, the column a float with nulls."""
    run_dir = RunDir(tmp_path)
    base = {"winner": "none", "seed": 0, "lang": "de", "score": 40.0}
    run_dir.write_part([base | {"target_task": "xquad", "chance": None}], "none", "xquad", 0)
    run_dir.write_part([base | {"target_task": "tatoeba", "chance": 0.5}], "none", "tatoeba", 0)
    run_dir.write_part([base | {"target_task": "udpos"}], "none", "udpos", 0)
    table = run_dir.collect_parts()
    chance = dict(zip(table["target_task"].to_pylist(), table["chance"].to_pylist()))
    assert chance == {"xquad": None, "tatoeba": 0.5, "udpos": None}


def test_a_rerun_job_writes_only_the_parts_a_kill_left_missing(tmp_path):
    """A retrieval job writes a part per task and seed; killed between them and rerun, it leaves the parts
    already written as they were (same bytes, same modification time) and writes the rest."""
    from xstilts.search.evaluation.evaluate import write_job
    from xstilts.search.selection import Winner

    run_dir = RunDir(tmp_path)
    none = Winner(name="none", role="baseline", intermediate_task="none", step=0, trial_id="t0", config={})
    rows = [{"target_task": t, "lang": "de", "score": 40.0} for t in ("bucc2018", "tatoeba")]
    write_job(rows, [none], ("bucc2018", "tatoeba"), [0], run_dir)  # the run killed after seed 0's parts
    first = tmp_path / run_dir.part_name("none", "tatoeba", 0)
    before = (first.read_bytes(), first.stat().st_mtime_ns)
    write_job(rows, [none], ("bucc2018", "tatoeba"), [0, 1, 2], run_dir)  # the rerun
    assert (first.read_bytes(), first.stat().st_mtime_ns) == before
    assert all(run_dir.has_part("none", t, s) for t in ("bucc2018", "tatoeba") for s in (0, 1, 2))
