"""The one clock. Nothing else in the server reads the time.

>>> clock = ManualClock(1_700_000_000_000)
>>> clock.now_ms()
1700000000000
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Gives the current time in epoch milliseconds (server time)."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to: for tests and `logcycle maintain --now`."""

    def __init__(self, now_ms: int) -> None:
        self._now = now_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._now = now_ms

    def advance(self, ms: int) -> None:
        with self._lock:
            self._now += ms
