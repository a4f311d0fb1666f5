"""The run directory's lease on an object store (moto's S3 server): conditional creation, refusal naming the
holder and when it frees, expiry after the last heartbeat, takeover of a dead same-host holder at once, and
`--break-lease` with the old holder told at its next heartbeat."""

import socket
import time

import pytest

from xstilts.search import lease as lease_module
from xstilts.search.lease import Holder, LeaseHeld, StoreLease, holder_of
from xstilts.search.rundir import RunDir

pytestmark = pytest.mark.integration


def other_host(command="sweep") -> Holder:
    return Holder(command, "node-7", 4242, 1.0, time.time(), "theirs")


def test_a_second_driver_is_refused_then_takes_the_lease_once_it_is_released(s3_store):
    run_dir = RunDir(s3_store.uri("leases/a"))
    first = StoreLease(run_dir, other_host())
    first.acquire(break_lease=False)
    with pytest.raises(LeaseHeld) as err:
        StoreLease(run_dir, Holder.me("evaluate")).acquire(break_lease=False)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{run_dir.uri} is in use by xstilts sweep (host node-7, pid 4242")
    assert "free at " in line and "--break-lease" in line
    assert holder_of(run_dir) == first.holder
    first.release()
    assert holder_of(run_dir) is None
    second = StoreLease(run_dir, Holder.me("evaluate"))
    second.acquire(break_lease=False)
    assert holder_of(run_dir) == second.holder
    second.release()


def test_a_lease_without_heartbeats_expires_and_is_taken_over(s3_store, monkeypatch):
    monkeypatch.setattr(lease_module, "stop_driver", lambda: None)
    run_dir = RunDir(s3_store.uri("leases/b"))
    gone = StoreLease(run_dir, other_host(), ttl=1.0)
    gone.acquire(break_lease=False)
    gone._stop.set()  # its host died: no more heartbeats
    gone._thread.join()
    with pytest.raises(LeaseHeld):
        StoreLease(run_dir, Holder.me("sweep"), ttl=1.0).acquire(break_lease=False)
    time.sleep(2.5)  # past the TTL on the store's clock (its times have one-second resolution)
    mine = StoreLease(run_dir, Holder.me("sweep"), ttl=1.0)
    mine.acquire(break_lease=False)
    assert holder_of(run_dir) == mine.holder
    with pytest.raises(lease_module.Conditional):  # the old holder, back, cannot renew what it lost
        gone._write(gone._etag)
    mine.release()


def test_a_dead_holder_on_this_host_is_taken_over_at_once(s3_store):
    run_dir = RunDir(s3_store.uri("leases/c"))
    pid = 4_000_000
    while lease_module.process_start(pid) is not None:
        pid += 1
    dead = StoreLease(run_dir, Holder("sweep", socket.gethostname(), pid, 1.0, time.time(), "dead"))
    dead.acquire(break_lease=False)
    dead._stop.set()  # SIGKILLed: its record stays, fresh
    mine = StoreLease(run_dir, Holder.me("sweep"))
    mine.acquire(break_lease=False)
    assert holder_of(run_dir) == mine.holder
    mine.release()


def test_break_lease_says_whose_lease_it_breaks_and_the_old_holder_stops(s3_store, monkeypatch, capsys):
    stopped = []
    monkeypatch.setattr(lease_module, "stop_driver", lambda: stopped.append(True))
    run_dir = RunDir(s3_store.uri("leases/d"))
    old = StoreLease(run_dir, other_host(), ttl=0.8)  # heartbeats every 0.2 s
    old.acquire(break_lease=False)
    new = StoreLease(run_dir, Holder.me("sweep"))
    new.acquire(break_lease=True)
    err = capsys.readouterr().err
    assert "breaking the lease of xstilts sweep (host node-7, pid 4242" in err
    old._thread.join(timeout=10)  # its next heartbeat finds the lease taken and stops the driver
    assert stopped == [True]
    assert "was taken over by xstilts sweep" in capsys.readouterr().err
    assert holder_of(run_dir) == new.holder
    new.release()
    old.release()  # never removes another driver's lease
