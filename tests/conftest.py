"""Shared fixtures: the repository's content-addressed cache (offline world + encoder) and experiment files."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"  # content-addressed (digests of world and encoder config): safe to share


def offline_raw() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "experiments.yaml").read_text())["offline"])


def write_experiments(
    dir_: Path, overrides: dict | None = None, name: str = "offline", raw: dict | None = None
) -> Path:
    """Write an experiments file holding the offline experiment with `overrides` merged in."""
    exp = raw if raw is not None else offline_raw()
    exp["cache_dir"] = str(CACHE)
    exp["storage_path"] = str(dir_ / "runs")

    def merge(dst: dict, src: dict) -> None:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v)
            else:
                dst[k] = v

    merge(exp, overrides or {})
    path = dir_ / "experiments.yaml"
    path.write_text(yaml.safe_dump({name: exp}, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def offline_plan():
    """The offline default's plan: world and encoder built once (about a minute on 2 cores)."""
    from dataclasses import replace

    from xstilts.search.config import load_context
    from xstilts.search.plan import make_plan

    ctx = load_context(REPO / "experiments.yaml", "offline")
    return make_plan(replace(ctx, exp=ctx.exp.model_copy(update={"cache_dir": str(CACHE)})))


def sweep_up(proc) -> None:
    """After the driver `proc` (started with start_new_session=True) was killed: let Ray's processes notice
    the dead driver, then SIGKILL any stragglers of its session."""
    time.sleep(5)  # a fixed wait is right: a grace period for Ray's own clean-up; stragglers are killed either way
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# A real S3 API for tests: moto's server (the `test` extra installs moto[server]) in its own process, on a
# free local port, stopped by its pid. Its data lives in memory; credentials are moto's dummies.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
BUCKET = "xstilts-test"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Store:
    """A running moto server: `uri(prefix)` names s3://BUCKET/prefix with the endpoint in the query string."""

    def __init__(self, port: int):
        self.endpoint = f"127.0.0.1:{port}"

    def uri(self, prefix: str, bucket: str = BUCKET) -> str:
        return f"s3://{bucket}/{prefix}?endpoint_override={self.endpoint}&scheme=http"

    def filesystem(self):
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(endpoint_override=self.endpoint, scheme="http", allow_bucket_creation=True)


@contextlib.contextmanager
def moto_server():
    """moto's S3 server on a free local port (its own process group, stopped by its pid) with BUCKET made;
    yields an S3Store. The caller sets S3_ENV (dummy credentials) in its environment first."""
    import socket
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "moto's server did not start"
                time.sleep(0.1)
        store = S3Store(port)
        store.filesystem().create_dir(BUCKET)
        yield store
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_store(monkeypatch):
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    with moto_server() as store:
        yield store
