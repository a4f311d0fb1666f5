"""One driver per run directory, with real drivers (`xstilts sweep --simulate`: the real driver, trials that cost
nothing): a second sweep and an `evaluate` started during a sweep are refused with one line naming it, while
`status` reads the run; a SIGKILLed driver's rerun, started at once, resumes; every trial is journaled once.
On local disk and on moto's S3 server."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import sweep_up, write_experiments
from xstilts.search.rundir import RunDir

pytestmark = pytest.mark.e2e
SMALL = {
    "intermediate": {"steps": [100, 200, 300], "milestone_every": 100},
    "target": {"tasks": ["xnli"]},
    "search": {"num_samples": 8, "max_concurrent": 2},
}
HELD = 2  # milestones the first driver reports before the gate holds it


def xstilts(*args):
    return [sys.executable, "-m", "xstilts", *map(str, args)]


def start(path, gate):
    """The first driver, held by the test gate (XSTILTS_TEST_SIMULATE_GATE) after its first HELD milestones, so
    that it is still running, whatever the machine's load, while the others are tried."""
    gate.mkdir()
    (gate / "allow").write_text(str(HELD))
    return subprocess.Popen(
        xstilts("sweep", path, "--simulate", "synthetic", "--gpus", 4),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "XSTILTS_TEST_SIMULATE_GATE": str(gate)},
    )


def wait_for_results(run_dir: RunDir, proc, n: int) -> list[dict]:
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        events = run_dir.read_ledger() if run_dir.has_ledger() else []
        if sum(e["event"] == "result" for e in events) >= n:
            return events
        time.sleep(0.1)
    raise AssertionError(f"the sweep ended or stalled before {n} results: {proc.poll()} {proc.stderr.read()[-2000:]}")


def refused(cmd, holder_pid, env=None) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
    assert "is in use by xstilts sweep (host " in lines[0] and f"pid {holder_pid}, since " in lines[0], lines[0]


def check_one_driver(events: list[dict]) -> None:
    """What the ledger held when the second driver was refused: each milestone once, each seed one trial."""
    results = [(e["trial_id"], e["step"]) for e in events if e["event"] == "result"]
    assert len(results) == len(set(results)), "a milestone journaled twice"
    seeds = {}
    for e in events:
        if e["event"] == "result":
            assert seeds.setdefault(e["config"]["seed"], e["trial_id"]) == e["trial_id"], "a trial run twice"


def check_journaled_once(run_dir: RunDir, n: int) -> None:
    """After the resumed sweep: every trial once in the results (a trial a kill orphaned before Ray's snapshot
    named it runs again under a new id; the results hold Ray's trials), each milestone once."""
    table = run_dir.read_results()
    assert not table.duplicated(["trial_id", "step", "target_task", "lang"]).any(), "a result row twice"
    per_trial = table.drop_duplicates("trial_id")
    assert len(per_trial) == n and sorted(per_trial["seed"]) == list(range(n)), "every trial once, no extra one"


def kill_then_rerun(first, path, run_dir: RunDir) -> None:
    """SIGKILL the first driver (still running: the gate held it while the checks were made), then rerun the
    same command at once, ungated: not refused (a dead driver's lease is free at once), it resumes to the end."""
    try:
        assert first.poll() is None, "the first driver ended while the gate held it"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        sweep_up(first)
    rerun = subprocess.run(
        xstilts("sweep", path, "--simulate", "synthetic", "--gpus", 4), capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    check_journaled_once(run_dir, 8)
    assert not run_dir.loc.exists("driver.lease")


def test_a_second_driver_and_an_evaluate_are_refused_and_a_sigkilled_driver_s_rerun_resumes(tmp_path):
    path = write_experiments(tmp_path, SMALL)
    run_dir = RunDir(tmp_path / "runs" / "offline.simulated")
    first = start(path, tmp_path / "gate")
    try:
        wait_for_results(run_dir, first, HELD)
        refused(xstilts("evaluate", run_dir.path), first.pid)
        refused(xstilts("sweep", path, "--simulate", "synthetic", "--gpus", 4), first.pid)
        check_one_driver(run_dir.read_ledger())
        status = subprocess.run(xstilts("status", run_dir.path), capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "driver: xstilts sweep (host " in status.stdout  # read-only: no lease
    except BaseException:
        sweep_up(first)
        raise
    kill_then_rerun(first, path, run_dir)
    simulated = subprocess.run(xstilts("evaluate", run_dir.path), capture_output=True, text=True, timeout=120)
    assert simulated.returncode == 2 and "a simulated sweep" in simulated.stderr  # nothing to evaluate


def test_on_s3_a_second_driver_is_refused_and_a_sigkilled_driver_s_rerun_resumes(tmp_path, s3_store):
    path = write_experiments(tmp_path, {**SMALL, "storage_path": s3_store.uri("leased")})
    run_dir = RunDir(s3_store.uri("leased/offline.simulated"))
    first = start(path, tmp_path / "gate")
    try:
        wait_for_results(run_dir, first, HELD)
        refused(xstilts("sweep", path, "--simulate", "synthetic", "--gpus", 4), first.pid)
        check_one_driver(run_dir.read_ledger())
    except BaseException:
        sweep_up(first)
        raise
    kill_then_rerun(first, path, run_dir)  # same host, dead pid: the S3 lease is taken over at once
