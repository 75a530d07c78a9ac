"""When the writer thread builds the message search index, and how much at a time.

The index is filled behind the writer (store/sqlite_search.py) so that ingest never pays
for it. The writer asks this pacer before each step:

- when no write came for a moment (the queue stayed empty ``IDLE_WAIT_S``), it indexes a
  chunk sized to take about ``TARGET_S``, and again, until the index has caught up;
- under a steady stream of writes it still indexes one half-size chunk a second (about
  2.5% of the writer's time), so the tail that searches scan keeps shrinking in lulls
  and grows slowly under full load.

Searches stay exact at any lag: the rows above the watermark are scanned.

>>> p = SearchIndexPacer()
>>> p.step_size(0.0, idle=True)
2000
>>> p.done(indexed=500, asked=2000, seconds=0.01)
>>> p.due, p.step_size(5.0, idle=True)
(False, 0)
"""

from __future__ import annotations

TARGET_S = 0.05
IDLE_WAIT_S = 0.01
BUSY_EVERY_S = 1.0
MIN_ROWS = 200
MAX_ROWS = 50_000


class SearchIndexPacer:
    """Chunk sizes and timing of the search index steps (writer thread only)."""

    def __init__(self) -> None:
        self.due = True  # rows may wait to be indexed (at start: whatever is in the store)
        self.rows = 2000
        self.indexed = 0
        self._last_busy_step = float("-inf")

    def wrote(self) -> None:
        """The writer committed events: there may be rows to index."""
        self.due = True

    def idle_wait(self, default: float) -> float:
        """How long the writer waits for a task before it counts as idle."""
        return IDLE_WAIT_S if self.due else default

    def step_size(self, now: float, *, idle: bool) -> int:
        """Rows to index now (0: none). ``now`` is a monotonic time in seconds."""
        if not self.due:
            return 0
        if idle:
            return self.rows
        if now - self._last_busy_step < BUSY_EVERY_S:
            return 0
        self._last_busy_step = now
        return max(MIN_ROWS, self.rows // 2)

    def done(self, *, indexed: int, asked: int, seconds: float) -> None:
        """A step indexed ``indexed`` of ``asked`` rows in ``seconds``."""
        self.indexed += indexed
        if indexed < asked:
            self.due = False
        if indexed > 0 and seconds > 0:
            self.rows = int(min(MAX_ROWS, max(MIN_ROWS, indexed * TARGET_S / seconds)))

    def failed(self) -> None:
        """A step failed: wait for the next write before trying again."""
        self.due = False
