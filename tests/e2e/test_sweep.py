"""The CLI end to end on the offline world: local Ray, Optuna + ASHA, results, a SIGKILL and a resume."""

import json
import os
import signal
import subprocess
import time

import pyarrow.parquet as pq
import pytest

from tests.conftest import sweep_up, write_experiments
from tests.helpers.sweep import run_sweep, sweep_cmd, wait_for_kill_point
from xstilts.search.rundir import RunDir

pytestmark = pytest.mark.e2e
SMALL = {
    "intermediate": {"steps": [100, 200], "milestone_every": 100},
    "target": {"recipe": {"steps": 40}},
    "search": {"num_samples": 5},
}


def check_results(exp_dir, num_samples, langs):
    table = pq.read_table(exp_dir / "results.parquet").to_pandas()
    keys = table[["trial_id", "step", "target_task", "lang"]]
    assert not keys.duplicated().any(), "a milestone row appears twice"
    assert table["trial_id"].nunique() == num_samples, "every trial exactly once"
    assert (table.groupby(["trial_id", "step"]).size() == langs).all()  # every probed task x language
    assert set(table["source"]) == {"offline world"}
    assert table["seed"].notna().all() and (table.groupby("trial_id")["seed"].nunique() == 1).all()
    state = json.loads(sorted(exp_dir.glob("experiment_state-*.json"))[-1].read_text())  # the latest snapshot
    assert len(state["trial_data"]) == num_samples
    return table


def trackers(tmp_path) -> dict:
    """MLflow on a local sqlite store and W&B offline: no network."""
    return {
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "kill"},
        "wandb": {"project": "xstilts-test", "mode": "offline", "dir": str(tmp_path / "wandb")},
    }


def check_trackers(tmp_path, exp_dir, table) -> None:
    """One MLflow run per trial (after the kill too) with its config as params and every milestone's scores
    at the intermediate step, once; W&B's offline run of each trial; TensorBoard's scalars at the steps."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    milestones = table.groupby("trial_id")["step"].apply(lambda s: sorted(set(s))).to_dict()
    runs = mlflow.search_runs(experiment_names=["kill"], output_format="list")
    by_trial = {r.data.tags["xstilts.trial_id"]: r for r in runs}
    assert len(runs) == len(by_trial) == len(milestones), "a trial is one MLflow run, not two"
    client = MlflowClient()
    for trial_id, steps in milestones.items():
        run = by_trial[trial_id]
        assert "intermediate_task" in run.data.params and "lr" in run.data.params
        history = client.get_metric_history(run.info.run_id, "mean")
        assert sorted(m.step for m in history) == steps, trial_id  # each milestone once, at its step
        assert "probe/xnli/sw" in run.data.metrics and "low_resource_mean" in run.data.metrics
    wandb_runs = list((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    assert {p.name.rsplit("-", 1)[1] for p in wandb_runs} == set(milestones)
    assert all(list(p.glob("*.wandb")) for p in wandb_runs)
    for trial_id, steps in milestones.items():
        (trial_dir,) = exp_dir.glob(f"run_trial_{trial_id}_*")
        events = EventAccumulator(str(trial_dir)).Reload()
        assert sorted({e.step for e in events.Scalars("xstilts/mean")}) == steps, trial_id


def test_sigkill_then_resume_loses_nothing_and_revives_nothing_and_a_rerun_does_nothing(
    tmp_path, offline_plan, monkeypatch
):
    """The sweep end to end: killed at once (SIGKILL) just after ASHA stopped a trial, the same command
    resumes it to its results (nothing lost, nothing revived, trackers caught up), and running it again
    on the finished sweep changes nothing."""
    n = 6
    path = write_experiments(
        tmp_path,
        {
            **SMALL,
            "search": {"num_samples": n},
            "target": {"recipe": {"steps": 40}, "tasks": ["xnli", "xquad"]},
            "trackers": trackers(tmp_path),
        },
    )
    exp_dir = tmp_path / "runs" / "offline"
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(sweep_cmd(path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        before = wait_for_kill_point(RunDir(exp_dir), proc, time.time() + 400)
        os.kill(proc.pid, signal.SIGKILL)  # the driver, at once
        proc.wait(timeout=30)
    finally:
        sweep_up(proc)
    ended_before = {e["trial_id"]: e["how"] for e in before if e["event"] == "end"}
    last_step = {}
    for e in before:
        if e["event"] == "result":
            last_step[e["trial_id"]] = max(e["step"], last_step.get(e["trial_id"], 0))

    resumed = run_sweep(path)  # the same command resumes (S3's test resumes with --resume)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = RunDir(exp_dir).read_ledger()[len(before) :]
    revived = [e for e in after if e["event"] == "result" and e["trial_id"] in ended_before]
    assert not revived, f"trials that had ended ran again: {revived}"
    for e in after:  # running trials continue from their checkpoint: no milestone journaled twice
        if e["event"] == "result":
            assert e["step"] > last_step.get(e["trial_id"], -1), e
    table = check_results(exp_dir, n, langs=7 + 4)  # xnli, xquad (en de ru el)
    for tid, how in ended_before.items():
        assert table[table.trial_id == tid]["end"].iloc[0] == how
    assert set(table["end"]) <= {"complete", "stopped"}
    assert "none" in set(table["intermediate_task"]) and len(set(table["intermediate_task"])) >= 2
    assert set(table["target_task"]) == {"xnli", "xquad"}
    assert table.drop_duplicates("trial_id")["seed"].nunique() == n  # each suggestion its own seed
    assert set(table.columns) >= {
        "lr",
        "batch_size",
        "intermediate_steps",
        "score",
        "mean",
        "low_resource_mean",
        "worst",
        "worst_lang",
        "resource_tier",
        "low_resource",
    }
    out = resumed.stdout
    assert "best: trial" in out and "vs none" in out and "results:" in out
    assert "started" in out and "best so far" in out  # plain progress lines: stdout is not a terminal
    assert "== Status ==" not in out and "Trial status" not in out  # Ray's own table is off
    assert "Trial run_trial" not in out and "Trial run_trial" not in resumed.stderr
    ledger = RunDir(exp_dir).read_ledger()
    assert all(e["metrics"]["startup_s"] > 0 for e in ledger if e["event"] == "result")  # data mapped, model loaded
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    check_trackers(tmp_path, exp_dir, table)

    first_table = pq.read_table(exp_dir / "results.parquet")
    again = run_sweep(path)  # a finished sweep: nothing runs again, the same table is rebuilt
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(RunDir(exp_dir).read_ledger()) == len(ledger)
    assert pq.read_table(exp_dir / "results.parquet").equals(first_table)


@pytest.mark.slow  # about 30 s a signal on 2 cores: `make test-slow`
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_ends_the_sweep_in_time_with_its_results_written(tmp_path, offline_plan, sig, code):
    n = 4
    path = write_experiments(
        tmp_path, {**SMALL, "search": {"num_samples": n}, "target": {"recipe": {"steps": 40}, "tasks": ["xnli"]}}
    )
    exp_dir = tmp_path / "runs" / "offline"
    proc = subprocess.Popen(
        sweep_cmd(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.time() + 400
        while sum(e["event"] == "result" for e in RunDir(exp_dir).read_ledger()) < 2:
            assert time.time() < deadline and proc.poll() is None, "the sweep ended before the signal"
            time.sleep(0.1)
        sent = time.time()
        proc.send_signal(sig)  # pre-emption: the driver alone is told
        _, err = proc.communicate(timeout=60)
        took = time.time() - sent
    finally:
        sweep_up(proc)
    assert proc.returncode == code, err[-3000:]
    assert took <= 30, took
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"stopped by {sig.name}" in lines[0] and "the same command resumes" in lines[0], err
    assert (exp_dir / "results.parquet").is_file()  # what ran so far; resuming is the SIGKILL test's
