"""The ``query`` parameter on GET /api/v1/events, /api/v1/histogram and /api/v1/tail, on
SQLite and PostgreSQL (the ``client`` fixture runs each test on both stores)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import T0

EVENTS: list[dict[str, Any]] = [
    {"kind": "screen", "instant": T0, "duration_ms": 1200, "screen": "Checkout",
     "request_key": "r1", "user_id": "ada", "attributes": {"user": {"tier": "gold"}, "n": 7}},
    {"kind": "screen", "instant": T0 + 1, "duration_ms": 80, "screen": "Cart",
     "request_key": "r2", "user_id": "bob", "attributes": {"user": {"tier": "free"}, "n": 70}},
    {"kind": "screen", "instant": T0 + 2, "duration_ms": 510, "screen": "Login",
     "request_key": "r3"},
    {"kind": "error", "instant": T0 + 3, "module_name": "shop", "request_key": "r1",
     "message": "payment refused by the acquirer", "user_id": "ada"},
    {"kind": "error", "instant": T0 + 4, "module_name": "shop", "request_key": "r2",
     "message": "timeout calling the stock service", "user_id": "bob"},
    {"kind": "general", "instant": T0 + 5, "message": "cache miss for 50%_off", "request_key": "r3",
     "message_type": "Debug", "attributes": {"flag": True, "label": "x\u00e9"}},
    {"kind": "integration", "instant": T0 + 6, "duration_ms": 2500, "is_expose": True,
     "endpoint": "/api/stock", "request_key": "r4",
     "error": {"instant": T0 + 6, "module_name": "stock", "message": "stock down"}},
    {"kind": "integration", "instant": T0 + 7, "duration_ms": 30, "is_expose": False,
     "endpoint": "/api/orders", "request_key": "r5"},
]


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    r = client.post("/api/v1/events", json=EVENTS)
    assert r.status_code == 200, r.text
    return client


def found(client: TestClient, query: str, **params: Any) -> list[str]:
    """``kind:request_key`` of every match, sorted."""
    r = client.get("/api/v1/events", params={"query": query, "limit": 1000, **params})
    assert r.status_code == 200, r.text
    return sorted(f"{e['kind']}:{e.get('request_key')}" for e in r.json()["events"])


CASES = [
    ("screen:Checkout", ["screen:r1"]),
    ('screen:"Checkout"', ["screen:r1"]),
    ("screen:Check*", ["screen:r1"]),
    ("screen:*", ["screen:r1", "screen:r2", "screen:r3"]),
    ("user_id:ada", ["error:r1", "screen:r1"]),
    ("kind:error user_id:ada", ["error:r1"]),
    ("user_id:ada AND kind:error", ["error:r1"]),
    ("duration_ms:>500", ["integration:r4", "screen:r1", "screen:r3"]),
    ("duration_ms:>=510 duration_ms:<=1200", ["screen:r1", "screen:r3"]),
    ("duration_ms:<80", ["integration:r5"]),
    ("duration_ms:(>100 AND <2000)", ["screen:r1", "screen:r3"]),
    ("screen:(Cart OR Login)", ["screen:r2", "screen:r3"]),
    ("screen:in(Cart, Login)", ["screen:r2", "screen:r3"]),
    ("kind:screen -screen:Cart", ["screen:r1", "screen:r3"]),
    ("kind:screen NOT user_id:ada", ["screen:r2", "screen:r3"]),  # NULL user_id is "not ada"
    ("kind:screen -user_id:*", ["screen:r3"]),
    ("is_expose:true", ["integration:r4"]),
    ("is_expose:false", ["integration:r5"]),
    ("error_id:*", ["integration:r4"]),
    ("payment", ["error:r1"]),
    ("PAYMENT", ["error:r1"]),
    ('"stock service"', ["error:r2"]),
    ("pay*acquirer", ["error:r1"]),
    ("50%_", ["general:r3"]),
    ("payment OR timeout", ["error:r1", "error:r2"]),
    ("(payment OR miss) kind:general", ["general:r3"]),
    ("-payment kind:error", ["error:r2", "error:r4"]),
    ("attributes.user.tier:gold", ["screen:r1"]),
    ("attributes.user.tier:*", ["screen:r1", "screen:r2"]),
    ("attributes.n:>10", ["screen:r2"]),
    ("attributes.n:7", ["screen:r1"]),
    ("attributes.flag:true", ["general:r3"]),
    ("attributes.label:x\u00e9", ["general:r3"]),
    ("attributes.user.tier:g*", ["screen:r1"]),
    (f"instant:>={T0 + 6}", ["error:r4", "integration:r4", "integration:r5"]),
    ("instant:<2026-11-23T15:00:00.002Z", ["screen:r1", "screen:r2"]),
    ("message:\"cache miss for 50%_off\"", ["general:r3"]),
    ("request_key:r1 OR request_key:r5", ["error:r1", "integration:r5", "screen:r1"]),
    ("kind:integration endpoint:/api/*", ["integration:r4", "integration:r5"]),
]


def test_query_matches(loaded: TestClient) -> None:
    wrong = [(query, got, expected) for query, expected in CASES
             if (got := found(loaded, query)) != expected]
    assert wrong == []


def test_query_combines_with_the_other_parameters_by_and(loaded: TestClient) -> None:
    assert found(loaded, "user_id:ada", kind="screen") == ["screen:r1"]
    assert found(loaded, "kind:error", q="timeout") == ["error:r2"]
    assert found(loaded, "duration_ms:>0", request_key="r4") == ["integration:r4"]
    assert found(loaded, "module_name:shop", kind="error") == ["error:r1", "error:r2"]


def test_pages_of_a_query_are_keyset(loaded: TestClient) -> None:
    seen: list[int] = []
    after = None
    while True:
        params: dict[str, Any] = {"query": "request_key:*", "limit": 2}
        if after:
            params["after"] = after
        body = loaded.get("/api/v1/events", params=params).json()
        seen += [e["id"] for e in body["events"]]
        after = body["next"]
        if after is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 9


BAD = [
    ("screen:", ["position 7", "value"]),
    ("nope:1", ["unknown field 'nope'", "position 0", "duration_ms", "attributes.<path>"]),
    ("(payment", ["position 8", "')'"]),
    ("payment)", ["position 7"]),
    ("duration_ms:fast", ["duration_ms is a number", "position 12"]),
    ("screen:>5", ["comparisons", "position 8"]),
    ('"open', ["unclosed quote", "position 0"]),
    ("a OR", ["expected a term", "position 4"]),
    ("instant:>yesterday", ["instant", "position 9"]),
    ("is_expose:maybe", ["true or false"]),
    ("duration_ms:5*", ["wildcards apply to text"]),
]


def test_bad_queries_are_400_pointing_at_the_position(client: TestClient) -> None:
    for query, words in BAD:
        r = client.get("/api/v1/events", params={"query": query})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid_query" and err["errors"][0]["field"] == "query"
        for word in words:
            assert word in err["message"], (word, err["message"])


def test_a_field_no_chosen_kind_has_is_400_listing_theirs(client: TestClient) -> None:
    r = client.get("/api/v1/events", params={"query": "screen:x", "kind": "error"})
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert "'screen'" in msg and "module_name" in msg and "duration_ms" not in msg


def test_values_never_reach_the_sql(loaded: TestClient) -> None:
    hostile = ["screen:\"x' OR 1=1 --\"", "attributes.a:\"'); DROP TABLE lc_meta; --\"",
               'user_id:"\\" OR \\"1\\"=\\"1"', "message:%", "attributes.n:>0 OR screen:'"]
    for query in hostile:
        r = loaded.get("/api/v1/events", params={"query": query})
        assert r.status_code == 200, r.text
    assert found(loaded, "message:%") == []
    assert len(found(loaded, "request_key:*")) == 9  # nothing was dropped


def test_histogram_takes_the_query(loaded: TestClient) -> None:
    r = loaded.get("/api/v1/histogram", params={"query": "duration_ms:>500 OR payment",
                                               "start": T0 - 60_000, "end": T0 + 60_000})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 4 and body["kinds"] == {"error": 1, "integration": 1, "screen": 2}
    r = loaded.get("/api/v1/histogram", params={"query": "duration_ms:"})
    assert r.status_code == 400 and "query" in r.json()["error"]["message"]


def test_tail_takes_the_query(client: TestClient) -> None:
    with client.stream("GET", "/api/v1/tail", params={"query": "user_id:ada",
                                                      "after_id": "0"}) as r:
        assert r.status_code == 200
        client.post("/api/v1/events", json=EVENTS)
        got: list[str] = []
        for line in r.iter_lines():
            if line.startswith("data: {\"kind\""):
                got.append(line)
                if len(got) == 2:
                    break
    assert all('"user_id":"ada"' in line for line in got)
    r = client.get("/api/v1/tail", params={"query": "(x"})
    assert r.status_code == 400
