"""A resumed sweep catches its trackers up from the journal: a milestone journaled by the scheduler just before
a driver kill (Ray hands results to the trackers after the scheduler) reaches MLflow and TensorBoard, once, and
a trial the journal says had ended is ended in the tracker."""

from dataclasses import dataclass, field

from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from xstilts.search.journal import open_journal
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.trackers import MlflowTracker, TensorBoardTracker


@dataclass(eq=False)  # hashable by identity, as Ray's Trial
class FakeTrial:
    trial_id: str
    local_path: str
    last_result: dict = field(default_factory=dict)
    config: dict = field(default_factory=lambda: {"intermediate_task": "mnli", "lr": 1e-5})
    evaluated_params: dict = field(default_factory=dict)

    def init_local_path(self) -> None:
        pass


def journal_two_trials(run_dir: RunDir) -> None:
    def result(trial, step, mean):
        metrics = {"step": step, "mean": mean, "low_resource_mean": mean - 1, "worst": mean - 2, "probe/xnli/sw": 1.0}
        return {
            "event": "result",
            "trial_id": trial,
            "step": step,
            "config": {"intermediate_task": "mnli"},
            "metrics": metrics,
        }

    journal = open_journal(run_dir)
    journal.append(result("a", 100, 50.0), result("b", 100, 40.0))
    journal.append(result("a", 200, 55.0), {"event": "end", "trial_id": "a", "how": "stopped"})  # then the kill


def test_journaled_milestones_the_trackers_missed_are_logged_once_on_resume(tmp_path):
    run_dir = RunDir(tmp_path / "runs" / "offline")
    journal_two_trials(run_dir)
    # Ray's restored snapshot: a's last result was step 100 (its step 200 was journaled, never tracked);
    # b's step 100 had reached the trackers
    a = FakeTrial("a", str(tmp_path / "a"), last_result={"step": 100})
    b = FakeTrial("b", str(tmp_path / "b"), last_result={"step": 100})
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    before = MlflowTracker(uri, "exp", "offline", run_dir)
    before.on_trial_result(0, [a, b], a, {"step": 100, "mean": 50.0})  # what the killed driver had logged
    before.on_trial_result(0, [a, b], b, {"step": 100, "mean": 40.0})

    mlflow, tensorboard = MlflowTracker(uri, "exp", "offline", run_dir), TensorBoardTracker(run_dir)
    for tracker in (mlflow, tensorboard):
        tracker.on_step_begin(iteration=1, trials=[a, b])
        tracker.on_step_begin(iteration=2, trials=[a, b])  # once per driver

    client = MlflowClient(tracking_uri=uri)
    runs = {
        r.data.tags["xstilts.trial_id"]: r
        for r in client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    }
    assert sorted(m.step for m in client.get_metric_history(runs["a"].info.run_id, "mean")) == [100, 200]
    assert sorted(m.step for m in client.get_metric_history(runs["b"].info.run_id, "mean")) == [100]
    assert runs["a"].info.status == "FINISHED"  # ended as the journal says
    assert runs["b"].info.status == "RUNNING"  # b resumes: Ray ends it
    events = EventAccumulator(a.local_path).Reload()
    assert [e.step for e in events.Scalars("xstilts/mean")] == [200]
    assert not (tmp_path / "b").exists()  # nothing to catch up: no writer opened


def test_a_fresh_tracker_without_a_run_directory_catches_nothing_up(tmp_path):
    run_dir = RunDir(tmp_path / "runs" / "offline")
    journal_two_trials(run_dir)
    a = FakeTrial("a", str(tmp_path / "a"))
    TensorBoardTracker().on_step_begin(iteration=1, trials=[a])
    assert not (tmp_path / "a").exists()
