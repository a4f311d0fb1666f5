"""Checkpoint retention: each trial's best N by the search metric and its latest, winners (by the evaluation's
selection rule) until their evaluation is done; pruning on a run directory, local or on S3."""

import pytest

from tests.helpers.selection import (
    check_prune_keeps_latest_best_winners_and_unjournaled,
    milestone,
    steps_of,
    write_checkpoints,
)
from xstilts.search.journal import Journal
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Retention, kept_steps, prune
from xstilts.search.sweep.scheduler import PersistentASHA

RET = Retention(keep=1, metric="mean", select="low_resource_mean", durations=True)


def test_kept_steps_best_by_the_metric_and_winners_until_evaluated():
    ms = [
        milestone("a", 100, 50, 30),
        milestone("a", 200, 40, 45),  # a's best low-resource: mnli's winner, and the best at step 200
        milestone("a", 300, 45, 20),
        milestone("b", 100, 30, 35),  # the best at step 100 (by low_resource_mean)
        milestone("b", 200, 35, 10),
    ]
    kept = kept_steps(ms, RET, winners_evaluated=False)
    assert kept == {"a": {100, 200, 300}, "b": {100, 200}}  # a@300 is the only mnli milestone at 300
    assert kept_steps(ms, RET, winners_evaluated=True) == {"a": {100}, "b": {200}}  # best 1 by mean


@pytest.fixture
def run_dir(tmp_path):
    """Locally (tests/integration/test_storage.py prunes on S3)."""
    return RunDir(tmp_path / "runs" / "offline")


def test_prune_keeps_latest_best_winners_and_unjournaled(run_dir):
    check_prune_keeps_latest_best_winners_and_unjournaled(run_dir)


def test_a_running_trial_keeps_its_two_latest(run_dir):
    ms = [milestone("a", s, s, s, end="running") for s in (100, 200, 300)]
    write_checkpoints(run_dir, "a", [100, 200, 300])
    prune(run_dir, ms, Retention(keep=1, metric="mean", select="mean", durations=False), winners_evaluated=True)
    assert steps_of(run_dir, "a") == [200, 300]  # the snapshot may still name 200


def test_the_scheduler_prunes_the_reporting_trial(tmp_path):
    run_dir = RunDir(tmp_path / "offline")
    retention = Retention(keep=1, metric="mean", select="low_resource_mean", durations=False)
    sched = PersistentASHA(
        run_dir, retention=retention, time_attr="step", max_t=400, grace_period=100, reduction_factor=2
    )
    sched.set_search_properties("mean", "max")
    trial = type("T", (), {"trial_id": "a", "status": "RUNNING", "config": {"intermediate_task": "mnli"}})()
    sched.on_trial_add(None, trial)
    for step, mean in [(100, 50.0), (200, 10.0), (300, 20.0)]:
        write_checkpoints(run_dir, "a", [step])
        sched.on_trial_result(None, trial, {"step": step, "mean": mean, "low_resource_mean": mean})
    assert steps_of(run_dir, "a") == [100, 200, 300]  # best, and the two latest of a running trial
    write_checkpoints(run_dir, "a", [400])
    sched.on_trial_result(None, trial, {"step": 400, "mean": 5.0, "low_resource_mean": 5.0})
    assert steps_of(run_dir, "a") == [100, 400]  # the trial completed at 400: its latest and its best
    assert [m["step"] for m in Journal(run_dir).milestones()] == [100, 200, 300, 400]
