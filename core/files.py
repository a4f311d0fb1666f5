"""The one safe writer: every file or directory the project writes appears whole, or not at all.

It lives in the lowest layer (tasks/) so that every layer writes through it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_path(target: Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `target` (a file path, or a new directory) to write; on success it
    replaces `target` in one rename, on failure it is removed. A reader sees the old target or the new one,
    never a part (rename is atomic within one filesystem). A directory is written once: when another
    process renamed its own copy into place first, that copy stands and this one is dropped."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove(tmp)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    try:
        os.replace(tmp, target)
    except OSError:
        _remove(tmp)
        if not (directory and target.is_dir()):
            raise


@contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold a file lock beside `target` (filelock: `flock` on POSIX) while it is built, so that of several
    processes needing it at once one builds it and the others wait, then find it built (check again inside)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        yield


def write_text(target: Path, text: str) -> None:
    """Write `text` (UTF-8) to `target` through `atomic_path`."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
