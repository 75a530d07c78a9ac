"""The one clock. Nothing else in the server reads the time.

The server runs on a :class:`SteadyClock`: the host's wall clock, guarded against steps. Time
follows the wall clock while it agrees with the elapsed time (``CLOCK_BOOTTIME``, which also
counts a suspend); when the wall clock steps (NTP, an admin's ``date -s``, a VM restored from a
snapshot), the server keeps its own time from the elapsed time, so that nothing rotates or
expires early and new events do not land in the future. When the wall clock steps back into
agreement the server follows it again; a step that holds for ``accept_after_ms`` is taken as
a correction and the server moves to the wall clock (docs/reliability.md#clock).

>>> clock = ManualClock(1_700_000_000_000)
>>> clock.now_ms()
1700000000000
>>> wall, steady = [1_700_000_000_000], [0]
>>> sc = SteadyClock(accept_after_ms=60_000, wall=lambda: wall[0], steady=lambda: steady[0])
>>> sc.now_ms()
1700000000000
>>> wall[0] += 21 * 86_400_000 + 1_000; steady[0] += 1_000   # one second, and a 3-week step
>>> sc.now_ms(), sc.problem() is not None
(1700000001000, True)
>>> wall[0] -= 21 * 86_400_000; sc.now_ms(), sc.problem()     # NTP steps back
(1700000001000, None)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

log = logging.getLogger("logcycle.clock")

# A test-only knob (as store/faults.py's): the file holds milliseconds added to the host's
# wall clock, so that tests step "the host clock" of a real server process.
STEP_FILE_ENV = "LOGCYCLE_FAULT_CLOCK_STEP_FILE"


class Clock(Protocol):
    """Gives the current time in epoch milliseconds (server time)."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The host's wall clock, as it is (the command line's one-shot commands)."""

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


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def steady_ms() -> int:
    """Elapsed time that no clock step moves; on Linux it counts a suspend too (a laptop
    that slept a night is not a clock step)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return time.clock_gettime_ns(boottime) // 1_000_000
    return time.monotonic_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Step:
    """A step of the wall clock that the server has not followed (yet)."""

    offset_ms: int  # wall clock minus server time when it was seen
    seen_steady_ms: int
    seen_wall_ms: int


class SteadyClock:
    """The wall clock, guarded against steps (module docstring).

    ``tolerance_ms``: a difference up to this is not a step (the server follows it at once:
    NTP's slewing, a leap second). ``accept_after_ms``: a step that holds this long is taken
    as a correction (0: follow every step at once, as a plain wall clock).
    """

    def __init__(self, *, accept_after_ms: int = 3_600_000, tolerance_ms: int = 2_000,
                 wall: Callable[[], int] = wall_ms,
                 steady: Callable[[], int] = steady_ms) -> None:
        self.accept_after_ms = accept_after_ms
        self.tolerance_ms = tolerance_ms
        self._wall = wall
        self._steady = steady
        self._lock = threading.Lock()
        self._anchor_wall = wall()
        self._anchor_steady = steady()
        self._step: Step | None = None

    def now_ms(self) -> int:
        with self._lock:
            wall, steady = self._wall(), self._steady()
            own = self._anchor_wall + (steady - self._anchor_steady)
            offset = wall - own
            if abs(offset) <= self.tolerance_ms:
                if self._step is not None:
                    log.warning("the host clock is back in step with the server's time "
                                "(it was %s); following it again", _span(self._step.offset_ms))
                    self._step = None
                return self._follow(wall, steady)
            step = self._step
            if step is None or abs(offset - step.offset_ms) > self.tolerance_ms:
                step = self._step = Step(offset, steady, wall)
                if self.accept_after_ms > 0:
                    log.warning("%s", self._describe(step))
            if steady - step.seen_steady_ms >= self.accept_after_ms:
                log.warning("the host clock has held a step of %s for %s: taking it as a "
                            "correction; the server's time moves to the host clock",
                            _span(step.offset_ms), _span(steady - step.seen_steady_ms))
                self._step = None
                return self._follow(wall, steady)
            return own

    def _follow(self, wall: int, steady: int) -> int:
        self._anchor_wall, self._anchor_steady = wall, steady
        return wall

    def problem(self) -> str | None:
        """A step not followed, in words for /health and /api/v1/status; None when in step."""
        with self._lock:
            return None if self._step is None else self._describe(self._step)

    def _describe(self, step: Step) -> str:
        when = datetime.fromtimestamp(step.seen_wall_ms / 1000, UTC).isoformat(
            timespec="seconds")
        way = "forward" if step.offset_ms > 0 else "back"
        return (f"the host clock stepped {way} by {_span(abs(step.offset_ms))} "
                f"(it reads {when}); the server keeps its own time from the elapsed time, "
                "so nothing rotates or expires early and new events are not stamped with the "
                "stepped time; it follows the host clock again when the clock steps back, or "
                f"after the step has held for {_span(self.accept_after_ms)} "
                "(--clock-step-accept-s); fix the host's time (NTP) if the step is wrong")


def _span(ms: int) -> str:
    ms = abs(ms)
    for unit, size in (("days", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms / 1000:.1f} s"


def server_clock(accept_after_s: float) -> SteadyClock:
    """The running server's clock; with the test-only step file, the host clock as shifted."""
    path = os.environ.get(STEP_FILE_ENV)
    wall = wall_ms if not path else _StepFile(path).wall_ms
    return SteadyClock(accept_after_ms=int(accept_after_s * 1000), wall=wall)


def clock_problem(clock: Clock) -> str | None:
    """What is wrong with ``clock``, if it can tell (a SteadyClock's step)."""
    return clock.problem() if isinstance(clock, SteadyClock) else None


class _StepFile:
    """The host clock plus the milliseconds written in a file (tests only), read at most
    every 50 ms of elapsed time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self._read_at = -1_000

    def wall_ms(self) -> int:
        now = steady_ms()
        if now - self._read_at >= 50:
            self._read_at = now
            try:
                with open(self.path) as f:
                    self._offset = int(f.read().strip() or 0)
            except (OSError, ValueError):
                self._offset = 0
        return wall_ms() + self._offset
