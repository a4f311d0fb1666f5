"""The real bench kit (`XSTILTS_REALBENCH`): a real multilingual encoder (`encoder/`) and real XTREME-format
data (`data/`, `<hub id>/<config>/<split>.jsonl`). Every test module here sets `pytestmark = pytest.mark.realbench`
(deselected by default); `make test-real` runs them on the kit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def kit() -> Path:
    """The kit's root; a test selected without it fails with one line saying what to set."""
    where = os.environ.get("XSTILTS_REALBENCH")
    if not where or not (Path(where) / "encoder" / "config.json").is_file():
        pytest.fail(f"XSTILTS_REALBENCH={where!r}: not a real bench kit (needs encoder/ and data/)", pytrace=False)
    return Path(where).resolve()


@pytest.fixture(scope="session")
def kit_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the session (an experiment's `cache_dir`): the bench's run and the tests that
    featurise the kit share its content-addressed feature caches."""
    return tmp_path_factory.mktemp("kit-cache")


@pytest.fixture(scope="session")
def kit_source(kit: Path, kit_cache: Path):
    """The kit's data as a local source, with its datasets and feature caches where an experiment whose
    cache_dir is `kit_cache` keeps them."""
    from xstilts.tasks.loading import DataSource

    return DataSource("local", kit / "data", kit_cache / "hf")


@pytest.fixture(scope="session")
def kit_encoder(kit: Path) -> str:
    return str(kit / "encoder")
