"""One driver per run directory: `sweep`, `evaluate` and `run` hold a lease on it from before they write until
they exit; a second driver is refused with one line naming the holder. Read-only commands never take it.

Two kinds, by where the run directory lives:

* **Local (or NFS) directory**: the file `driver.lease` records the holder (command, host, pid, the process's
  start time, since when) and is locked with `flock` for the holder's whole life. The kernel releases the lock
  when the process dies, SIGKILL included, so a dead holder on the same host never blocks (its pid is also
  checked against the record). On NFS the lock is a POSIX lock the server keeps; a crashed host's lock is
  released when the server's lock lease ends (NFSv4: about 90 s). Guarantee: mutual exclusion wherever the
  filesystem honours `flock` (local filesystems; NFSv4 through Linux's POSIX-lock emulation).
* **Object store**: the object `driver.lease` holds the same record and is renewed (a heartbeat) every
  `TTL / 4` seconds; it is free once `TTL` seconds (60) pass without a heartbeat, measured on the store's own
  clock (its `Last-Modified` against its `Date`), at once if its holder ran on this host and is dead, or when
  `--break-lease` takes it over. On S3 (and S3 APIs that implement conditional writes: AWS S3 since 2024,
  MinIO, moto) the lease is created with `If-None-Match: *` and renewed or taken over with `If-Match: <ETag>`,
  so two drivers can never both hold it, and a driver whose lease was taken over learns so at its next
  heartbeat and stops (SIGTERM to itself: the sweep ends resumably). Where the store has no conditional writes
  (a 501 from the S3 API, or another scheme such as `gs://` through pyarrow) the lease is written, then read
  back after `GRACE` seconds and held only if it is still this driver's: safe unless two drivers start within
  the grace period of each other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from xstilts.core.errors import InputError, XstiltsError
from xstilts.search.rundir import RunDir

LEASE = "driver.lease"
TTL = 60.0  # seconds an object-store lease stays valid after its last heartbeat
GRACE = 2.0  # seconds between write and read-back on a store without conditional writes


class LeaseHeld(InputError):
    """The run directory is in use by another driver (exit 2: one line naming the holder)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: the command, its host and pid, the process's start time and when it took the lease."""

    command: str
    host: str
    pid: int
    started: float  # the process's start time (pid reuse check), 0 where unknown
    since: float  # when the lease was taken (Unix time)
    token: str  # this lease's own id

    @classmethod
    def me(cls, command: str) -> Holder:
        started = process_start(os.getpid()) or 0.0
        return cls(command, socket.gethostname(), os.getpid(), started, time.time(), uuid.uuid4().hex)

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        try:
            record = json.loads(data)
            return cls(**{k: record[k] for k in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError):
            return None  # empty (released) or not a lease record

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def dead_here(self) -> bool:
        """Whether the holder ran on this host and its process is gone (or the pid is another process now)."""
        if self.host != socket.gethostname():
            return False
        start = process_start(self.pid)
        return start is None or (bool(self.started) and bool(start) and abs(start - self.started) > 1.0)

    def describe(self) -> str:
        return f"{self.command} (host {self.host}, pid {self.pid}, since {clock(self.since)})"


def clock(t: float) -> str:
    """A time of day, with its date unless it is today."""
    moment = datetime.fromtimestamp(t)
    return moment.strftime("%H:%M:%S" if moment.date() == datetime.now().date() else "%Y-%m-%d %H:%M:%S")


def process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since boot, from /proc on Linux; 0.0 where that cannot be read), or
    None if there is no such process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return 0.0


def in_use(run_dir: RunDir, holder: Holder, free_at: float | None = None) -> LeaseHeld:
    line = f"{run_dir.uri} is in use by xstilts {holder.describe()}; wait for it or stop it"
    if free_at is not None:
        line += f" (free at {clock(free_at)} if it has stopped, or take it over with --break-lease)"
    return LeaseHeld(line)


class LocalLease:
    """`driver.lease` in a local directory, flock-ed while held."""

    def __init__(self, run_dir: RunDir, holder: Holder):
        self.run_dir, self.holder = run_dir, holder
        self.path = run_dir.path / LEASE
        self._fd: int | None = None
        self._made: list[Path] = []  # the directories the lease made, deepest first

    def acquire(self, break_lease: bool) -> None:
        missing = [d for d in [self.path.parent, *self.path.parent.parents] if not d.exists()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._made = missing
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                other = Holder.parse(os.pread(fd, 4096, 0))
                os.close(fd)
                self._undo_dir()
                if other is None:  # locked, record not yet written: its holder is starting
                    raise LeaseHeld(f"{self.run_dir.uri} is in use by another xstilts driver; wait for it or stop it")
                if break_lease:
                    raise LeaseHeld(
                        f"{self.run_dir.uri}: the lease of xstilts {other.describe()} is locked by a live process, "
                        "and a local lease is never broken; stop that driver"
                    )
                raise in_use(self.run_dir, other)
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file its last holder removed while we waited
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.holder.to_bytes(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while locked: a waiter that locks the removed file retries (inode check)
        os.close(self._fd)
        self._fd = None
        self._undo_dir()

    def _undo_dir(self) -> None:
        """Remove the directories the lease made (the run directory, `runs/`), if nothing else was written."""
        for made in self._made:
            try:
                made.rmdir()  # only if empty
            except OSError:
                break


class Conditional(XstiltsError):
    """A conditional write whose condition failed (HTTP 412) or a conflicting concurrent write (409)."""


class Unsupported(XstiltsError):
    """The store has no conditional writes."""


class S3Objects:
    """The lease object through boto3's S3 client (pyarrow's filesystem has no conditional writes)."""

    def __init__(self, run_dir: RunDir):
        import boto3

        query = {k: v[-1] for k, v in parse_qs(run_dir.loc.query).items()}
        endpoint = query.get("endpoint_override")
        url = f"{query.get('scheme', 'https')}://{endpoint}" if endpoint else None
        self.client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name=query.get("region"),
            aws_access_key_id=query.get("access_key"),
            aws_secret_access_key=query.get("secret_key"),
        )
        self.bucket, _, prefix = run_dir.loc.path.partition("/")
        self.key = f"{prefix}/{LEASE}" if prefix else LEASE

    def _call(self, fn: Any, **kwargs: Any) -> dict:
        from botocore.exceptions import ClientError

        try:
            return fn(Bucket=self.bucket, Key=self.key, **kwargs)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", "")
            if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise Conditional(code) from exc
            if status == 501 or code == "NotImplemented":
                raise Unsupported(code) from exc
            if status == 404 or code in ("NoSuchKey", "404"):
                raise FileNotFoundError(self.key) from exc
            raise

    def read(self) -> tuple[bytes, str, float, float] | None:
        """(record, ETag, seconds since it was written, the store's time now), or None if there is none."""
        try:
            got = self._call(self.client.get_object)
        except FileNotFoundError:
            return None
        headers = got["ResponseMetadata"].get("HTTPHeaders", {})
        now = _http_time(headers.get("date")) or time.time()
        return got["Body"].read(), got["ETag"], max(0.0, now - got["LastModified"].timestamp()), now

    def create(self, data: bytes) -> str:
        return self._call(self.client.put_object, Body=data, IfNoneMatch="*")["ETag"]

    def replace(self, data: bytes, etag: str) -> str:
        return self._call(self.client.put_object, Body=data, IfMatch=etag)["ETag"]

    def put(self, data: bytes) -> str:
        return self._call(self.client.put_object, Body=data)["ETag"]

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call(self.client.delete_object)


def _http_time(value: str | None) -> float | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None


class StoreLease:
    """`driver.lease` on an object store, renewed by a heartbeat thread while held."""

    def __init__(self, run_dir: RunDir, holder: Holder, ttl: float = TTL):
        self.run_dir, self.holder, self.ttl = run_dir, holder, ttl
        self.objects = S3Objects(run_dir) if run_dir.loc.uri.startswith("s3://") else None
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> tuple[Holder | None, str, float, float] | None:
        if self.objects is not None:
            got = self.objects.read()
            return None if got is None else (Holder.parse(got[0]), got[1], got[2], got[3])
        loc = self.run_dir.loc
        if not loc.is_file(LEASE):
            return None
        info = loc.info(LEASE)
        age = time.time() - info.mtime.timestamp() if info.mtime else 0.0
        return Holder.parse(loc.read_bytes(LEASE)), "", age, time.time()

    def _write(self, etag: str | None) -> str:
        """Create (etag None) or replace the lease conditionally; Unsupported where the store cannot."""
        if self.objects is None:
            raise Unsupported("no conditional writes")
        data = self.holder.to_bytes()
        return self.objects.create(data) if etag is None else self.objects.replace(data, etag)

    def _write_and_read_back(self) -> bool:
        if self.objects is not None:
            self.objects.put(self.holder.to_bytes())
        else:
            self.run_dir.loc.write_bytes(LEASE, self.holder.to_bytes())
        time.sleep(GRACE)
        got = self._read()
        return got is not None and got[0] == self.holder

    def acquire(self, break_lease: bool) -> None:
        for _ in range(5):  # another driver may take it between our read and write: read again
            got = self._read()
            etag = None
            if got is not None:
                other, etag, age, now = got
                stale = other is None or age > self.ttl or other.dead_here()
                if not stale and not break_lease:
                    raise in_use(self.run_dir, other, free_at=time.time() + self.ttl - age)  # type: ignore[arg-type]
                if other is not None and not stale:
                    print(
                        f"xstilts: breaking the lease of xstilts {other.describe()} on {self.run_dir.uri}",
                        file=sys.stderr,
                    )
            try:
                self._etag = self._write(etag)
            except Conditional:
                continue
            except Unsupported:
                if not self._write_and_read_back():
                    continue
                self._etag = ""
            self._thread = threading.Thread(target=self._heartbeat, name="xstilts-lease", daemon=True)
            self._thread.start()
            return
        raise LeaseHeld(f"{self.run_dir.uri}: another driver keeps taking the lease; wait for it or stop it")

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                if self._etag:
                    self._etag = self._write(self._etag)
                elif self.objects is not None:
                    self.objects.put(self.holder.to_bytes())
                else:
                    self.run_dir.loc.write_bytes(LEASE, self.holder.to_bytes())
            except Conditional:
                got = self._read()
                other = got[0] if got else None
                who = f"xstilts {other.describe()}" if other else "another driver"
                print(f"xstilts: the lease on {self.run_dir.uri} was taken over by {who}; stopping", file=sys.stderr)
                stop_driver()
                return
            except Exception as exc:  # a transient store error: the next heartbeat retries
                print(f"xstilts: lease heartbeat on {self.run_dir.uri} failed ({exc}); retrying", file=sys.stderr)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        got = self._read()
        if got is not None and got[0] == self.holder:  # never remove another driver's lease
            if self.objects is not None:
                self.objects.delete()
            else:
                self.run_dir.loc.fs.delete_file(self.run_dir.loc.join(LEASE).path)


def stop_driver() -> None:
    """Stop this driver as a pre-emption would (SIGTERM): a sweep ends resumably with its results written."""
    os.kill(os.getpid(), signal.SIGTERM)


_HELD: dict[str, int] = {}  # run directory URI -> how many nested `hold`s of this process hold it


@contextlib.contextmanager
def hold(run_dir: RunDir, command: str, *, break_lease: bool = False, ttl: float = TTL) -> Iterator[None]:
    """Hold the run directory's lease for the block (re-entrant: `run` holds it across sweep and evaluate);
    LeaseHeld (one line naming the holder) if another driver holds it."""
    if _HELD.get(run_dir.uri):
        _HELD[run_dir.uri] += 1
        try:
            yield
        finally:
            _HELD[run_dir.uri] -= 1
        return
    holder = Holder.me(command)
    lease: LocalLease | StoreLease = LocalLease(run_dir, holder) if run_dir.local else StoreLease(run_dir, holder, ttl)
    lease.acquire(break_lease)
    _HELD[run_dir.uri] = 1
    try:
        yield
    finally:
        del _HELD[run_dir.uri]
        lease.release()


def holder_of(run_dir: RunDir) -> Holder | None:
    """Who holds the run directory's lease now, as far as can be seen without locking anything (for `status`):
    the recorded holder, unless it ran on this host and is dead, or its object-store lease expired."""
    if run_dir.local:
        try:
            holder = Holder.parse((run_dir.path / LEASE).read_bytes())
        except OSError:
            return None
        return None if holder is None or holder.dead_here() else holder
    got = StoreLease(run_dir, Holder.me("status"))._read()
    if got is None or got[0] is None or got[2] > TTL or got[0].dead_here():
        return None
    return got[0]
