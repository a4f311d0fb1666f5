"""A trial that raises: journaled with its reason, shown as an error, the sweep finishes; `--resume
--retry-errored` reruns it. The fault is injected with the test-only XSTILTS_TEST_FAULT setting."""

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.conftest import write_experiments
from xstilts.search.rundir import RunDir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about 45 s on 2 cores: `make test-slow`
FAULTY = {
    "intermediate": {"tasks": ["mnli", "none"], "steps": [100, 200], "milestone_every": 100},
    "target": {"recipe": {"steps": 40}, "tasks": ["xnli"]},
    "search": {"num_samples": 3},
    "max_failures": 0,
}


def sweep(path, *extra, env=None):
    return subprocess.run(
        [sys.executable, "-m", "xstilts", "sweep", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_an_errored_trial_is_journaled_shown_and_retried(tmp_path, offline_plan):
    path = write_experiments(tmp_path, FAULTY)
    exp_dir = tmp_path / "runs" / "offline"
    fault = {"XSTILTS_TEST_FAULT": "mnli@100", "XSTILTS_TEST_FAULT_ONCE": str(tmp_path / "fault-fired")}
    first = sweep(path, env=fault)
    assert first.returncode == 0, first.stderr[-3000:]  # the sweep goes on to finish
    reason = "InjectedFault: injected test fault at mnli step 100 (XSTILTS_TEST_FAULT)"
    errors = [e for e in RunDir(exp_dir).read_ledger() if e["event"] == "end" and e["how"] == "error"]
    assert len(errors) == 1 and errors[0]["reason"] == reason, errors
    bad = errors[0]["trial_id"]
    assert f"trial {bad} error: {reason}" in first.stdout  # the live view's line
    assert "--retry-errored" in first.stdout  # the summary says how to rerun it
    table = pq.read_table(exp_dir / "results.parquet").to_pandas()
    row = table[table.trial_id == bad]
    assert len(row) == 1 and row["end"].iloc[0] == "error" and row["error"].iloc[0] == reason
    assert table["trial_id"].nunique() == 3
    assert set(table[table.trial_id != bad]["end"]) <= {"complete", "stopped"}

    again = sweep(path, "--resume")  # without --retry-errored the trial stays errored
    assert again.returncode == 0, again.stderr[-3000:]
    assert not [e for e in RunDir(exp_dir).read_ledger() if e["event"] == "result" and e["trial_id"] == bad]

    retried = sweep(path, "--resume", "--retry-errored", env=fault)  # the fault fired once: now it passes
    assert retried.returncode == 0, retried.stderr[-3000:]
    events = RunDir(exp_dir).read_ledger()
    assert {"event": "retry", "trial_id": bad}.items() <= next(e for e in events if e["event"] == "retry").items()
    assert [e for e in events if e["event"] == "result" and e["trial_id"] == bad]
    table = pq.read_table(exp_dir / "results.parquet").to_pandas()
    assert table["trial_id"].nunique() == 3 and "error" not in set(table["end"])
    assert not table[["trial_id", "step", "target_task", "lang"]].duplicated().any()


def test_run_stops_before_evaluating_a_sweep_with_an_errored_trial(tmp_path, offline_plan):
    """`xstilts run` does not evaluate a partial sweep: one line, exit 1, no evaluation; `--allow-errored`
    goes on, and the report says at its top which configuration is missing."""
    small = FAULTY | {"evaluation": {"seeds": 1, "tasks": ["xnli"], "recipe": {"steps": 10}}}
    path = write_experiments(tmp_path, small)
    exp_dir = tmp_path / "runs" / "offline"
    fault = {"XSTILTS_TEST_FAULT": "mnli@100", "XSTILTS_TEST_FAULT_ONCE": str(tmp_path / "fault-fired")}
    env = {**os.environ, **fault}
    cmd = [sys.executable, "-m", "xstilts", "run", str(path)]
    stopped = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert stopped.returncode == 1, stopped.stderr[-3000:]
    lines = [line for line in stopped.stderr.splitlines() if line.startswith("xstilts: error:")]
    assert len(lines) == 1 and "1 of 3 trial(s) errored" in lines[0] and "--retry-errored" in lines[0], lines
    assert not (exp_dir / "evaluation").exists() and not (exp_dir / "report").exists()
    allowed = subprocess.run([*cmd, "--allow-errored"], capture_output=True, text=True, timeout=900, env=env)
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    top = (exp_dir / "report" / "report.md").read_text().split("\n## ")[0]
    assert "1 trial(s) of the sweep errored" in top and "mnli, " in top
