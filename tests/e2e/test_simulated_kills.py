"""The driver killed at three points of a simulated sweep (`xstilts sweep --simulate`: the real driver, trials
that cost nothing), each time rerun at once: the sweep ends with the same (configuration, seed, step) results as
an uninterrupted one, none twice. The default suite runs 10 trials of up to 8 milestones, one at a time (the
order of results decides ASHA's and TPE's choices, so only a serial sweep has one right answer to compare
with); `benchmarks/scale.py` runs the same driver at 2,000 trials."""

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.conftest import write_experiments
from xstilts.search.rundir import RunDir

pytestmark = pytest.mark.e2e
N = 10
SERIAL = {
    "intermediate": {"steps": [200, 400, 800], "milestone_every": 100},
    "target": {"tasks": ["xnli", "xquad"]},
    "search": {"num_samples": N, "max_concurrent": 1},
}
CONFIG = ["intermediate_task", "intermediate_steps", "lr", "batch_size", "seed"]


def sweep(path):
    return [sys.executable, "-m", "xstilts", "sweep", str(path), "--simulate", "synthetic", "--gpus", "4"]


def results(run_dir: RunDir) -> set[tuple]:
    table = pq.read_table(run_dir.loc.join("results.parquet").path).to_pandas()
    assert not table.duplicated(["trial_id", "step", "target_task", "lang"]).any(), "a result row twice"
    rows = table.drop_duplicates(["trial_id", "step"])
    keys = {(*(row[c] for c in CONFIG), row["step"]) for _, row in rows.iterrows()}
    assert len(keys) == len(rows), "one (configuration, seed, step) under two trial ids"
    assert table["trial_id"].nunique() == N
    return keys


def kill_after(path, run_dir: RunDir, n_results: int) -> None:
    """Start the sweep, SIGKILL its driver (and the Ray it started) once `n_results` results are journaled."""
    proc = subprocess.Popen(sweep(path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            events = run_dir.read_ledger() if run_dir.has_ledger() else []
            if sum(e["event"] == "result" for e in events) >= n_results:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the sweep ended or stalled before {n_results} results (exit {proc.poll()})")
    finally:
        proc.wait(timeout=60)


def test_three_driver_kills_end_with_the_uninterrupted_sweep_s_results(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole = write_experiments(tmp_path / "a", SERIAL)
    done = subprocess.run(sweep(whole), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = results(RunDir(tmp_path / "a" / "runs" / "offline.simulated"))

    killed = write_experiments(tmp_path / "b", SERIAL)
    run_dir = RunDir(tmp_path / "b" / "runs" / "offline.simulated")
    total = len(expected)
    for share in (0.25, 0.5, 0.75):
        kill_after(killed, run_dir, int(total * share))
    rerun = subprocess.run(sweep(killed), capture_output=True, text=True, timeout=300)  # at once: no lease blocks
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert results(run_dir) == expected
