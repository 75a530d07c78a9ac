"""GET /api/v1/errors and PATCH /api/v1/errors/{fingerprint} on both stores: groups
counted exactly before and after they are folded into the permanent tables, statuses,
regressions, ranges and queries, and groups that outlive their events' weeks."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS
from logcycle.ingest.tasks import Maintain
from logcycle.service import Service
from logcycle.store import errorgroups
from tests.conftest import T0
from tests.errors.folding import fold

TRACE = """Traceback (most recent call last):
  File "/srv/app/shop/orders.py", line {line}, in place
    total = price(item)
  File "/srv/app/shop/pricing.py", line 12, in price
    return int(item["price"])
ValueError: invalid literal for int() with base 10: '{value}'
"""


def err(message: str, module: str = "shop", **extra: Any) -> dict[str, Any]:
    return {"kind": "error", "instant": T0, "module_name": module, "message": message, **extra}


def ingest(client: TestClient, events: list[dict[str, Any]]) -> list[int]:
    r = client.post("/api/v1/events", json=events)
    assert r.status_code == 200, r.text
    ids: list[int] = r.json()["ids"]
    return ids


def groups(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/v1/errors", params=params)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()["groups"]
    return out


def test_occurrences_of_one_bug_are_one_group_before_and_after_folding(
        client: TestClient, service: Service) -> None:
    ids = ingest(client, [err(f"order {i} not found", request_key=f"r{i}") for i in range(5)]
                 + [err("payment refused for 'bob'"), err("order 7 not found", "billing")])
    for folded in (False, True):
        got = {(g["module_name"], g["count"]) for g in groups(client)}
        assert got == {("shop", 5), ("shop", 1), ("billing", 1)}, folded
        top = groups(client, order="count")[0]
        assert top["count"] == 5 and top["last_id"] == ids[4] and top["last_request_key"] == "r4"
        assert top["message"] == "order 4 not found" and top["status"] == "unresolved"
        assert top["first_seen"] == top["last_seen"] == T0
        assert top["daily"][-1] == [T0 - T0 % 86_400_000, 5] and len(top["daily"]) == 14
        fold(service)
    ingest(client, [err("order 99 not found")])
    assert groups(client, order="count")[0]["count"] == 6  # stored 5 + 1 not folded yet


def test_traces_group_by_frames_not_line_numbers(client: TestClient) -> None:
    ingest(client, [err("bad price", detail=TRACE.format(line=10 + i, value=f"x{i}"))
                    for i in range(3)] + [err("bad price")])
    assert sorted(g["count"] for g in groups(client)) == [1, 3]


def test_status_changes_and_regression(client: TestClient, service: Service,
                                       clock: ManualClock) -> None:
    ingest(client, [err("timeout after 30 s"), err("disk full")])
    by_msg = {g["message"]: g for g in groups(client)}
    fp = by_msg["timeout after 30 s"]["fingerprint"]
    r = client.patch(f"/api/v1/errors/{fp}", json={"status": "resolved"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    assert [g["message"] for g in groups(client, status="resolved")] == ["timeout after 30 s"]
    assert [g["message"] for g in groups(client, status="unresolved")] == ["disk full"]
    clock.advance(60_000)
    new_id = ingest(client, [err("timeout after 31 s")])[0]
    for _ in (1, 2):  # seen above the watermark, then folded in
        g = groups(client, status="regressed")
        assert [x["fingerprint"] for x in g] == [fp] and g[0]["regressed_id"] == new_id
        fold(service)
    fp2 = by_msg["disk full"]["fingerprint"]
    assert client.patch(f"/api/v1/errors/{fp2}", json={"status": "ignored"}).status_code == 200
    ingest(client, [err("disk full")])
    fold(service)
    assert groups(client, status="ignored")[0]["count"] == 2


def test_patch_rejects_bad_input_and_unknown_groups(client: TestClient) -> None:
    ingest(client, [err("x")])
    fp = groups(client)[0]["fingerprint"]
    for body in ({"status": "regressed"}, {"status": "gone"}, {"status": "resolved", "x": 1}, []):
        r = client.patch(f"/api/v1/errors/{fp}", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_status", body
    assert client.patch(f"/api/v1/errors/{fp}", content=b"{").status_code == 400
    r = client.patch("/api/v1/errors/0123456789abcdef", json={"status": "resolved"})
    assert r.status_code == 404
    assert client.patch("/api/v1/errors/a%20b", json={"status": "resolved"}).status_code == 400
    assert groups(client)[0]["status"] == "unresolved"
    for params in ({"order": "name"}, {"status": "open"}, {"limit": "0"}, {"x": "1"},
                   {"query": "nope:1"}, {"query": "duration_ms:>"}, {"start": "2", "end": "1"}):
        r = client.get("/api/v1/errors", params=params)
        assert r.status_code == 400, params


def test_range_and_query(client: TestClient, service: Service, clock: ManualClock) -> None:
    ingest(client, [err("a 1"), err("b 1", "billing")])
    clock.advance(3 * 3_600_000)
    later = clock.now_ms()
    ingest(client, [err("a 2"), err("a 3")])
    fold(service)
    assert [(g["message"], g["count"], g["total"]) for g in groups(client, start=later)] == \
        [("a 3", 2, 3)]
    assert {g["module_name"] for g in groups(client, end=later - 1)} == {"shop", "billing"}
    got = groups(client, query="module_name:billing")
    assert [(g["module_name"], g["count"]) for g in got] == [("billing", 1)]
    assert groups(client, query='"a 2"')[0]["count"] == 1


def test_groups_outlive_their_weeks(client: TestClient, service: Service,
                                    clock: ManualClock) -> None:
    ingest(client, [err("old bug 1"), err("old bug 2")])
    fold(service)
    for _ in range(10):  # every table of the first week is emptied by retention
        clock.advance(WEEK_MS)
        service.writer.submit_wait(Maintain(clock.now_ms()))
    assert client.get("/api/v1/events", params={"kind": "error"}).json()["events"] == []
    (g,) = groups(client)
    assert g["count"] == 2 and g["first_seen"] == T0 and g["message"] == "old bug 2"
    assert groups(client, start=T0, end=T0 + 1)[0]["count"] == 2


def test_fingerprint_is_stored_and_a_given_one_kept(client: TestClient) -> None:
    ingest(client, [err("x 1"), err("y", fingerprint="my-own-group"),
                    {"kind": "general", "instant": T0, "message": "m", "module_name": "shop",
                     "error": {"message": "x 2"}}])
    evs = client.get("/api/v1/events", params={"kind": "error"}).json()["events"]
    fps = [e["fingerprint"] for e in evs]
    assert fps[0] == fps[2] != fps[1] == "my-own-group"


def test_hour_counts_become_days_then_go(client: TestClient, service: Service,
                                         clock: ManualClock) -> None:
    """lc_error_hours is bounded: hours while the weeks may hold their events, then one row
    per day (the sparkline's counts unchanged), then nothing after KEEP_DAYS_MS (the group
    keeps its total)."""
    for hour in range(5):  # the same bug at five hours of two days
        ingest(client, [err(f"late job {hour}")] * (hour + 1))
        clock.advance(7 * 3_600_000)
    fold(service)

    def hour_rows() -> list[tuple[int, int]]:
        _, rows = service.store.fetch("SELECT hour, count FROM lc_error_hours ORDER BY hour", ())
        return [(int(h), int(n)) for h, n in rows]

    (before,) = groups(client, start=T0 - WEEK_MS, end=clock.now_ms())
    assert len(hour_rows()) == 5 and before["count"] == 15
    for _ in range(14):
        clock.advance(WEEK_MS)
        service.writer.submit_wait(Maintain(clock.now_ms()))
    days = hour_rows()
    assert [n for _, n in days] == [1 + 2, 3 + 4 + 5]  # T0 is 15:00: 15, 22 h; 5, 12, 19 h
    assert all(h % errorgroups.DAY_MS == 0 for h, _ in days)
    (after,) = groups(client, start=T0 - WEEK_MS, end=T0 + 2 * errorgroups.DAY_MS)
    assert after["count"] == 15 and after["total"] == 15
    assert [d for d in after["daily"] if d[1]] == [d for d in before["daily"] if d[1]]
    clock.advance(errorgroups.KEEP_DAYS_MS)
    service.writer.submit_wait(Maintain(clock.now_ms()))
    assert hour_rows() == []
    (g,) = groups(client)
    assert g["total"] == 15 and g["first_seen"] == T0
