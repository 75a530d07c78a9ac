"""What the client counts: events sent, retried, dropped by reason, and what it reports.

The worker thread is the only writer of ``sent``/``retried``/``batches``; drops come from
both sides and go through one lock. Nothing here does I/O: messages meant for stderr are
kept until the worker (or ``close``) prints them, so a log call never writes anything.

>>> c = Counters()
>>> c.drop("queue_full", 2)
>>> c.snapshot(queued=3, spooled=0).dropped
{'queue_full': 2}
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClientStats", "Counters"]

# Why an event was not stored, as counted in ClientStats.dropped.
DROP_REASONS = {
    "queue_full": "the in-memory queue was full (max_queue)",
    "invalid": "a log call whose arguments can never make a valid event",
    "closed": "a log call after close()",
    "rejected": "the server answered 400 naming the event",
    "too_large": "one event alone is over the server's size limit (413)",
    "unauthorized": "the server refused the API key (401/403)",
    "unknown_entity": "log_record for an entity the server does not know (404)",
    "server_error": "the server kept failing with an unexpected status",
    "shutdown": "still unsent when close() or interpreter exit ran out of time",
    "spool_error": "the spool could not be written or read back",
}


@dataclass(frozen=True, slots=True)
class ClientStats:
    """A snapshot of a Logger's counters (exact once the Logger is idle or closed).

    Every accepted call ends up in exactly one of ``sent``, ``dropped`` or ``queued``:
    ``total == sent + dropped_total + queued``.
    """

    queued: int  # accepted, not yet acknowledged by the server (memory + spool)
    sent: int  # acknowledged by the server (2xx)
    retried: int  # requests sent again after a network error, 429, 503 or 5xx
    dropped: dict[str, int]  # reason -> events (see DROP_REASONS)
    spooled: int = 0  # of `queued`, how many are on disk in the spool
    batches: int = 0  # requests acknowledged
    last_error: str | None = None  # the last problem met while shipping
    # finer counts: "rejected:<field>" -> events, "retried:<503|429|network|...>" -> requests
    details: dict[str, int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.dropped.values())

    @property
    def total(self) -> int:
        """All events accounted for: sent, dropped or still queued."""
        return self.sent + self.dropped_total + self.queued

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as plain JSON-ready data."""
        return {
            "queued": self.queued, "sent": self.sent, "retried": self.retried,
            "dropped": dict(self.dropped), "spooled": self.spooled, "batches": self.batches,
            "last_error": self.last_error, "details": dict(self.details),
        }


class Counters:
    """The live counters of one Logger (reset in a child after fork)."""

    def __init__(self) -> None:
        self.sent = 0
        self.retried = 0
        self.batches = 0
        self.last_error: str | None = None
        self._dropped: dict[str, int] = {}
        self._details: dict[str, int] = {}
        self._reported: set[str] = set()
        self._reports: list[str] = []
        self._lock = threading.Lock()

    def drop(self, reason: str, count: int = 1, detail: str | None = None) -> None:
        """Count ``count`` events lost for ``reason`` (and a finer ``detail``, if any)."""
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
            if detail is not None:
                key = f"{reason}:{detail}"
                self._details[key] = self._details.get(key, 0) + count

    def lost(self) -> int:
        """Events dropped so far, for any reason but ``closed`` (calls after close())."""
        with self._lock:
            return sum(n for reason, n in self._dropped.items() if reason != "closed")

    def retry(self, reason: str) -> None:
        """Count one request sent again, and why ("network", "503", "429", ...)."""
        self.retried += 1
        key = f"retried:{reason}"
        with self._lock:
            self._details[key] = self._details.get(key, 0) + 1

    def report_once(self, topic: str, text: str) -> None:
        """Keep ``text`` for stderr unless something on ``topic`` was already reported."""
        with self._lock:
            if topic in self._reported:
                return
            self._reported.add(topic)
            self._reports.append(text)

    def print_reports(self) -> None:
        """Write the kept reports to stderr (called by the worker, never by a log call)."""
        with self._lock:
            reports, self._reports = self._reports, []
        for text in reports:
            try:
                sys.stderr.write(f"logcycle.client: {text}\n")
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass  # stderr closed or gone: nowhere left to tell

    def snapshot(self, *, queued: int, spooled: int) -> ClientStats:
        """A ClientStats with the given queue figures."""
        with self._lock:
            dropped, details = dict(self._dropped), dict(self._details)
        return ClientStats(queued=queued, sent=self.sent, retried=self.retried,
                           dropped=dropped, spooled=spooled, batches=self.batches,
                           last_error=self.last_error, details=details)
