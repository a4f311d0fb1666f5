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
def kit_source(kit: Path, tmp_path_factory: pytest.TempPathFactory):
    """The kit's data as a local source, with its datasets and feature caches in a session directory."""
    from xstilts.tasks.loading import DataSource

    return DataSource("local", kit / "data", tmp_path_factory.mktemp("kit-cache"))


@pytest.fixture(scope="session")
def kit_encoder(kit: Path) -> str:
    return str(kit / "encoder")
