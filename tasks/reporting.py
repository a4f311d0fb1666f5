"""Progress of long steps (world generation, tokenizer training, MLM pretraining, featurisation) reported to
whoever asked: the CLI shows it (a rich bar on a terminal, plain lines otherwise); library calls, tests and
Ray workers, which set no reporter, stay quiet. A context variable, so that the layers below the CLI need
no progress argument threaded through every call."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

# stage, done, total (None: unknown), a short fact (e.g. "loss 2.31")
Reporter = Callable[[str, int, "int | None", str], None]
_REPORTER: ContextVar[Reporter | None] = ContextVar("xstilts_progress", default=None)


def report(stage: str, done: int, total: int | None = None, info: str = "") -> None:
    """Tell the current reporter, if any, that `stage` has done `done` of `total`."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(stage, done, total, info)


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Send `report` calls inside the block to `reporter`."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def reporting_now() -> bool:
    return _REPORTER.get() is not None
