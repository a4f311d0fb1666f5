"""A lost node: a real two-node Ray cluster on this machine (`ray start --head`, `ray start --address=…`); the
node running a trial loses its raylet (SIGKILL) mid-trial, a replacement node joins, and the trial resumes
there from its checkpoint; the sweep completes with no milestone journaled twice. Every process the test
starts is stopped by the test, by pid (never `ray stop`, which stops every Ray process on the host)."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import write_experiments
from xstilts.search.rundir import RunDir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about 45 s on 2 cores: `make test-slow`
RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block` node in its own session; stop() kills it and every process it started, by pid."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [RAY, "start", "--block", "--disable-usage-stats", *args],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.seen: set[int] = set()

    def processes(self) -> list[psutil.Process]:
        try:
            found = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            found = []
        self.seen |= {p.pid for p in found}
        return found

    def raylet(self, timeout: float = 60) -> psutil.Process:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for p in self.processes():
                try:
                    if p.name() == "raylet":
                        return p
                except psutil.NoSuchProcess:
                    continue
            time.sleep(0.2)
        raise AssertionError("the node's raylet did not start")

    def stop(self) -> None:
        self.processes()
        for pid in sorted(self.seen, reverse=True):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)


@pytest.fixture
def cluster():
    """A head node that runs no trials (0 CPUs) and a second node with one CPU, sharing a short temp dir
    (Unix socket paths are limited to 107 bytes)."""
    temp = tempfile.mkdtemp(prefix="xr", dir="/tmp")
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = Node("--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false", f"--temp-dir={temp}")
    nodes = [head]
    try:
        head.raylet()
        nodes.append(Node(f"--address={address}", "--num-cpus=1", f"--temp-dir={temp}"))
        nodes[-1].raylet()
        yield address, nodes, temp
    finally:
        for node in reversed(nodes):
            node.stop()


def test_a_lost_node_s_trial_resumes_from_its_checkpoint_on_another(tmp_path, offline_plan, cluster):
    address, nodes, temp = cluster
    path = write_experiments(
        tmp_path,
        {
            "intermediate": {"tasks": ["mnli"], "steps": [300], "milestone_every": 100},
            "target": {"recipe": {"steps": 40}, "tasks": ["xnli"]},
            "search": {"num_samples": 1, "max_concurrent": 1, "keep_checkpoints": 1},
            "max_failures": 5,
        },
    )
    exp_dir = tmp_path / "runs" / "offline"
    log = open(tmp_path / "sweep.log", "w")
    sweep = subprocess.Popen(
        [sys.executable, "-m", "xstilts", "sweep", str(path), "--address", address],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=ENV,
    )
    try:
        deadline = time.time() + 400
        while not [e for e in RunDir(exp_dir).read_ledger() if e["event"] == "result"]:
            assert time.time() < deadline and sweep.poll() is None, (tmp_path / "sweep.log").read_text()[-3000:]
            time.sleep(0.1)
        before = RunDir(exp_dir).read_ledger()
        nodes[1].raylet().kill()  # the only node that runs trials loses its raylet mid-trial
        nodes.append(Node(f"--address={address}", "--num-cpus=1", f"--temp-dir={temp}"))  # its replacement
        assert sweep.wait(timeout=600) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
        log.close()
    events = RunDir(exp_dir).read_ledger()
    keys = [(e["trial_id"], e["step"]) for e in events if e["event"] == "result"]
    assert len(keys) == len(set(keys)), "a milestone journaled twice"
    assert [s for _, s in keys] == [100, 200, 300]  # the trial completed
    done = max(e["step"] for e in before if e["event"] == "result")
    after = [e for e in events[len(before) :] if e["event"] == "result"]
    assert after and after[0]["metrics"]["resumed_from_step"] == done  # from its checkpoint, not from scratch
    assert "failed; retrying from its last checkpoint" in (tmp_path / "sweep.log").read_text()
    # retention: before the evaluation every milestone of the lone trial is a winner so far (the best at its
    # step), so all three checkpoints are kept
    (trial_dir,) = exp_dir.glob("run_trial_*")
    kept = sorted(int(json.loads((c / "state.json").read_text())["step"]) for c in trial_dir.glob("checkpoint_*"))
    assert kept == [100, 200, 300], kept
