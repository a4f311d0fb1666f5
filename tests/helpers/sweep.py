"""`xstilts sweep` run as a process, and waiting for a sweep to reach the point where a test kills it."""

import subprocess
import sys
import time


def sweep_cmd(path, *extra):
    return [sys.executable, "-m", "xstilts", "sweep", str(path), *extra]


def run_sweep(path, *extra, timeout=600):
    return subprocess.run(
        sweep_cmd(path, *extra), capture_output=True, text=True, timeout=timeout, start_new_session=True
    )


def wait_for_kill_point(run_dir, proc, deadline):
    """Return when ASHA has just stopped a trial (the snapshot-lag case), or after a few results."""
    while time.time() < deadline and proc.poll() is None:
        events = run_dir.read_ledger()
        if any(e["event"] == "end" and e["how"] == "stopped" for e in events):
            return events
        if sum(e["event"] == "result" for e in events) >= 6:
            return events
        time.sleep(0.05)
    raise AssertionError("the sweep finished or stalled before the kill point")
