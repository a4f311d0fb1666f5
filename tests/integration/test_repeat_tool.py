"""`make test-repeat` (tests/tools/repeat.py): a test that fails in some runs and passes in others is counted
per test, so a flake shows up by name."""

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

FLAKY = """
from pathlib import Path

COUNTER = Path(__file__).with_name("runs")


def test_fails_every_other_run():
    n = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(n + 1))
    assert n % 2 == 1


def test_always_passes():
    assert True
"""


def test_repeat_counts_each_test_s_failures(tmp_path):
    (tmp_path / "test_flaky.py").write_text(FLAKY)
    tool = REPO / "tests" / "tools" / "repeat.py"
    done = subprocess.run(
        [sys.executable, str(tool), "3", "--workers", "0", str(tmp_path / "test_flaky.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-2000:]  # a run failed
    lines = done.stdout.splitlines()
    assert "test-repeat: 3 runs, 2 failed; 2 tests" in lines
    assert any(line.strip().startswith("failed 2/3:") and "test_fails_every_other_run" in line for line in lines)
    assert not any("test_always_passes" in line for line in lines if "failed" in line)
