"""The archive (``--archive-dir``): every complete week exported to Parquet once, by a
thread of its own, before retention empties it (docs/export.md).

A week is complete once the clock is past it: events are written to the week of their
insert instant, so nothing lands in a past week's tables any more. The archiver looks
every ``CHECK_S`` (and at start) for held weeks before the current one that the archive's
manifest does not hold yet and exports them with :func:`logcycle.store.export.export`,
which writes each file under a temporary name, renames it and records it: each week is
written exactly once, across restarts too.

    a = Archiver(store, Path("archive"), tz=tz, clock=clock)
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
from logcycle.kinds import KIND_NAMES
from logcycle.store import export
from logcycle.store.base import Store

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

    def run_once(self) -> list[tuple[str, int]]:
        """Export the complete weeks not archived yet; the files written."""
        with self._lock:
            return self._run()

    def _run(self) -> list[tuple[str, int]]:
        current = cycles.week_of(self.clock.now_ms(), self.tz)
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
