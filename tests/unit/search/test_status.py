"""`xstilts status`: trials by state, the best milestone vs none, evaluation parts and failed jobs, read
from the run directory alone (a sweep in progress: no Ray, no lock)."""

import json
import os

import pytest
from typer.testing import CliRunner

from xstilts.search.cli import app
from xstilts.search.rundir import RunDir
from xstilts.search.status import run_status, status_lines


def result(trial, task, step, mean):
    return {
        "event": "result",
        "trial_id": trial,
        "step": step,
        "config": {"intermediate_task": task},
        "metrics": {"mean": mean, "low_resource_mean": mean - 5, "worst": mean - 10},
    }


def running_sweep(tmp_path, replicates: int = 1) -> RunDir:
    run_dir = RunDir(tmp_path / "offline")
    config = {
        "target": {"tasks": ["xnli"], "languages": ["en", "de", "sw"]},
        "search": {"num_samples": 6, "metric": "mean", "replicates": replicates},
        "evaluation": {"seeds": 2, "tasks": ["xnli", "udpos"]},
    }
    run_dir.write_meta("offline", "abc", tmp_path, config)
    for event in [
        result("n", "none", 0, 40.0),
        {"event": "end", "trial_id": "n", "how": "complete"},
        result("a", "mnli", 100, 45.0),
        result("a", "mnli", 200, 47.5),
        {"event": "end", "trial_id": "a", "how": "complete"},
        result("b", "sst2", 100, 39.0),
        {"event": "end", "trial_id": "b", "how": "stopped"},
        {"event": "end", "trial_id": "c", "how": "error", "reason": "RuntimeError: boom", "config": {}},
        result("d", "qqp", 100, 41.0),  # still running
    ]:
        run_dir.append_event(event)
    return run_dir


def test_status_of_a_running_sweep(tmp_path):
    s = run_status(running_sweep(tmp_path))
    assert s["trials"] == {"total": 6, "complete": 2, "stopped": 1, "error": 1, "running": 1, "not started": 1}
    assert s["best"]["intermediate_task"] == "mnli" and s["best"]["step"] == 200 and s["delta_vs_none"] == 7.5
    assert s["failed_trials"] == [{"trial_id": "c", "reason": "RuntimeError: boom"}]
    assert s["evaluation"]["winners"] == 0 and s["report"] is None
    lines = status_lines(s)
    assert "trials: 5 of 6 started: 2 complete, 1 stopped, 1 error, 1 running, 1 not started" in lines
    assert any(line.startswith("best mean: 47.50 by mnli") and "+7.50 vs none" in line for line in lines)
    assert "evaluation: not started" in lines
    assert s["driver"] is None and "driver: none (the run directory is free)" in lines


def test_status_names_the_driver_holding_the_run_directory_without_taking_its_lease(tmp_path):
    from xstilts.search.lease import Holder, LeaseHeld, LocalLease, hold

    run_dir = running_sweep(tmp_path)
    with hold(run_dir, "sweep"):
        s = run_status(run_dir)
        assert s["driver"]["command"] == "sweep" and s["driver"]["pid"] == os.getpid()
        assert any(line.startswith("driver: xstilts sweep (host ") for line in status_lines(s))
        with pytest.raises(LeaseHeld):  # status took nothing: the lease is still the sweep's
            LocalLease(run_dir, Holder.me("evaluate")).acquire(break_lease=False)
    assert run_status(run_dir)["driver"] is None


def test_status_counts_evaluation_parts_and_lists_failed_jobs_until_rerun(tmp_path):
    run_dir = running_sweep(tmp_path)
    winners = [{"name": "none", "intermediate_task": "none"}, {"name": "mnli@best", "intermediate_task": "mnli"}]
    run_dir.write_winners(winners, {"rule": "english_dev"})
    run_dir.write_part([{"score": 1.0}], "none", "xnli", 0)
    run_dir.append_event(
        {
            "event": "eval_failed",
            "job": "mnli@best udpos seed 1",
            "reason": "OSError: disk",
            "parts": [["mnli@best", "udpos", 1]],
        }
    )
    ev = run_status(run_dir)["evaluation"]
    assert (ev["parts_done"], ev["parts_planned"], ev["complete"]) == (1, 8, False)
    assert ev["failed_jobs"] == [{"job": "mnli@best udpos seed 1", "reason": "OSError: disk"}]
    run_dir.write_part([{"score": 1.0}], "mnli@best", "udpos", 1)  # a rerun wrote it
    assert run_status(run_dir)["evaluation"]["failed_jobs"] == []
    out = CliRunner().invoke(app, ["status", str(run_dir.path), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["evaluation"]["parts_done"] == 2


def test_status_plans_a_part_per_replicate_the_baseline_s_too(tmp_path):
    run_dir = running_sweep(tmp_path, replicates=3)
    winners = [{"name": "none", "intermediate_task": "none"}, {"name": "mnli@best", "intermediate_task": "mnli"}]
    run_dir.write_winners(winners, {"rule": "english_dev"})
    # (3 replicates of the baseline, each with its own target seeds, + 3 of mnli@best) x 2 tasks x 2 seeds
    assert run_status(run_dir)["evaluation"]["parts_planned"] == (3 + 3) * 2 * 2


def test_status_of_a_directory_without_a_sweep_is_one_line(tmp_path):
    out = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert out.exit_code == 2 and "xstilts-experiment.json: not found" in out.stderr
    assert len(out.stderr.splitlines()) == 1


def test_status_names_the_data_source_as_the_run_recorded_it(tmp_path):
    run_dir = running_sweep(tmp_path)
    assert run_status(run_dir)["source"] == "offline world"  # recorded before provenance: the config's `offline`
    run_dir.write_provenance("sweep", {"data source": "local data (/kit/data)", "checkpoint dtype": "float16"})
    s = run_status(run_dir)
    assert s["source"] == "local data (/kit/data)" and "data source: local data (/kit/data)" in status_lines(s)
