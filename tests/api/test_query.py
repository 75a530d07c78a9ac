"""GET /api/v1/events (filters, keyset pages) and GET /api/v1/requests/{key}."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS
from tests.conftest import T0, error_event


def ingest(client: TestClient, events: list[dict[str, Any]]) -> list[int]:
    r = client.post("/api/v1/events", json=events)
    assert r.status_code == 200, r.text
    ids: list[int] = r.json()["ids"]
    return ids


def all_pages(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        q = dict(params, **({"after": after} if after else {}))
        body = client.get("/api/v1/events", params=q).json()
        out.extend(body["events"])
        after = body["next"]
        if after is None:
            return out


def test_pages_are_newest_first_and_stable_while_events_arrive(client: TestClient) -> None:
    ids = ingest(client, [error_event(i) for i in range(25)])
    first = client.get("/api/v1/events", params={"limit": 10}).json()
    assert [e["id"] for e in first["events"]] == ids[::-1][:10]
    ingest(client, [error_event(100 + i) for i in range(5)])  # arrives between pages
    second = client.get("/api/v1/events", params={"limit": 10, "after": first["next"]}).json()
    assert [e["id"] for e in second["events"]] == ids[::-1][10:20]
    assert len(all_pages(client, limit=7)) == 30


def test_filters(client: TestClient) -> None:
    ingest(client, [
        error_event(1, request_key="r1"), error_event(2, message="Disk FULL on db1"),
        {"kind": "general", "instant": T0, "message": "disk almost full", "src": "dev/1",
         "stream": "console", "message_type": "Information"},
        {"kind": "general", "instant": T0, "message": "x 50%_off", "src": "dev/2"},
        {"kind": "screen", "instant": T0, "duration_ms": 1, "screen": "s", "request_key": "r1"},
    ])
    def kinds(**p: Any) -> list[str]:
        return sorted(e["kind"] + ":" + str(e.get("message", "")) for e in all_pages(client, **p))
    assert kinds(q="full") == ["error:Disk FULL on db1", "general:disk almost full"]
    assert kinds(q="50%_") == ["general:x 50%_off"]
    assert kinds(q="50%x") == []
    assert kinds(request_key="r1") == ["error:boom 1", "screen:"]
    assert kinds(kind="screen") == ["screen:"]
    assert kinds(src="dev/1", stream="console") == ["general:disk almost full"]
    assert kinds(type="Information") == ["general:disk almost full"]
    assert kinds(kind="error,general", q="disk") == ["error:Disk FULL on db1",
                                                    "general:disk almost full"]


def test_bad_parameters_are_named(client: TestClient) -> None:
    for params, word in [({"kind": "nope"}, "nope"), ({"limit": "0"}, "limit"),
                         ({"limit": "100000"}, "limit"), ({"after": "garbage!"}, "after"),
                         ({"start": "yesterday"}, "start"), ({"knd": "x"}, "knd"),
                         ({"start": "2", "end": "1"}, "start")]:
        r = client.get("/api/v1/events", params=params)
        assert r.status_code == 400, params
        assert word in r.json()["error"]["message"]


def test_time_range_reads_only_matching_weeks(client: TestClient, clock: ManualClock) -> None:
    old = ingest(client, [error_event(1)])
    clock.advance(WEEK_MS)
    new = ingest(client, [error_event(2)])
    got = all_pages(client, start=T0 + WEEK_MS - 1)
    assert [e["id"] for e in got] == new
    got = all_pages(client, end=T0 + 1)
    assert [e["id"] for e in got] == old
    assert [e["id"] for e in all_pages(client)] == new + old


def test_request_tree(client: TestClient) -> None:
    ingest(client, [
        {"kind": "screen", "instant": T0 + 10, "duration_ms": 120, "screen": "Checkout",
         "request_key": "req-1", "module_name": "shop"},
        {"kind": "integration", "instant": T0 + 30, "duration_ms": 80, "is_expose": False,
         "endpoint": "https://pay/api", "request_key": "req-1", "module_name": "shop",
         "error": {"message": "payment refused", "detail": "402"}},
        {"kind": "general", "instant": T0 + 20, "message": "cart loaded", "request_key": "req-1"},
        error_event(5, request_key="req-1", instant=T0 + 40),
        error_event(6, request_key="other"),
    ])
    tree = client.get("/api/v1/requests/req-1").json()
    assert [e["screen"] for e in tree["top_level"]] == ["Checkout"]
    assert [e["kind"] for e in tree["drill"]] == ["general", "integration", "error"]
    integ = tree["drill"][1]
    assert integ["error"]["message"] == "payment refused"
    assert integ["error"]["request_key"] == "req-1"
    assert tree["count"] == 4
    assert client.get("/api/v1/requests/nothing").status_code == 404


def test_event_by_id(client: TestClient) -> None:
    (i,) = ingest(client, [error_event(1)])
    assert client.get(f"/api/v1/events/{i}").json()["message"] == "boom 1"
    assert client.get("/api/v1/events/999999").status_code == 404
    assert client.get("/api/v1/events/abc").status_code == 400
