"""The ledger's files (the journal's storage, `search/journal.py` reads it): appended, fsynced JSON lines on a
local filesystem; one whole object per event on an object store, which has no append. A mixin of `RunDir`.

On an object store a reader would GET every event object (10,000 events: a minute on a local S3 server), so the
writer also leaves, every SEGMENT_EVERY events, a segment: one object holding every event object it knows, by
name. A reader GETs the newest segment, LISTs the event objects and GETs only those the segment lacks. The
segment is only a cache of objects that stay in place: whatever it misses is read from the objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.fs as pafs

from xstilts.core.storage import Location

LEDGER_NAME = "xstilts-ledger.jsonl"
LEDGER_OBJECTS = "xstilts-ledger"
LEDGER_SEGMENTS = "xstilts-ledger-segments"
SEGMENT_EVERY = 500  # events between two segments


class LedgerFiles:
    """Reading and appending the ledger of a run directory (`RunDir` provides loc, local and path)."""

    loc: Location
    _events: dict[str, dict | None]  # object-store ledger: object name -> event (None: invalid)
    _last_ns: int
    _unsegmented = 0  # events this process wrote since it last wrote a segment

    @property
    def local(self) -> bool:
        raise NotImplementedError

    @property
    def path(self) -> Path:
        raise NotImplementedError

    @property
    def ledger_path(self) -> Path:
        """The local ledger file (local filesystems only)."""
        return self.path / LEDGER_NAME

    def has_ledger(self) -> bool:
        if self.local:
            return self.ledger_path.is_file()
        return bool(self.loc.listdir(LEDGER_OBJECTS))

    def read_ledger(self) -> list[dict]:
        """The ledger's events in order. Locally a line torn by a kill mid-write is dropped; on an object
        store an object whose content does not match the digest in its name is never read as an event."""
        return self.ledger_since(0)[0]

    def ledger_since(self, position: int) -> tuple[list[dict], int]:
        """The events after `position` (0: all) and the position after them: a byte offset locally (a torn
        last line is left for the next read), the number of events on an object store (whose objects read
        once are kept, so a later call fetches only new ones)."""
        if not self.local:
            events = self._read_ledger_objects()
            return events[position:], len(events)
        if not self.ledger_path.is_file():
            return [], 0
        with open(self.ledger_path, "rb") as fh:
            fh.seek(position)
            data = fh.read()
        whole = data[: data.rfind(b"\n") + 1]  # up to the last complete line
        events = []
        for line in whole.decode("utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write, then appended after: dropped, as it was never whole
        return events, position + len(whole)

    def position_after_append(self, position: int, appended: int) -> int:
        """`ledger_since`'s position past `appended` events this process just wrote at `position` (the run
        directory has one writer at a time): the file's size locally, one more per event on an object store."""
        if not self.local:
            return position + appended
        return self.ledger_path.stat().st_size

    def append_event(self, event: dict) -> dict:
        """Journal one event (`append_events`); returns it as a reader will see it (with its time)."""
        return self.append_events([event])[0]

    def append_events(self, events: list[dict]) -> list[dict]:
        """Journal events in order, durable before this returns: fsynced lines locally (one fsync for all), a
        whole object each (named by the time in nanoseconds, kept increasing, and the content's SHA-256) on an
        object store. Returns them as a reader will see them (with their time)."""
        lines = [json.dumps({**event, "time": time.time()}, default=str) for event in events]
        written = [json.loads(line) for line in lines]
        if not self.local:
            for line, event in zip(lines, written):
                self._last_ns = max(time.time_ns(), self._last_ns + 1)
                data = line.encode("utf-8")
                name = ledger_object_name(self._last_ns, data)
                self.loc.write_bytes(f"{LEDGER_OBJECTS}/{name}", data)
                self._events[name] = event  # this process's own event: never fetched back
            self._unsegmented += len(written)
            if self._unsegmented >= SEGMENT_EVERY:
                self._write_segment()
            return written
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.ledger_path, "a+b") as fh:
            torn = False
            if fh.seek(0, os.SEEK_END) > 0:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
            # a line a kill cut short stays on its own line, so that it cannot swallow the first new event
            fh.write((b"\n" if torn else b"") + "".join(line + "\n" for line in lines).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        return written

    def _write_segment(self) -> None:
        """A segment of every event object this process knows (then older segments are removed)."""
        known = sorted((n, e) for n, e in self._events.items() if e is not None)
        data = "".join(json.dumps({"name": n, "event": e}) + "\n" for n, e in known).encode("utf-8")
        name = f"{int(known[-1][0].split('-', 1)[0]):020d}-{hashlib.sha256(data).hexdigest()[:16]}.jsonl"
        self.loc.write_bytes(f"{LEDGER_SEGMENTS}/{name}", data)
        self._unsegmented = 0
        for old in self.loc.listdir(LEDGER_SEGMENTS):
            if old.base_name < name:
                self.loc.fs.delete_file(old.path)

    def _read_segment(self) -> None:
        """Seed the events read from the newest whole segment, if there is one."""
        names = sorted(i.base_name for i in self.loc.listdir(LEDGER_SEGMENTS) if i.type == pafs.FileType.File)
        for name in reversed(names):
            try:
                data = self.loc.read_bytes(f"{LEDGER_SEGMENTS}/{name}")
            except OSError:  # removed by a newer segment's writer since the listing
                continue
            if hashlib.sha256(data).hexdigest()[:16] != name.removesuffix(".jsonl").partition("-")[2]:
                continue  # not whole
            for line in data.decode("utf-8").splitlines():
                record = json.loads(line)
                self._events.setdefault(record["name"], record["event"])
            return

    def _read_ledger_objects(self) -> list[dict]:
        if not self._events:
            self._read_segment()
        names = [i.base_name for i in self.loc.listdir(LEDGER_OBJECTS) if i.type == pafs.FileType.File]
        new = [n for n in names if n not in self._events]
        with ThreadPoolExecutor(max_workers=16) as pool:  # object GETs are latency-bound
            for name, data in zip(new, pool.map(lambda n: self.loc.read_bytes(f"{LEDGER_OBJECTS}/{n}"), new)):
                self._events[name] = ledger_event(name, data)
        for name in names:
            if self._events[name] is not None:
                self._last_ns = max(self._last_ns, int(name.split("-", 1)[0]))
        return [e for n in sorted(names) if (e := self._events[n]) is not None]


def ledger_object_name(time_ns: int, data: bytes) -> str:
    """`<time ns, 20 digits>-<SHA-256 of the content, 16 hex>.json`: names sort in journal order."""
    return f"{time_ns:020d}-{hashlib.sha256(data).hexdigest()[:16]}.json"


def ledger_event(name: str, data: bytes) -> dict | None:
    """The event an object holds, or None when its content is not what its name says (torn or partial)."""
    stem = name.removesuffix(".json")
    ns, _, digest = stem.partition("-")
    if not ns.isdigit() or hashlib.sha256(data).hexdigest()[:16] != digest:
        return None
    try:
        event = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return event if isinstance(event, dict) else None
