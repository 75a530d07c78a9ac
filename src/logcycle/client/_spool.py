"""The on-disk spool: each batch is a file before it is sent, deleted once acknowledged.

Layout of ``spool_dir``: every Logger (one per process) owns a name ``<owner>``, holds an
exclusive ``flock`` on ``<owner>.lock`` while it lives, and writes ``<owner>.<seq>.seg``
files. A segment is one header line (``{"path", "key", "count"}``) and then the JSON body.
It is written to a ``.tmp`` file, fsynced (with ``fsync=True``), then renamed into place,
so a segment is either whole or absent.

At start, and every ``RESCAN`` seconds, the worker adopts the segments of owners that are
gone (no lock file, or a lock nobody holds): they are renamed to its own name and sent
first, under their original Idempotency-Key, so a batch the server already stored before
a crash is stored once.

    spool = Spool("/var/spool/app-logs", fsync=True)
    old = spool.open()          # batches left by a crashed or stopped process
    spool.write(batch)          # before sending; spool.remove(batch) after the 2xx
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from typing import Any

from ._batch import Batch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per spool_dir
    fcntl = None  # type: ignore[assignment]

RESCAN = 30.0  # seconds between looks for segments of owners that died


class SpoolError(Exception):
    """A segment could not be written, read or parsed."""


class Spool:
    """The segments of one Logger in ``directory``; used by the worker thread only."""

    def __init__(self, directory: str, *, fsync: bool) -> None:
        self.directory = os.path.abspath(directory)
        self._fsync = fsync
        self.owner = f"{time.time_ns():016x}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._lock_fd: int | None = None
        self.corrupt: list[str] = []  # segments that could not be read back, for a report

    def open(self) -> list[Batch]:
        """Make the directory, take this owner's lock, and adopt what dead owners left."""
        os.makedirs(self.directory, exist_ok=True)
        path = self._path(f"{self.owner}.lock")
        self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self.adopt()

    def next_key(self) -> str:
        """The Idempotency-Key of the next new batch: unique to this owner, kept on disk."""
        self._seq += 1
        return f"lc-{self.owner}-{self._seq}"

    def write(self, batch: Batch) -> None:
        """Put ``batch`` (with its body) on disk; set ``batch.segment``."""
        assert batch.body is not None
        header = json.dumps({"path": batch.path, "key": batch.key, "count": batch.count})
        name = self._new_name()
        tmp = self._path(name[:-4] + ".tmp")
        try:
            with open(tmp, "wb") as file:
                file.write(header.encode() + b"\n" + batch.body)
                if self._fsync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(tmp, self._path(name))
            if self._fsync:
                self._sync_directory()
        except OSError as exc:
            _unlink(tmp)
            raise SpoolError(f"cannot write the spool: {exc}") from exc
        batch.segment = self._path(name)

    def read(self, batch: Batch) -> bytes:
        """The body of a spooled batch."""
        assert batch.segment is not None
        try:
            with open(batch.segment, "rb") as file:
                file.readline()
                return file.read()
        except OSError as exc:
            raise SpoolError(f"cannot read {batch.segment}: {exc}") from exc

    def remove(self, batch: Batch) -> None:
        """Forget a batch the server acknowledged (or that was dropped)."""
        if batch.segment is not None:
            _unlink(batch.segment)
            batch.segment = None

    def adopt(self) -> list[Batch]:
        """The segments of owners that are gone, now ours, oldest first."""
        batches: list[Batch] = []
        names = sorted(os.listdir(self.directory))
        for owner in sorted({n.split(".")[0] for n in names if n.endswith((".seg", ".tmp"))}):
            if owner == self.owner or not self._claim(owner):
                continue
            for name in names:
                if name.startswith(owner + "."):
                    batch = self._take(name)
                    if batch is not None:
                        batches.append(batch)
            _unlink(self._path(f"{owner}.lock"))
        return batches

    def close(self) -> None:
        """Release the lock; segments left behind are adopted by the next owner."""
        if self._lock_fd is not None:
            _unlink(self._path(f"{self.owner}.lock"))
            os.close(self._lock_fd)
            self._lock_fd = None

    def forget(self) -> None:
        """In a child after fork(): drop the parent's lock descriptor, take a new owner name."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the parent's own descriptor keeps its lock
            self._lock_fd = None
        self.owner = f"{time.time_ns():016x}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0

    def _claim(self, owner: str) -> bool:
        """True when ``owner`` is gone: no lock file, or a lock we can take."""
        if fcntl is None:
            return True
        try:
            fd = os.open(self._path(f"{owner}.lock"), os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # alive
        finally:
            os.close(fd)
        return True

    def _take(self, name: str) -> Batch | None:
        source = self._path(name)
        if not name.endswith(".seg"):
            _unlink(source)  # a .tmp never renamed: its batch was never sent
            return None
        target = self._path(self._new_name())
        try:
            os.replace(source, target)
            with open(target, "rb") as file:
                header: dict[str, Any] = json.loads(file.readline())
                size = os.fstat(file.fileno()).st_size
            return Batch(path=str(header["path"]), key=str(header["key"]),
                         count=int(header["count"]), body=None, size=size, segment=target)
        except FileNotFoundError:
            return None  # another process adopted it first
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.corrupt.append(f"{name}: {exc}")
            with contextlib.suppress(OSError):
                os.replace(target, target + ".bad")
            return None

    def _new_name(self) -> str:
        self._seq += 1
        return f"{self.owner}.{self._seq:010d}.seg"

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _sync_directory(self) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return  # not possible on this platform
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
