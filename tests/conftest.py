"""Shared fixtures: the repository's content-addressed cache (offline world + encoder) and experiment files."""

from __future__ import annotations

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
    from xstilts.search.config import load_experiment
    from xstilts.search.plan import make_plan
    from xstilts.tasks.registry import build_registry

    registry = build_registry()
    exp, base = load_experiment(REPO / "experiments.yaml", "offline", registry=registry)
    exp = exp.model_copy(update={"cache_dir": str(CACHE)})
    return make_plan(exp, base, registry)


def sweep_up(proc) -> None:
    """After the driver `proc` (started with start_new_session=True) was killed: let Ray's processes notice
    the dead driver, then SIGKILL any stragglers of its session."""
    time.sleep(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
