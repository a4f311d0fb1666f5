"""The whole job with its run directory on a real S3 API (moto's server on localhost): a sweep SIGKILLed and
resumed, an evaluation SIGKILLed and rerun, and the report, with the invariants of the local e2e tests."""

import os
import re
import signal
import subprocess
import sys
import time

import pyarrow.fs as pafs
import pytest

from tests.conftest import sweep_up, write_experiments
from tests.helpers.sweep import run_sweep, sweep_cmd, wait_for_kill_point
from xstilts.search.rundir import RunDir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about 95 s on 2 cores: `make test-slow`
SMALL = {
    "intermediate": {"tasks": ["mnli", "sst2", "none"], "steps": [100, 200], "milestone_every": 100},
    "target": {"tasks": ["xnli"], "recipe": {"steps": 40}},
    "search": {"num_samples": 6},
    "evaluation": {"seeds": 2, "recipe": {"steps": 20}, "tasks": ["xnli", "tatoeba"], "durations": False},
}


def last_steps(events):
    last: dict = {}
    for e in events:
        if e["event"] == "result":
            last[e["trial_id"]] = max(e["step"], last.get(e["trial_id"], -1))
    return last


def evaluate_cmd(uri):
    return [sys.executable, "-m", "xstilts", "evaluate", uri]


def test_sweep_evaluate_report_on_s3_survive_kills(tmp_path, offline_plan, s3_store):
    n = 6
    path = write_experiments(tmp_path, {**SMALL, "storage_path": s3_store.uri("runs")})
    uri = s3_store.uri("runs/offline")
    run_dir = RunDir(uri)

    # the sweep, SIGKILLed once ASHA stopped a trial (or after a few results), then resumed
    with open(tmp_path / "sweep.log", "w") as log:
        proc = subprocess.Popen(sweep_cmd(path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            before = wait_for_kill_point(RunDir(uri), proc, time.time() + 400)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            sweep_up(proc)
    ended_before = {e["trial_id"] for e in before if e["event"] == "end"}
    last = last_steps(before)
    resumed = run_sweep(path, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "s3://xstilts-test/runs/offline/results.parquet" in resumed.stdout
    after = RunDir(uri).read_ledger()[len(before) :]
    for e in after:
        if e["event"] == "result":
            assert e["trial_id"] not in ended_before, f"an ended trial ran again: {e}"
            assert e["step"] > last.get(e["trial_id"], -1), f"a milestone journaled twice: {e}"
    table = run_dir.read_results()
    assert table["trial_id"].nunique() == n, "every trial exactly once"
    assert not table[["trial_id", "step", "target_task", "lang"]].duplicated().any()
    assert len(run_dir.known_trials()) == n
    assert not (tmp_path / "runs").exists(), "nothing of the run directory was written locally"

    # the evaluation, SIGKILLed with some parts written, then rerun: parts neither lost nor redone
    with open(tmp_path / "evaluate.log", "w") as log:
        proc = subprocess.Popen(evaluate_cmd(uri), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + 400
            while len(run_dir.parts()) < 2:
                assert time.time() < deadline and proc.poll() is None, "the evaluation ended before the kill"
                time.sleep(0.1)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            sweep_up(proc)
    fs = run_dir.loc.fs

    def parts_now():
        return {
            p: (run_dir.loc.read_bytes(p), fs.get_file_info(run_dir.loc.join(p).path).mtime) for p in run_dir.parts()
        }

    kept = parts_now()
    assert not run_dir.has_evaluation()
    again = subprocess.run(evaluate_cmd(uri), capture_output=True, text=True, timeout=600, start_new_session=True)
    assert again.returncode == 0, again.stderr[-3000:]
    now = parts_now()
    for part, (data, mtime) in kept.items():
        assert now[part] == (data, mtime), f"{part} was redone"
    ev = run_dir.read_evaluation()
    winners = {w["name"] for w in run_dir.read_winners()}
    assert set(ev["winner"]) == winners and "none" in winners
    assert not ev.duplicated(["winner", "target_task", "seed", "lang", "split", "metric"]).any()
    assert set(ev["seed"]) == {0, 1} and set(ev["target_task"]) == {"xnli", "tatoeba"}
    encoders = [i.base_name for i in run_dir.loc.listdir("evaluation/encoders")]
    assert encoders and all(run_dir.has_encoder(name) for name in encoders)

    # the report, into the run directory and into a local directory
    report = subprocess.run(
        [sys.executable, "-m", "xstilts", "report", uri], capture_output=True, text=True, timeout=300
    )
    assert report.returncode == 0, report.stderr[-3000:]
    assert "s3://xstilts-test/runs/offline/report/report.md" in report.stdout
    md = run_dir.loc.read_text("report/report.md")
    assert "xstilts report: offline" in md and run_dir.loc.is_file("report/report.html")
    assert any(i.base_name.endswith(".png") for i in run_dir.loc.listdir("report/plots"))
    local = subprocess.run(
        [sys.executable, "-m", "xstilts", "report", uri, "--out", str(tmp_path / "local-report")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert local.returncode == 0, local.stderr[-3000:]

    def undated(text):  # the provenance says when the report was written
        return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "WHEN", text)

    assert undated((tmp_path / "local-report" / "report.md").read_text()) == undated(md)
    objects = fs.get_file_info(pafs.FileSelector("xstilts-test/runs/offline", recursive=True))
    assert not [o.path for o in objects if o.base_name.endswith(".tmp")]
