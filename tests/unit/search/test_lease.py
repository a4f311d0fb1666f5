"""The run directory's lease on local disk: a second holder is refused with one line naming the first, a dead
holder never blocks, a directory made only for the lease is removed with it, and `hold` is re-entrant."""

import json
import os
import socket

import pytest

from xstilts.search.lease import LEASE, Holder, LeaseHeld, LocalLease, hold, holder_of, process_start
from xstilts.search.rundir import RunDir


def dead_pid() -> int:
    pid = 4_000_000
    while process_start(pid) is not None:
        pid += 1
    return pid


def test_a_second_holder_is_refused_with_one_line_naming_the_first(tmp_path):
    run_dir = RunDir(tmp_path / "runs" / "offline")
    first = LocalLease(run_dir, Holder.me("sweep"))
    first.acquire(break_lease=False)
    with pytest.raises(LeaseHeld) as err:
        LocalLease(run_dir, Holder.me("evaluate")).acquire(break_lease=False)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{run_dir.uri} is in use by xstilts sweep (host ")
    assert f"host {socket.gethostname()}, pid {os.getpid()}, since " in line and line.endswith("wait for it or stop it")
    assert holder_of(run_dir) == first.holder  # what `status` shows, without taking it
    with pytest.raises(LeaseHeld, match="never broken"):  # a live local holder is never broken
        LocalLease(run_dir, Holder.me("sweep")).acquire(break_lease=True)
    first.release()
    assert holder_of(run_dir) is None
    second = LocalLease(run_dir, Holder.me("evaluate"))
    second.acquire(break_lease=False)
    assert json.loads((run_dir.path / LEASE).read_text())["command"] == "evaluate"
    second.release()


def test_a_dead_holder_s_lease_never_blocks(tmp_path):
    """A SIGKILLed driver leaves its record behind, unlocked (the kernel drops a dead process's lock)."""
    run_dir = RunDir(tmp_path / "run")
    run_dir.path.mkdir()
    dead = Holder("sweep", socket.gethostname(), dead_pid(), 1.0, 0.0, "x")
    (run_dir.path / LEASE).write_bytes(dead.to_bytes())
    assert dead.dead_here() and holder_of(run_dir) is None
    lease = LocalLease(run_dir, Holder.me("sweep"))
    lease.acquire(break_lease=False)
    assert Holder.parse((run_dir.path / LEASE).read_bytes()) == lease.holder
    lease.release()


def test_a_reused_pid_is_not_its_old_holder():
    me = Holder.me("sweep")
    assert not me.dead_here()
    assert Holder("sweep", me.host, me.pid, me.started + 1000.0, 0.0, "x").dead_here()  # same pid, later process
    assert not Holder("sweep", "another-host", dead_pid(), 1.0, 0.0, "x").dead_here()  # cannot be seen from here


def test_a_directory_made_for_the_lease_alone_is_removed_with_it(tmp_path):
    run_dir = RunDir(tmp_path / "runs" / "offline")
    with pytest.raises(ValueError), hold(run_dir, "sweep"):
        raise ValueError("bad input found after the lease")
    assert not run_dir.path.exists() and not run_dir.path.parent.exists()  # refused input leaves nothing
    with hold(run_dir, "sweep"):
        (run_dir.path / "ledger.jsonl").write_text("{}\n")
    assert sorted(p.name for p in run_dir.path.iterdir()) == ["ledger.jsonl"]  # work kept, lease gone


def test_hold_is_re_entrant_in_one_process_and_exclusive_across_holders(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    with hold(run_dir, "run"):
        with hold(run_dir, "sweep"):  # `run` holds it across its sweep and evaluation
            assert holder_of(run_dir).command == "run"
        assert holder_of(run_dir).command == "run"  # the inner block did not release it
        with pytest.raises(LeaseHeld, match="in use by xstilts run"):
            LocalLease(run_dir, Holder.me("evaluate")).acquire(break_lease=False)
    assert holder_of(run_dir) is None
