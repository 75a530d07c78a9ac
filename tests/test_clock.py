"""The server's clock (logcycle/clock.py): the wall clock, guarded against steps."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logcycle.clock import SteadyClock, steady_ms

T0 = 1_800_000_000_000
DAY = 86_400_000


class Host:
    def __init__(self) -> None:
        self.wall, self.steady = T0, 5_000

    def clock(self, accept_after_ms: int = 3_600_000) -> SteadyClock:
        return SteadyClock(accept_after_ms=accept_after_ms, wall=lambda: self.wall,
                           steady=lambda: self.steady)

    def tick(self, ms: int) -> None:
        self.wall += ms
        self.steady += ms


def test_in_step_it_is_the_wall_clock_and_follows_small_adjustments() -> None:
    host = Host()
    clock = host.clock()
    assert clock.now_ms() == T0
    host.tick(10_000)
    host.wall += 1_500  # NTP slewing, a leap second: within the tolerance
    assert clock.now_ms() == host.wall
    host.tick(10_000)
    assert clock.now_ms() == host.wall and clock.problem() is None


@pytest.mark.parametrize("step", [21 * DAY, 3_000, -3_000, -21 * DAY])
def test_a_step_is_not_followed_until_it_steps_back(step: int,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    host = Host()
    clock = host.clock()
    host.tick(1_000)
    host.wall += step
    with caplog.at_level(logging.WARNING, "logcycle.clock"):
        assert clock.now_ms() == T0 + 1_000
        host.tick(30_000)
        assert clock.now_ms() == T0 + 31_000  # the elapsed time, not the stepped wall
    problem = clock.problem()
    assert problem is not None
    assert ("stepped forward" if step > 0 else "stepped back") in problem
    assert sum("stepped" in r.message for r in caplog.records) == 1  # said once
    host.wall -= step
    assert clock.now_ms() == host.wall == T0 + 31_000
    assert clock.problem() is None


def test_a_step_that_holds_is_followed_after_the_accept_time() -> None:
    host = Host()
    clock = host.clock(accept_after_ms=60_000)
    host.wall += 2 * DAY
    assert clock.now_ms() == T0
    host.tick(59_999)
    assert clock.now_ms() == T0 + 59_999
    host.tick(1)
    assert clock.now_ms() == host.wall == T0 + 2 * DAY + 60_000
    assert clock.problem() is None
    host.tick(5)
    assert clock.now_ms() == host.wall  # in step again from there


def test_a_second_step_while_stepped_starts_its_own_wait() -> None:
    host = Host()
    clock = host.clock(accept_after_ms=60_000)
    host.wall += DAY
    clock.now_ms()
    host.tick(50_000)
    host.wall += DAY  # a second step: the wait starts again
    assert clock.now_ms() == T0 + 50_000
    host.tick(50_000)
    assert clock.now_ms() == T0 + 100_000
    assert "2.0 days" in (clock.problem() or "")
    host.tick(10_000)
    assert clock.now_ms() == host.wall


def test_zero_accept_time_follows_every_step_at_once() -> None:
    host = Host()
    clock = host.clock(accept_after_ms=0)
    host.wall += 3 * DAY
    assert clock.now_ms() == host.wall and clock.problem() is None


@given(st.lists(st.tuples(st.integers(0, 100_000), st.integers(-30 * DAY, 30 * DAY)),
                max_size=30))
def test_the_server_time_never_moves_more_than_the_elapsed_time_while_stepped(
        moves: list[tuple[int, int]]) -> None:
    host = Host()
    clock = host.clock(accept_after_ms=10 ** 12)
    last = clock.now_ms()
    for elapsed, step in moves:
        host.tick(elapsed)
        host.wall += step
        now = clock.now_ms()
        if clock.problem() is not None:
            assert now - last == elapsed  # stepped: the server's time is the elapsed time
        else:
            assert now == host.wall
        last = now


def test_the_elapsed_time_source_moves_forward() -> None:
    a = steady_ms()
    assert steady_ms() >= a
