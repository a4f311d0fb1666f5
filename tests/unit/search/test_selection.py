"""Checkpoint retention: each trial's best N by the search metric and its latest, winners (by the evaluation's
selection rule) until their evaluation is done; pruning on a run directory, local or on S3."""

import json

import pytest

from xstilts.search.journal import Journal
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Retention, kept_steps, prune
from xstilts.search.sweep.scheduler import PersistentASHA

RET = Retention(keep=1, metric="mean", select="low_resource_mean", durations=True)


def milestone(tid, step, mean, low, task="mnli", end="complete"):
    return {
        "trial_id": tid,
        "step": step,
        "config": {"intermediate_task": task},
        "metrics": {"mean": mean, "low_resource_mean": low},
        "end": end,
    }


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


def write_checkpoints(run_dir, tid, steps):
    for step in steps:
        run_dir.loc.write_text(f"run_trial_{tid}_00000/checkpoint_{step:06d}/state.json", json.dumps({"step": step}))
        run_dir.loc.write_text(f"run_trial_{tid}_00000/checkpoint_{step:06d}/model.safetensors", "w")


@pytest.fixture
def run_dir(tmp_path):
    """Locally (tests/integration/test_storage.py prunes on S3)."""
    return RunDir(tmp_path / "runs" / "offline")


def steps_of(run_dir, tid):
    return sorted(step for _rel, step in run_dir.trial_checkpoints(tid))


def test_prune_keeps_latest_best_winners_and_unjournaled(run_dir):
    ms = [milestone("a", s, mean, low) for s, mean, low in [(100, 10, 1), (200, 50, 2), (300, 20, 3), (400, 30, 4)]]
    ms += [milestone("b", 100, 60, 10, task="qqp")]
    write_checkpoints(run_dir, "a", [100, 200, 300, 400, 500])  # 500: its result is on its way
    write_checkpoints(run_dir, "b", [100])
    retention = Retention(keep=1, metric="mean", select="low_resource_mean", durations=False)
    removed = prune(run_dir, ms, retention)
    # a: 200 best by mean, 400 best low-resource (mnli's winner), 500 the latest; 100 and 300 go
    assert steps_of(run_dir, "a") == [200, 400, 500] and len(removed) == 2
    assert steps_of(run_dir, "b") == [100]
    assert run_dir.trial_checkpoint("a", 300) is None and run_dir.trial_checkpoint("a", 400)
    ms.append(milestone("a", 500, 0, 0))
    prune(run_dir, ms, retention, winners_evaluated=True)  # the winners' encoders are saved
    assert steps_of(run_dir, "a") == [200, 500]


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
