"""Storage locations: a local (or NFS) directory or an object-store URI (`s3://bucket/prefix`, `gs://…`), read
and written through one `pyarrow.fs` filesystem, and the one safe writer of the project.

A write appears whole or not at all: on a local filesystem it goes to a temporary sibling that is renamed into
place (`files.atomic_path`); on an object store it is one whole-object PUT (S3 and GCS make an object visible
only when its upload completes, and a multipart upload only when it is completed). Object stores have no
append and no atomic rename of a directory (S3: `move` is copy + delete), so a directory is uploaded file by
file and then marked complete by a last, small object (`COMPLETE`); readers look for that marker.

Endpoints: an `s3://` URI takes pyarrow's query options (`?endpoint_override=host:port&scheme=http`), or the
usual environment variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …); `gs://` uses Google's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from xstilts.core.errors import InputError
from xstilts.core.files import atomic_path

COMPLETE = ".xstilts-complete"  # the last object of a directory written to an object store


class StorageError(InputError, OSError):
    """A storage location that cannot be used: an unknown scheme, an unreachable endpoint, a missing bucket."""


def is_uri(spec: str | Path) -> bool:
    """Whether `spec` names an object store (has a scheme other than file://)."""
    text = str(spec)
    return "://" in text and not text.startswith("file://")


@dataclass(frozen=True)
class Location:
    """A directory on some filesystem: `fs` (picklable: Ray ships it to trials and jobs), its `path` there (no
    scheme: `/abs/dir` or `bucket/prefix`), and `uri`, how it is shown (no query string: it may hold keys)."""

    fs: pafs.FileSystem
    path: str
    uri: str
    query: str = ""  # the URI's query string, so that a joined location can be named as a URI again

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def full_uri(self) -> str:
        """The URI with its query string: what another process needs to open this location."""
        return f"{self.uri}?{self.query}" if self.query else self.uri

    def join(self, *parts: str) -> Location:
        if self.local:
            path = str(Path(self.path, *parts))
            return Location(self.fs, path, path)
        tail = "/".join(p.strip("/") for p in parts if p)
        return Location(self.fs, f"{self.path}/{tail}", f"{self.uri}/{tail}", self.query)

    def _p(self, rel: str) -> str:
        return self.join(rel).path if rel else self.path

    def __str__(self) -> str:
        return self.uri

    # -- reads -------------------------------------------------------------------------------------
    def info(self, rel: str = "") -> pafs.FileInfo:
        return self.fs.get_file_info(self._p(rel))

    def exists(self, rel: str = "") -> bool:
        return self.info(rel).type != pafs.FileType.NotFound

    def is_file(self, rel: str = "") -> bool:
        return self.info(rel).type == pafs.FileType.File

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self._p(rel)) as fh:
            return fh.read()

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8")

    def listdir(self, rel: str = "") -> list[pafs.FileInfo]:
        """The entries directly under `rel` (none when it does not exist), sorted by name."""
        selector = pafs.FileSelector(self._p(rel), allow_not_found=True, recursive=False)
        return sorted(self.fs.get_file_info(selector), key=lambda i: i.base_name)

    # -- the safe writer ---------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write one file whole: temp + rename locally, one whole-object PUT on an object store."""
        if self.local:
            with atomic_path(Path(self._p(rel))) as tmp:
                tmp.write_bytes(data)
            return
        with self.fs.open_output_stream(self._p(rel)) as out:
            out.write(data)

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    @contextmanager
    def writing(self, rel: str) -> Iterator[Path]:
        """Yield a local temporary file path to write (by a library that writes paths); on success its bytes
        become `rel` through `write_bytes`."""
        if self.local:
            with atomic_path(Path(self._p(rel))) as tmp:
                yield tmp
            return
        with tempfile.TemporaryDirectory(prefix="xstilts-put-") as tmp_dir:
            tmp = Path(tmp_dir) / Path(rel).name
            yield tmp
            self.write_bytes(rel, tmp.read_bytes())

    def put_directory(self, local_dir: Path, rel: str) -> None:
        """Copy `local_dir` to `rel` whole: locally one rename of a complete copy; on an object store every
        file, then the COMPLETE marker (a directory without it is an interrupted upload and is rewritten)."""
        local_dir = Path(local_dir)
        if self.local:
            with atomic_path(Path(self._p(rel)), directory=True) as tmp:
                shutil.copytree(local_dir, tmp, dirs_exist_ok=True)
                (tmp / COMPLETE).write_text("")
            return
        for file in sorted(p for p in local_dir.rglob("*") if p.is_file()):  # object stores need no directories
            with self.fs.open_output_stream(self._p(f"{rel}/{file.relative_to(local_dir).as_posix()}")) as out:
                with open(file, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 24)
        self.write_bytes(f"{rel}/{COMPLETE}", b"")

    def has_directory(self, rel: str) -> bool:
        """Whether `rel` was written whole by `put_directory`."""
        return self.is_file(f"{rel}/{COMPLETE}")

    def get_directory(self, rel: str, local_dir: Path) -> Path:
        """Copy the directory `rel` into the new local directory `local_dir` (written whole)."""
        with atomic_path(Path(local_dir), directory=True) as tmp:
            pafs.copy_files(
                self._p(rel), str(tmp), source_filesystem=self.fs, destination_filesystem=pafs.LocalFileSystem()
            )
        return Path(local_dir)

    def delete_dir(self, rel: str) -> None:
        if self.exists(rel):
            self.fs.delete_dir(self._p(rel))


def location(spec: str | Path, base: Path | None = None) -> Location:
    """The Location of `spec`: a local path (relative ones against `base`) or an object-store URI."""
    text = str(spec)
    if not is_uri(text):
        path = Path(text.removeprefix("file://")).expanduser()
        path = (Path(base) / path if base is not None and not path.is_absolute() else path).resolve()
        return Location(pafs.LocalFileSystem(), str(path), str(path))
    head, _, query = text.partition("?")
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (ValueError, OSError, NotImplementedError) as exc:  # pyarrow: ArrowInvalid is a ValueError
        raise StorageError(f"{head}: not a storage location pyarrow can open ({str(exc).splitlines()[0]})") from exc
    return Location(fs, path.rstrip("/"), head.rstrip("/"), query)


def check_reachable(loc: Location) -> None:
    """For an object store: the endpoint answers and the bucket exists (StorageError otherwise)."""
    if loc.local:
        return
    bucket = loc.path.split("/", 1)[0]
    try:
        found = loc.fs.get_file_info(bucket).type != pafs.FileType.NotFound
    except OSError as exc:
        reason = str(exc).splitlines()[0]
        raise StorageError(f"{loc.uri}: the object store cannot be reached ({reason})") from exc
    if not found:
        raise StorageError(f"{loc.uri}: bucket {bucket!r} does not exist")


def node_cache(*parts: str) -> Path:
    """A directory on this node for copies of stored files (XSTILTS_NODE_CACHE, default the temp dir)."""
    root = Path(os.environ.get("XSTILTS_NODE_CACHE") or Path(tempfile.gettempdir()) / "xstilts-node-cache")
    return root.joinpath(*parts)
