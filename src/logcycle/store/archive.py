"""The archive (``--archive-dir``): every complete week exported to Parquet once, by a
thread of its own, before retention empties it (docs/export.md).

A week is complete once the clock is past it: events are written to the week of their
insert instant, so nothing lands in a past week's tables any more. The archiver looks
every ``CHECK_S`` (and at start) for held weeks before the current one that the archive's
manifest does not hold yet and exports them with :func:`logcycle.store.export.export`,
which writes each file under a temporary name, renames it and records it: each week is
written exactly once, across restarts too.

Rotation must not empty a week before it is archived. A running server's rotation empties
only weeks that have been complete for the whole retention (the archiver had them long
before); but a server that was down for longer than the retention finds several weeks to
empty at start. So with an archive the service opens the store without its catch-up,
archives every complete week (:func:`open_archived`), and only then rotates; when the
archive cannot be written, it refuses to start rather than empty unarchived weeks.

    a = Archiver(store, Path("archive"), tz=tz, clock=clock)
    report = open_archived(store, a, now_ms)   # Store.open, archive, then catch up
    a.run_once()        # [(file, rows), …] written now
    a.start(); …; a.stop()
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from logcycle import cycles
from logcycle.clock import Clock
from logcycle.errors import LogcycleError
from logcycle.ingest.tasks import Maintain
from logcycle.kinds import KIND_NAMES
from logcycle.store import export
from logcycle.store.base import MaintenanceReport, Store

log = logging.getLogger("logcycle.archive")
CHECK_S = 60.0


class Archiver:
    def __init__(self, store: Store, out: Path, *, tz: ZoneInfo, clock: Clock) -> None:
        self.store = store
        self.out = out
        self.tz = tz
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one export into the directory at a time

    def run_once(self, now_ms: int | None = None) -> list[tuple[str, int]]:
        """Export the weeks complete as of ``now_ms`` (default: the clock's now) not
        archived yet; the files written."""
        with self._lock:
            return self._run(self.clock.now_ms() if now_ms is None else now_ms)

    def _run(self, now_ms: int) -> list[tuple[str, int]]:
        current = cycles.week_of(now_ms, self.tz)
        weeks = [w for w in self.store.held().values() if w is not None and w < current]
        if not weeks:
            return []
        start = cycles.week_start_ms(min(weeks), self.tz)
        end = cycles.week_start_ms(current, self.tz) - 1
        written = export.export(self.store, self.out, start=start, end=end, kinds=KIND_NAMES,
                                fmt="parquet", tz=self.tz, cancelled=self._stop.is_set)
        for name, rows in written:
            if rows:
                log.info("archived %s (%d rows)", name, rows)
        return written

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except export.Cancelled:
                return
            except (LogcycleError, OSError) as exc:  # retried at the next check
                log.warning("archiving to %s failed: %s", self.out, exc)
            except Exception:  # a bug here must not end the thread silently
                log.exception("archiving to %s failed", self.out)
            if self._stop.wait(CHECK_S):
                return

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="logcycle-archive")
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None


def open_archived(store: Store, archiver: Archiver, now_ms: int) -> MaintenanceReport | None:
    """Open ``store``, archive every week complete as of ``now_ms``, then catch up the
    rotation (which may empty several of them after a long downtime). Raises when the
    archive cannot be written: nothing has been emptied then."""
    store.open(now_ms, maintain=False)
    try:
        archiver.run_once(now_ms)
    except (LogcycleError, OSError) as exc:
        store.close()
        raise LogcycleError(f"cannot archive the complete weeks to {archiver.out} before the "
                            f"rotation at start empties them ({exc}): fix the archive "
                            "directory, or start without --archive-dir to let retention "
                            "empty them unarchived") from exc
    (report,) = store.apply([Maintain(now_ms, catch_up=True)], now_ms)
    if isinstance(report, LogcycleError):
        raise report
    return report if isinstance(report, MaintenanceReport) else None
