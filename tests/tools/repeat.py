"""Run the default suite N times and print, per test, how often it failed: a flake shows up as a test that
failed in some runs and passed in others.

    .venv/bin/python tests/tools/repeat.py N [PYTEST ARGS...]     # or: make test-repeat N=5

Each run is the suite `make suite` runs (the same pytest-xdist workers), writing a JUnit XML report that this
script reads back; extra arguments go to pytest (e.g. `tests/e2e tests/integration` to repeat only those).
Exit status 1 if any run failed, else 0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def outcomes(report: Path) -> dict[str, bool]:
    """test id -> failed (failure or error) from one JUnit XML report."""
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        out[name] = case.find("failure") is not None or case.find("error") is not None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, help="how many runs")
    parser.add_argument("--workers", default="2", help="pytest-xdist workers (as make test's TEST_WORKERS)")
    args, pytest_args = parser.parse_known_args()
    failed: Counter[str] = Counter()
    ran: Counter[str] = Counter()
    codes = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            report = Path(tmp) / f"run-{i}.xml"
            cmd = [sys.executable, "-m", "pytest", "-q", "-n", args.workers, "--dist", "worksteal"]
            done = subprocess.run([*cmd, f"--junitxml={report}", *pytest_args], cwd=REPO)
            codes.append(done.returncode)
            for name, bad in outcomes(report).items() if report.is_file() else ():
                ran[name] += 1
                failed[name] += bad
            print(f"test-repeat: run {i + 1}/{args.n}: exit {done.returncode}", flush=True)
    flaky = {name: n for name, n in failed.items() if n}
    print(f"test-repeat: {args.n} runs, {sum(c != 0 for c in codes)} failed; {len(ran)} tests")
    for name, n in sorted(flaky.items(), key=lambda kv: -kv[1]):
        print(f"  failed {n}/{ran[name]}: {name}")
    if not flaky:
        print("  no test failed")
    return int(any(codes))


if __name__ == "__main__":
    sys.exit(main())
