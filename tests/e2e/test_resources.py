"""A per-trial request that no node of the cluster can hold is refused up front, not waited on for ever."""

import subprocess
import sys

import pytest

from tests.conftest import write_experiments

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "resources,shown", [({"cpu": 1, "gpu": 64}, "{cpu: 1, gpu: 64}"), ({"cpu": 4096}, "{cpu: 4096")]
)
def test_a_request_no_node_holds_is_refused_before_anything_is_written(tmp_path, resources, shown):
    path = write_experiments(tmp_path, {"resources": resources})
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts", "sweep", str(path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"offline.resources: {shown}" in lines[0] and "per trial, but no node of the cluster has that" in lines[0]
    assert not (tmp_path / "runs").exists()
