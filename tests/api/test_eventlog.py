"""The Event Log API as a user of the original (seed 003) tries it: its documented requests
word for word, its documented responses field by field, then hostile values."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.errors import StoreUnavailable
from logcycle.keys import hash_key, new_key
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN

# The seed's example event log, created at its instant on a fresh store (so its id is 1).
EXAMPLE = {
    "id": 1,
    "insertInstant": 1562797978088,
    "message": "Lambda invocation result.\n\nId: 41f40266-52f9-4593-8907-3e214ae10eb9\n"
               "Name: foo\n\nHello World!\n",
    "type": "Information",
}
SEARCH = "/api/system/event-log/search"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(EXAMPLE["insertInstant"])  # type: ignore[arg-type]


@contextmanager
def client_at(settings: Settings, at_ms: int) -> Iterator[TestClient]:
    svc = Service(settings, clock=ManualClock(at_ms), bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c
    svc.close()


def create(client: TestClient, message: str, type_: str = "Information") -> dict[str, Any]:
    r = client.post("/api/system/event-log", json={"eventLog": {"message": message,
                                                                "type": type_}})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["eventLog"]
    return body


def make_key(service: Service, scope: str, src_prefix: str | None = None) -> str:
    key = new_key()
    service.store.add_key(hash_key(service.secret, key), scope, None, src_prefix, 0)
    service.auth.reload()
    return key


def field_error(r: Any, field: str) -> dict[str, str]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"fieldErrors", "generalErrors"}
    first: dict[str, str] = body["fieldErrors"][field][0]
    return first


# -- the seed's examples, word for word ---------------------------------------------------
def test_the_documented_event_log_round_trips_field_by_field(client: TestClient) -> None:
    assert create(client, EXAMPLE["message"]) == EXAMPLE  # type: ignore[arg-type]
    r = client.get("/api/system/event-log/1")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"eventLog": EXAMPLE}
    found = client.get(SEARCH + "?message=Lambda&start=1562797978000&end=1562797978100"
                       "&type=Information")
    assert found.json() == {"eventLogs": [EXAMPLE], "total": 1}


def test_the_documented_search_request_word_for_word(settings: Settings) -> None:
    with client_at(settings, 1655242262400) as client:
        made = create(client, "hello from the seed")
        create(client, "not this type", "Debug")
        body = """{
  "search": {
    "end": "1655242262478",
    "message": "*",
    "numberOfResults": 25,
    "start": "1655242262370",
    "type": "Information"
  }
}"""
        r = client.post(SEARCH, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200
        assert r.json() == {"eventLogs": [made], "total": 1}
        assert made["insertInstant"] == 1655242262400
        empty = client.post(SEARCH, json={"search": {"start": 1655242262401, "end": 1655242262478}})
        assert empty.json() == {"eventLogs": [], "total": 0}


def test_the_documented_get_search_uri(client: TestClient) -> None:
    made = create(client, "Lambda invocation result")
    r = client.get(SEARCH, params={"message": "invocation", "start": "1562797978088",
                                   "end": "1562797978088", "type": "Information"})
    assert r.json() == {"eventLogs": [made], "total": 1}


# -- what the search finds -----------------------------------------------------------------
@pytest.fixture
def logs(client: TestClient, clock: ManualClock) -> list[dict[str, Any]]:
    made = []
    for i, (msg, typ) in enumerate([
        ("Lambda invocation result. Hello World!", "Information"),
        ("disk 50% full on db_1", "Error"),
        ("disk 50x full on db-1", "Debug"),
        ("lambda timed out", "Error"),
        ("Hello again", "Information"),
    ]):
        clock.advance(1000 * (i + 1))
        made.append(create(client, msg, typ))
    return made


def ids(client: TestClient, **params: Any) -> list[int]:
    r = client.get(SEARCH, params=params)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["eventLogs"]]


def test_wildcards(client: TestClient, logs: list[dict[str, Any]]) -> None:
    n = [e["id"] for e in logs]
    assert ids(client, message="lambda") == [n[3], n[0]]  # no *: *value*, any case
    assert ids(client, message="Lambda*") == [n[3], n[0]]  # starts with
    assert ids(client, message="*World!") == [n[0]]  # ends with
    assert ids(client, message="World") == [n[0]]
    assert ids(client, message="World!*x") == []
    assert ids(client, message="*disk*db*1") == [n[2], n[1]]
    assert ids(client, message="50%") == [n[1]]  # % and _ are plain characters
    assert ids(client, message="db_1") == [n[1]]
    assert ids(client, message="*") == n[::-1]
    assert ids(client, message="") == n[::-1]
    assert ids(client, message="he") == [n[4], n[0]]  # too short for the index: scanned


def test_filters_order_and_paging(client: TestClient, logs: list[dict[str, Any]]) -> None:
    n = [e["id"] for e in logs]
    assert ids(client, type="Error") == [n[3], n[1]]
    assert ids(client, start=logs[1]["insertInstant"], end=logs[3]["insertInstant"]) == \
        [n[3], n[2], n[1]]
    assert ids(client, orderBy="insertInstant ASC") == n
    assert ids(client, orderBy="insertInstant") == n  # no direction: ascending
    assert ids(client, orderBy="insertinstant desc") == n[::-1]
    assert ids(client, orderBy="insertUser DESC") == n[::-1]
    assert ids(client, orderBy="type ASC") == [n[2], n[1], n[3], n[0], n[4]]
    # (messages sort in the engine's collation: these two sort alike in all of them)
    assert ids(client, orderBy="message DESC", type="Error") == [n[3], n[1]]
    pages = [ids(client, numberOfResults=2, startRow=row) for row in (0, 2, 4, 6)]
    assert pages == [n[::-1][0:2], n[::-1][2:4], n[::-1][4:], []]
    r = client.get(SEARCH, params={"numberOfResults": 0})
    assert r.json() == {"eventLogs": [], "total": 5}


def test_events_of_other_routes_with_event_log_types_show_up(client: TestClient,
                                                             clock: ManualClock) -> None:
    now = clock.now_ms()
    r = client.post("/api/v1/events", json=[
        {"kind": "general", "instant": now, "message": "from the native API",
         "message_type": "Error"},
        {"kind": "general", "instant": now, "message": "from the native API, no type"},
        {"kind": "general", "instant": now, "message": "from the native API, a warning",
         "message_type": "Warning"},
        {"kind": "error", "instant": now, "module_name": "m", "message": "from the native API"},
    ])
    first = r.json()["ids"][0]
    found = client.get(SEARCH, params={"message": "native"}).json()
    assert found == {"eventLogs": [{"id": first, "insertInstant": now,
                                    "message": "from the native API", "type": "Error"}],
                     "total": 1}
    assert client.get(f"/api/system/event-log/{first}").status_code == 200
    for other in r.json()["ids"][1:]:
        r404 = client.get(f"/api/system/event-log/{other}")
        assert (r404.status_code, r404.content) == (404, b"")


def test_post_search_takes_numbers_and_strings(client: TestClient,
                                               logs: list[dict[str, Any]]) -> None:
    start = logs[1]["insertInstant"]
    for value in (start, str(start)):
        r = client.post(SEARCH, json={"search": {"start": value, "orderBy": "insertInstant ASC",
                                                 "numberOfResults": "2", "startRow": 1}})
        assert r.json()["eventLogs"] == logs[2:4]
        assert r.json()["total"] == 4


# -- hostile values ----------------------------------------------------------------------------
MALICIOUS_ORDER = [
    "insertInstant; DROP TABLE oslog_general_3", "id DESC", "insertInstant DESC, message",
    "message ASC LIMIT 1", "(SELECT 1)", "insertInstant DOWN", "insert_instant DESC",
    "message ASC DESC", "1", "type -- ", "message COLLATE NOCASE", "rowid",
]


def test_malicious_order_by_is_a_400_never_sql(client: TestClient,
                                               logs: list[dict[str, Any]]) -> None:
    for order in MALICIOUS_ORDER:
        e = field_error(client.get(SEARCH, params={"orderBy": order}), "orderBy")
        assert e["code"] == "[invalid]orderBy"
        e = field_error(client.post(SEARCH, json={"search": {"orderBy": order}}),
                        "search.orderBy")
        assert e["code"] == "[invalid]search.orderBy"
    assert len(ids(client)) == 5  # the tables are all there


BAD_PARAMETERS = [
    ("numberOfResults", "-1", "invalid"), ("numberOfResults", "1001", "invalid"),
    ("numberOfResults", "ten", "couldNotConvert"), ("numberOfResults", "2.5", "couldNotConvert"),
    ("startRow", "-5", "invalid"), ("startRow", "10001", "invalid"),
    ("startRow", "99999999999999999999999", "couldNotConvert"),
    ("start", "yesterday", "couldNotConvert"), ("end", "-1", "invalid"),
    ("type", "Warning", "invalid"), ("message", "x" * 1025, "tooLong"),
]


def test_bad_parameters_name_the_field(client: TestClient) -> None:
    for name, value, code in BAD_PARAMETERS:
        e = field_error(client.get(SEARCH, params={name: value}), name)
        assert e["code"] == f"[{code}]{name}"
        assert e["message"]


def test_bad_json_bodies(client: TestClient) -> None:
    # No body at all is a 400 too (the document requires one; `{}` searches everything).
    for body in (b"", b"  ", b"{", b"[]", b'{"search": 3}', b'{"search": {}, "other": 1}'):
        r = client.post(SEARCH, content=body)
        assert r.status_code == 400
        assert r.json()["fieldErrors"] == {}
        assert r.json()["generalErrors"][0]["code"] == "[invalidJSON]"
    assert client.post(SEARCH, json={}).status_code == 200
    e = field_error(client.post(SEARCH, json={"search": {"mesage": "typo"}}), "search.mesage")
    assert e["code"] == "[unknown]search.mesage"
    e = field_error(client.post(SEARCH, json={"search": {"start": True}}), "search.start")
    assert e["code"] == "[couldNotConvert]search.start"
    r = client.post(SEARCH, json={"search": {"numberOfResults": -1, "startRow": "x"}})
    assert set(r.json()["fieldErrors"]) == {"search.numberOfResults", "search.startRow"}


def test_wildcard_heavy_patterns_answer(client: TestClient, logs: list[dict[str, Any]]) -> None:
    for pattern in ("*" * 500, "*a" * 300, "%_%_%", "\\", "'; --", '"', "ab*" * 100):
        assert client.get(SEARCH, params={"message": pattern}).status_code == 200


# -- status codes and bodies ---------------------------------------------------------------------
def test_retrieve_status_codes(client: TestClient, logs: list[dict[str, Any]]) -> None:
    for path in ("/api/system/event-log/999", "/api/system/event-log/-1"):
        r = client.get(path)
        assert (r.status_code, r.content) == (404, b"")
    for bad in ("abc", "1.5", "99999999999999999999"):
        e = field_error(client.get(f"/api/system/event-log/{bad}"), "logId")
        assert e["code"] == "[couldNotConvert]logId"
    r = client.get("/api/system/event-log/1", headers={"Authorization": "nope"})
    assert (r.status_code, r.content) == (401, b"")
    r = client.get(SEARCH, headers={"Authorization": ""})
    assert (r.status_code, r.content) == (401, b"")


def test_scopes(client: TestClient, service: Service) -> None:
    ingest, read = make_key(service, "ingest"), make_key(service, "read")
    prefixed = make_key(service, "ingest", src_prefix="dev/")
    body = {"eventLog": {"message": "m", "type": "Debug"}}
    assert client.post("/api/system/event-log", json=body,
                       headers={"Authorization": ingest}).status_code == 200
    r = client.post("/api/system/event-log", json=body, headers={"Authorization": read})
    assert r.status_code == 403
    assert r.json()["generalErrors"][0]["code"] == "[forbidden]"
    assert client.post("/api/system/event-log", json=body,
                       headers={"Authorization": prefixed}).status_code == 403
    assert client.get(SEARCH, headers={"Authorization": ingest}).status_code == 403
    assert client.get(SEARCH, headers={"Authorization": read}).json()["total"] == 1


def test_create_validation(client: TestClient) -> None:
    path = "/api/system/event-log"
    e = field_error(client.post(path, json={"eventLog": {"type": "Debug"}}), "eventLog.message")
    assert e["code"] == "[blank]eventLog.message"
    e = field_error(client.post(path, json={"eventLog": {"message": "m", "type": "Fatal"}}),
                    "eventLog.type")
    assert e["code"] == "[invalid]eventLog.type"
    e = field_error(client.post(path, json={"eventLog": {"message": 5}}), "eventLog.message")
    assert e["code"] == "[couldNotConvert]eventLog.message"
    made = client.post(path, json={"eventLog": {"message": "no type given"}}).json()
    assert made["eventLog"]["type"] == "Information"


def test_store_that_cannot_answer_is_a_503_with_json(client: TestClient, service: Service,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any) -> Any:
        raise StoreUnavailable("the store cannot answer right now (disk I/O error)")
    monkeypatch.setattr(service.store, "search_messages", down)
    r = client.get(SEARCH)
    assert r.status_code == 503
    assert r.headers["retry-after"]
    assert r.json() == {"fieldErrors": {}, "generalErrors": [{
        "code": "[store_unavailable]",
        "message": "the store cannot answer right now (disk I/O error)"}]}


def test_internal_error_is_an_empty_500(service: Service,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("bug")
    with TestClient(create_app(service), raise_server_exceptions=False,
                    headers={"Authorization": ADMIN}) as client:
        monkeypatch.setattr(service.store, "search_messages", broken)
        r = client.get(SEARCH)
    assert (r.status_code, r.content) == (500, b"")
