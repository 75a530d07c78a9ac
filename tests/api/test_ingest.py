"""POST /api/v1/events: validation as a whole, limits, idempotency, NDJSON, gzip."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from logcycle.service import Service
from tests.conftest import T0, error_event


def count(service: Service, table: str = "oslog_error") -> int:
    _, rows = service.store.fetch(f"SELECT count(*) FROM {table}", ())  # either store
    return int(rows[0][0])


def post(client: TestClient, body: Any, **kw: Any) -> Any:
    return client.post("/api/v1/events", content=json.dumps(body), **kw)


def test_batch_is_stored_with_increasing_ids(client: TestClient, service: Service) -> None:
    r = post(client, [error_event(i) for i in range(5)])
    assert r.status_code == 200
    ids = r.json()["ids"]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert count(service) == 5
    r2 = post(client, [error_event(9)])
    assert r2.json()["ids"][0] > ids[-1]


@pytest.mark.parametrize("ndjson", [False, True])
def test_nul_characters_are_stored_on_both_stores(client: TestClient, service: Service,
                                                  ndjson: bool) -> None:
    """JSON carries a NUL only as the escape \\u0000 (both stores keep U+FFFD for it); a
    body without that escape skips the store's scan for NULs, one with it is scanned
    whole, whichever event holds it."""
    evs = [error_event(0), {**error_event(1), "message": "a\x00b",
                            "attributes": {"k": "c\x00d"}}]
    body = "\n".join(json.dumps(e) for e in evs) if ndjson else json.dumps(evs)
    assert "\\u0000" in body
    headers = {"Content-Type": "application/x-ndjson"} if ndjson else {}
    r = client.post("/api/v1/events", content=body, headers=headers)
    assert r.status_code == 200, r.text
    listed = client.get("/api/v1/events", params={"kind": "error"}).json()["events"]
    nul = "\ufffd"  # on both stores: PostgreSQL text cannot hold NUL, SQLite's LIKE stops at it
    by_id = {e["id"]: e for e in listed}
    stored = by_id[r.json()["ids"][1]]
    assert stored["message"] == f"a{nul}b"
    assert stored["attributes"] == {"k": "c\x00d"}  # JSON text keeps the escape


def test_every_kind_is_accepted(client: TestClient) -> None:
    batch = [
        {"kind": "screen", "instant": T0, "duration_ms": 3, "screen": "Home", "request_key": "r"},
        {"kind": "integration", "instant": T0, "duration_ms": 1.5, "is_expose": True,
         "endpoint": "/api/x", "type": "REST"},
        {"kind": "mobile_request", "instant": T0, "duration_ms": 2, "request_key": "r"},
        {"kind": "cyclic_job", "instant": T0, "duration_ms": 9, "cyclic_job_name": "nightly",
         "request_key": "r", "next_run": "2026-11-24T00:00:00Z"},
        error_event(),
        {"kind": "general", "instant": T0, "message": "hello", "msg": ["a", {"b": 1}]},
        {"kind": "extension", "instant": T0, "duration_ms": 1, "extension_name": "e",
         "action_name": "a"},
        {"kind": "request_event", "instant": T0, "request_key": "r", "request_event_name": "n",
         "module_key": "mk", "module_name": "m", "application_key": "ak",
         "application_name": "an", "request_event_details": {"Key": "k", "Value": "v"}},
    ]
    r = post(client, batch)
    assert r.status_code == 200, r.text
    page = client.get("/api/v1/events", params={"limit": 20}).json()["events"]
    assert sorted(e["kind"] for e in page) == sorted(b["kind"] for b in batch)
    general = next(e for e in page if e["kind"] == "general")
    assert general["msg"] == ["a", {"b": 1}]
    cj = next(e for e in page if e["kind"] == "cyclic_job")
    assert cj["next_run"] == 1795478400000
    integ = next(e for e in page if e["kind"] == "integration")
    assert integ["is_expose"] is True


@pytest.mark.parametrize(("event", "field"), [
    ({"kind": "error", "instant": T0, "module_name": "m"}, "message"),
    ({"kind": "nope", "instant": T0}, "kind"),
    ({"instant": T0, "message": "x"}, "kind"),
    ({"kind": "error", "instant": "yesterday", "module_name": "m", "message": "x"}, "instant"),
    ({"kind": "error", "instant": "2026-11-23T10:00:00", "module_name": "m", "message": "x"},
     "instant"),
    ({"kind": "error", "instant": T0 + 3 * 86_400_000, "module_name": "m", "message": "x"},
     "instant"),
    ({"kind": "error", "instant": T0, "module_name": "m", "message": "x" * 65537}, "message"),
    ({"kind": "error", "instant": T0, "module_name": "m", "message": "x", "typo": 1}, "typo"),
    ({"kind": "screen", "instant": T0, "duration_ms": -1, "screen": "s", "request_key": "r"},
     "duration_ms"),
    ({"kind": "general", "instant": T0, "message": "x", "msg": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
        [[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "msg"),
    ({"kind": "general", "instant": T0, "message": "x", "attributes": [1]}, "attributes"),
    ({"kind": "general", "instant": T0, "message": "x", "module_name": "m",
      "error": {"detail": "d"}}, "error.message"),
])
def test_one_bad_event_rejects_the_batch(client: TestClient, service: Service,
                                          event: dict[str, Any], field: str) -> None:
    r = post(client, [error_event(0), error_event(1), event])
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_event"
    assert err["errors"][0]["index"] == 2
    assert err["errors"][0]["field"] == field
    assert count(service) == 0


@pytest.mark.parametrize("body", [
    b"[{\"kind\": \"error\", \"instant\": NaN}]", b"[" * 5000 + b"]" * 5000, b"\xff\xfe[]",
    b"{\"kind\": \"error\"}", b"[]", b"", b"[1, 2]", b"[{\"kind\": \"error\", \"instant\": 1e400}]",
])
def test_malformed_bodies_are_400(client: TestClient, service: Service, body: bytes) -> None:
    r = client.post("/api/v1/events", content=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"]
    assert count(service) == 0


def test_limits(client: TestClient, service: Service) -> None:
    big = [error_event(i) for i in range(10_001)]
    r = post(client, big)
    assert r.status_code == 413 and "10000" in r.json()["error"]["message"]
    body = b"[" + b" " * (8 * 1024 * 1024) + b"]"
    r = client.post("/api/v1/events", content=body)
    assert r.status_code == 413 and "8388608" in r.json()["error"]["message"]
    bomb = gzip.compress(b"[" + b" " * (20 * 1024 * 1024) + b"]")
    r = client.post("/api/v1/events", content=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    r = client.post("/api/v1/events", content=b"[]", headers={"Content-Encoding": "br"})
    assert r.status_code == 415
    assert count(service) == 0


def test_gzip_and_ndjson(client: TestClient, service: Service) -> None:
    r = client.post("/api/v1/events", content=gzip.compress(json.dumps([error_event()]).encode()),
                    headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 200
    lines = "\n".join(json.dumps(error_event(i)) for i in range(3)) + "\n\n"
    r = client.post("/api/v1/events", content=lines,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and len(r.json()["ids"]) == 3
    bad = json.dumps(error_event()) + "\n{\"kind\": \"error\"}\n"
    r = client.post("/api/v1/events", content=bad, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["index"] == 1
    assert count(service) == 4


def test_idempotency_key_stores_a_retried_batch_once(client: TestClient,
                                                     service: Service) -> None:
    batch = [error_event(i) for i in range(3)]
    r1 = post(client, batch, headers={"Idempotency-Key": "batch-1"})
    r2 = post(client, batch, headers={"Idempotency-Key": "batch-1"})
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json()
    assert count(service) == 3
    r3 = post(client, batch, headers={"Idempotency-Key": "batch-2"})
    assert r3.json()["ids"] != r1.json()["ids"]
    assert count(service) == 6


def test_inline_error_is_stored_as_error_event_and_linked(client: TestClient) -> None:
    r = post(client, [{"kind": "extension", "instant": T0, "duration_ms": 4,
                       "extension_name": "pdf", "action_name": "render", "request_key": "req-9",
                       "module_name": "docs", "error": {"message": "timeout", "detail": "trace"}}])
    assert r.status_code == 200
    (ext_id,) = r.json()["ids"]
    ext = client.get(f"/api/v1/events/{ext_id}").json()
    err = client.get(f"/api/v1/events/{ext['error_id']}").json()
    assert err["kind"] == "error" and err["message"] == "timeout"
    assert err["module_name"] == "docs" and err["request_key"] == "req-9"
    assert err["instant"] == T0


def test_records_of_declared_entities(client: TestClient) -> None:
    r = client.post("/api/v1/records/orders", json=[{"n": 1}])
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_entity"
    r = client.put("/api/v1/entities/orders", json={"columns": {"n": "integer", "who": "text"}})
    assert r.status_code == 200 and r.json()["table"] == "record_orders"
    r = client.post("/api/v1/records/orders", json=[{"n": 1, "who": "a", "x": [1]}, {"n": 2}])
    assert r.status_code == 200 and len(r.json()["ids"]) == 2
    r = client.post("/api/v1/records/orders", json=[{"n": 3}, {"n": "three"}])
    assert r.status_code == 400 and "record 1" in r.json()["error"]["message"]
    recs = client.get("/api/v1/records/orders").json()["records"]
    assert [x["record"]["n"] for x in recs] == [2, 1]
    r = client.put("/api/v1/entities/Bad-Name", json={})
    assert r.status_code == 400
    r = client.put("/api/v1/entities/orders", json={"columns": {"n": "text"}})
    assert r.status_code == 409
    r = client.put("/api/v1/entities/x2", json={"columns": {"id": "text"}})
    assert r.status_code == 400
