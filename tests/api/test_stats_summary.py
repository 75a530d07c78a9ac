"""GET /api/v1/stats from the duration summaries (store/summary.py, query/summarized.py) on
both stores: the same counts, errors, sums, min and max as the exact path, percentiles
within 1% of the exact nearest-rank values, the answer saying it is approximate; partial
hours, rows above the watermark and errors logged after the summary folded their request
counted exactly; error_rate of screens from their requests' error events."""

from __future__ import annotations

import random
from typing import Any

from starlette.testclient import TestClient

from logcycle.clock import ManualClock
from logcycle.ingest.tasks import Reindex
from logcycle.service import Service
from logcycle.store import summary
from tests.conftest import T0

HOUR = 3_600_000
SCREENS = ("Cart", "Checkout", "Login")
METRICS = ("count,error_rate,avg(duration_ms),min(duration_ms),max(duration_ms),"
           "sum(duration_ms),p50(duration_ms),p90(duration_ms),p95(duration_ms),"
           "p99(duration_ms)")


def reindex(service: Service) -> None:
    done = service.writer.submit_wait(Reindex())  # on the writer's thread, as it runs it
    assert not isinstance(done, Exception), done


def screens(rng: random.Random, n: int, tag: str) -> list[dict[str, Any]]:
    return [{"kind": "screen", "instant": T0, "duration_ms": round(rng.lognormvariate(5, 1.5), 3),
             "screen": SCREENS[i % 3], "request_key": f"{tag}-{i}"} for i in range(n)]


def stats(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/stats", params={"kind": "screen", "by": "screen",
                                            "metrics": METRICS, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def agree(approx: list[dict[str, Any]], exact: list[dict[str, Any]], keys: tuple[str, ...]) \
        -> None:
    assert len(approx) == len(exact) > 0

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(r[k] for k in keys)

    exact_by = {key(r): r for r in exact}
    for row in approx:
        want = exact_by[key(row)]
        for name in ("count", "error_rate", "min(duration_ms)", "max(duration_ms)"):
            assert row[name] == want[name], (name, row, want)
        for name in ("sum(duration_ms)", "avg(duration_ms)"):
            assert abs(row[name] - want[name]) <= 1e-9 * abs(want[name]), (name, row, want)
        for p in (50, 90, 95, 99):
            name = f"p{p}(duration_ms)"
            assert abs(row[name] - want[name]) <= 0.01 * want[name], (name, row, want)


def test_summaries_answer_within_one_percent_and_say_so(
        client: TestClient, service: Service, clock: ManualClock) -> None:
    rng = random.Random(3)
    start = clock.now_ms() + 30 * 60_000  # a partial hour at the start, with events
    clock.advance(40 * 60_000)
    for h in range(5):
        batch = screens(rng, 400, f"h{h}")
        assert client.post("/api/v1/events", json=batch).status_code == 200
        if h == 1:  # a failed request of each of two screens, logged with it
            errs = [{"kind": "error", "instant": T0, "module_name": "m", "message": "x",
                     "request_key": batch[i]["request_key"]} for i in (0, 1)]
            assert client.post("/api/v1/events", json=errs).status_code == 200
        clock.advance(HOUR)
    reindex(service)
    late = [{"kind": "error", "instant": T0, "module_name": "m", "message": "late",
             "request_key": "h2-2"}]  # after the summary folded its screen
    assert client.post("/api/v1/events", json=late).status_code == 200
    tail = screens(rng, 50, "tail")  # above the watermark: read from the events
    assert client.post("/api/v1/events", json=tail).status_code == 200
    span = {"start": start, "end": clock.now_ms()}
    got = stats(client, **span)
    assert got["approximate"] == {"metrics": ["p50(duration_ms)", "p90(duration_ms)",
                                              "p95(duration_ms)", "p99(duration_ms)"],
                                  "relative_error": summary.ALPHA}
    exact = stats(client, exact="true", **span)
    assert "approximate" not in exact
    agree(got["rows"], exact["rows"], ("screen",))
    assert sum(r["count"] for r in got["rows"]) == 2050
    errors = {r["screen"]: round(r["error_rate"] * r["count"]) for r in got["rows"]}
    assert errors == {"Cart": 1, "Checkout": 1, "Login": 1}
    reindex(service)  # the late error and the tail folded by the writer: the same answer
    again = stats(client, **span)
    agree(again["rows"], exact["rows"], ("screen",))
    assert {r["screen"]: round(r["error_rate"] * r["count"]) for r in again["rows"]} == errors
    # per hour buckets, and one screen through the query language
    hourly = stats(client, interval="1h", query='screen:"Cart"', **span)
    agree(hourly["rows"], stats(client, interval="1h", query='screen:"Cart"', exact="true",
                                **span)["rows"], ("screen", "bucket"))
    assert {r["screen"] for r in hourly["rows"]} == {"Cart"}


def test_questions_the_summaries_cannot_answer_are_exact(
        client: TestClient, service: Service, clock: ManualClock) -> None:
    batch = screens(random.Random(5), 90, "x")
    assert client.post("/api/v1/events", json=batch).status_code == 200
    clock.advance(2 * HOUR)
    reindex(service)
    span = {"start": T0 - HOUR, "end": clock.now_ms()}
    for extra in ({"query": "duration_ms:>100"}, {"by": "request_key"},
                  {"metrics": "count_distinct(request_key),p95(duration_ms)"},
                  {"interval": "5m"}, {"module": "shop"}):
        assert "approximate" not in stats(client, **{**span, **extra}), extra
    assert "approximate" in stats(client, **span)


def test_error_rate_of_top_level_kinds_counts_their_requests_errors(
        client: TestClient, service: Service) -> None:
    evs: list[dict[str, Any]] = [
        {"kind": "screen", "instant": T0, "duration_ms": 5, "screen": "S",
         "request_key": f"s{i}"} for i in range(4)]
    evs += [{"kind": "extension", "instant": T0, "duration_ms": 5, "extension_name": "E",
             "action_name": "A", "request_key": "s0"},  # a drill event: its own errors only
            {"kind": "general", "instant": T0, "message": "m", "request_key": "s1",
             "error": {"instant": T0, "module_name": "m", "message": "inline"}},
            {"kind": "error", "instant": T0, "module_name": "m", "message": "e",
             "request_key": "s0"}]
    assert client.post("/api/v1/events", json=evs).status_code == 200
    for exact in ("true", "false"):
        r = client.get("/api/v1/stats", params={
            "start": T0 - HOUR, "end": T0 + 60_000, "by": "kind",
            "metrics": "count,error_rate", "exact": exact})
        rows = {row["kind"]: row for row in r.json()["rows"]}
        assert rows["screen"] == {"kind": "screen", "count": 4, "error_rate": 0.5}
        assert rows["extension"]["error_rate"] == 0
        assert rows["general"]["error_rate"] == 1.0


def test_a_store_with_weeks_of_events_catches_up_in_bounded_steps(
        client: TestClient, service: Service, clock: ManualClock, monkeypatch: Any) -> None:
    monkeypatch.setattr(summary, "STEP_IDS", 25)
    assert client.post("/api/v1/events", json=screens(random.Random(9), 120, "b")).status_code \
        == 200
    clock.advance(2 * HOUR)
    span = {"start": T0 - HOUR, "end": clock.now_ms()}
    exact = stats(client, exact="true", **span)["rows"]
    steps = 0
    while True:  # each step folds at most 25 ids; every answer on the way is right
        reindex(service)
        steps += 1
        agree(stats(client, **span)["rows"], exact, ("screen",))
        if not getattr(service.store, "reindex_behind", False) or steps > 20:
            break
    assert steps <= 20
    if service.store.dialect.name == "sqlite":  # PostgreSQL's reindex thread steps too
        assert steps >= 2  # bounded steps (the writer ran one or two of them too)
