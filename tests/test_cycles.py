"""Week/cycle arithmetic: the contract's vectors and properties over many years."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcycle import cycles

UTC = ZoneInfo("UTC")

VECTORS = [
    ("1999-12-31T23:44:59", 9), ("1999-12-31T23:45:00", 0), ("2000-01-07T23:45:00", 1),
    ("2026-11-20T23:44:59", 2), ("2026-11-20T23:45:00", 3), ("2026-11-23T15:00:00", 3),
    ("2026-11-27T23:45:00", 4),
]


@pytest.mark.parametrize(("iso", "cycle"), VECTORS)
def test_contract_vectors(iso: str, cycle: int) -> None:
    assert cycles.cycle_of(cycles.ms_of(iso + "+00:00"), UTC) == cycle


def test_week_turns_on_friday_2345_in_the_store_zone() -> None:
    ny = ZoneInfo("America/New_York")
    start = cycles.week_start_ms(cycles.week_of(cycles.ms_of("2026-11-23T15:00:00+00:00"), ny), ny)
    assert cycles.ms_of("2026-11-21T04:45:00+00:00") == start  # Fri 23:45 EST


def test_retention_bounds() -> None:
    for bad in (0, 10, -1):
        with pytest.raises(ValueError, match="retention"):
            cycles.check_retention(bad)


instants = st.integers(min_value=cycles.ms_of("1999-01-01T00:00:00+00:00"),
                       max_value=cycles.ms_of("2099-01-01T00:00:00+00:00"))
zones = st.sampled_from(["UTC", "Europe/Lisbon", "America/New_York", "Asia/Kolkata"])


@settings(max_examples=500)
@given(instants, zones)
def test_week_start_contains_instant(t: int, zone: str) -> None:
    tz = ZoneInfo(zone)
    w = cycles.week_of(t, tz)
    assert cycles.week_start_ms(w, tz) <= t < cycles.week_start_ms(w + 1, tz)
    assert cycles.next_rotation_ms(t, tz) > t
    assert cycles.cycle_of(t, tz) == w % 10


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=6000), st.integers(min_value=1, max_value=9),
       st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=40))
def test_rotation_over_many_years(start: int, retention: int, steps: list[int]) -> None:
    """Walk through years of weeks (server down across some turns): the invariants hold."""
    held: dict[int, int | None] = {}
    week = start
    for step in [0, *steps]:
        week += step
        p = cycles.plan(week, held, retention)
        # the current table holds this week, the views point at this week and the last
        assert p.held[week % 10] == week
        assert (p.current, p.previous) == (week % 10, (week - 1) % 10)
        for c, w in p.held.items():
            if w is not None:
                assert w % 10 == c and week - retention <= w <= week
        # a table that kept its week was not emptied; one holding a stale week was
        for c, had in held.items():
            if had is not None and (had < week - retention or had % 10 != c or had > week):
                assert c in p.empty
            if c in p.empty:
                assert had is not None
        held = p.held


def test_plan_catches_up_after_downtime() -> None:
    held: dict[int, int | None] = {c: 1400 - ((1400 - c) % 10) for c in range(10)}
    p = cycles.plan(1403, held, 9)
    assert p.empty == frozenset({1, 2, 3})  # weeks 1391..1393 were beyond 9 weeks
    assert p.held[3] == 1403 and p.held[0] == 1400 and p.held[4] == 1394
