"""GET /api/v1/stats on both stores: groups, metrics, buckets, order, limits, 400s; and
the Python entry point that alert conditions call (logcycle.query.stats.stat)."""

from __future__ import annotations

import math
import random
from typing import Any

from starlette.testclient import TestClient

from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS
from logcycle.query import stats as st
from logcycle.service import Service
from tests.conftest import T0

SCREENS = ("Cart", "Checkout", "Login")


def screens(rng: random.Random, n: int) -> list[dict[str, Any]]:
    return [{"kind": "screen", "instant": T0, "duration_ms": rng.randint(1, 2000),
             "screen": SCREENS[i % 3], "request_key": f"r{i}", "user_id": f"u{i % 7}"}
            for i in range(n)]


def nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def get(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/v1/stats", params={"start": T0 - WEEK_MS, "end": T0 + 60_000,
                                            **params})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["rows"]
    return rows


def test_metrics_per_group_match_a_computation_in_python(client: TestClient) -> None:
    evs = screens(random.Random(7), 300)
    assert client.post("/api/v1/events", json=evs).status_code == 200
    metrics = ("count,avg(duration_ms),min(duration_ms),max(duration_ms),sum(duration_ms),"
               "p50(duration_ms),p90(duration_ms),p95(duration_ms),p99(duration_ms),"
               "count_distinct(user_id),error_rate")
    rows = get(client, by="screen", metrics=metrics, order="count desc")
    assert sorted(r["screen"] for r in rows) == list(SCREENS)
    for row in rows:
        durations = [e["duration_ms"] for e in evs if e["screen"] == row["screen"]]
        assert row["count"] == len(durations) == 100
        assert row["min(duration_ms)"] == min(durations)
        assert row["max(duration_ms)"] == max(durations)
        assert row["sum(duration_ms)"] == sum(durations)
        assert abs(row["avg(duration_ms)"] - sum(durations) / 100) < 1e-9
        for p in (50, 90, 95, 99):
            assert row[f"p{p}(duration_ms)"] == nearest_rank(durations, p)
        assert row["count_distinct(user_id)"] == 7 and row["error_rate"] == 0


def test_error_rate_counts_error_ids_and_error_kinds(client: TestClient) -> None:
    evs: list[dict[str, Any]] = [
        {"kind": "integration", "instant": T0, "duration_ms": 10, "is_expose": True,
         "endpoint": "/a", **({"error": {"instant": T0, "module_name": "m",
                                         "message": "down"}} if i < 3 else {})}
        for i in range(12)]
    assert client.post("/api/v1/events", json=evs).status_code == 200
    (row,) = get(client, query="kind:integration", by="endpoint", metrics="count,error_rate")
    assert row == {"endpoint": "/a", "count": 12, "error_rate": 0.25}
    rows = get(client, by="kind", metrics="error_rate", order="error_rate desc")
    assert rows == [{"kind": "error", "error_rate": 1.0},
                    {"kind": "integration", "error_rate": 0.25}]


def test_interval_buckets_and_weeks_merge(client: TestClient, clock: ManualClock) -> None:
    ev = {"kind": "screen", "instant": T0, "duration_ms": 5, "screen": "Cart",
          "request_key": "r"}
    client.post("/api/v1/events", json=[ev, ev])
    clock.advance(3_600_000)
    client.post("/api/v1/events", json=[dict(ev, duration_ms=9)])
    clock.advance(WEEK_MS)  # the next week's table
    client.post("/api/v1/events", json=[dict(ev, duration_ms=1)])
    rows = get(client, by="screen", metrics="count,max(duration_ms)", interval="1h",
               end=T0 + WEEK_MS + 3_600_000)
    hour = 3_600_000
    assert [(r["bucket"] - T0 // hour * hour) // hour for r in rows] == [0, 1, 169]
    assert [r["count"] for r in rows] == [2, 1, 1]
    (total,) = get(client, metrics="count,p50(duration_ms)", end=T0 + WEEK_MS + hour)
    assert total == {"count": 4, "p50(duration_ms)": 5}


def test_order_and_limit(client: TestClient) -> None:
    evs = [{"kind": "screen", "instant": T0, "duration_ms": d, "screen": s,
            "request_key": "r"} for s, d, n in (("A", 5, 1), ("B", 50, 3), ("C", 500, 2))
           for _ in range(n)]
    client.post("/api/v1/events", json=evs)
    rows = get(client, by="screen", metrics="count,avg(duration_ms)",
               order="avg(duration_ms) asc", limit=2)
    assert [r["screen"] for r in rows] == ["A", "B"]
    assert [r["screen"] for r in get(client, by="screen")] == ["B", "C", "A"]  # count desc


def test_bad_parameters_are_400_naming_them(client: TestClient) -> None:
    for params, word in [({"metrics": "p97(duration_ms)"}, "metrics"),
                         ({"metrics": "avg(screen)"}, "metrics"),
                         ({"metrics": "avg(nope)"}, "nope"),
                         ({"by": "attributes"}, "by"), ({"by": "nope"}, "nope"),
                         ({"interval": "2y"}, "interval"), ({"interval": "1s"}, "interval"),
                         ({"interval": "1m", "start": 0, "end": WEEK_MS}, "interval"),
                         ({"order": "p95(duration_ms)"}, "order"),
                         ({"order": "count sideways"}, "order"),
                         ({"limit": "0"}, "limit"), ({"bucket": "1"}, "bucket"),
                         ({"query": "duration_ms:"}, "query")]:
        r = client.get("/api/v1/stats", params=params)
        assert r.status_code == 400, (params, r.text)
        assert word in r.json()["error"]["message"], (params, r.json())


def test_the_python_entry_point_for_alerts(service: Service, client: TestClient) -> None:
    evs = screens(random.Random(3), 60)
    client.post("/api/v1/events", json=evs)
    tz = service.settings.tz
    checkout = [e["duration_ms"] for e in evs if e["screen"] == "Checkout"]
    got = st.stat(service.store, "screen:Checkout", "p95(duration_ms)", T0 - 1, T0 + 1, tz)
    assert got == nearest_rank(checkout, 95)
    assert st.stat(service.store, None, "count", T0 - 1, T0 + 1, tz) == 60
    assert st.stat(service.store, "screen:Nope", "count", T0 - 1, T0 + 1, tz) == 0
    assert st.stat(service.store, "screen:Nope", "avg(duration_ms)", T0 - 1, T0 + 1, tz) is None


def test_a_query_past_the_timeout_is_503_saying_to_narrow_it(
        client: TestClient, service: Service, monkeypatch: Any) -> None:
    if service.store.dialect.name != "sqlite":
        return  # PostgreSQL's statement_timeout gives the same 503 (tests/store)
    import logcycle.store.sqlite as sqlite_store
    for seed in range(4):
        client.post("/api/v1/events", json=screens(random.Random(seed), 10_000))
    monkeypatch.setattr(sqlite_store, "QUERY_TIMEOUT_S", 0.0)
    r = client.get("/api/v1/stats", params={"by": "screen", "metrics": "p95(duration_ms)"})
    assert r.status_code == 503 and "Retry-After" in r.headers
    assert "narrow" in r.json()["error"]["message"]
