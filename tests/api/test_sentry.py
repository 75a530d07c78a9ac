"""The Sentry endpoints in process, on both stores: envelopes serialised by sentry-sdk's own
Envelope class, both payload framings, ignored item types, event_id as idempotency key,
the store endpoint, the key forms Sentry SDKs send, and bad input."""

from __future__ import annotations

import gzip
import uuid
import zlib
from typing import Any

import brotli
from sentry_sdk.envelope import Envelope, Item, PayloadRef
from starlette.testclient import TestClient

from logcycle.keys import hash_key, new_key
from logcycle.service import Service
from tests.conftest import T0

NO_AUTH = {"Authorization": ""}


def sentry_event(message: str = "disk full", **extra: Any) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "timestamp": (T0 - 1000) / 1000, "level": "error",
            "platform": "python", "message": message, **extra}


def envelope(*events: dict[str, Any], others: bool = True) -> bytes:
    env = Envelope(headers={"event_id": events[0]["event_id"]} if events else {})
    for ev in events:
        env.add_event(ev)
    if others:
        env.add_item(Item(payload=PayloadRef(json={"sid": "s1", "status": "ok"}),
                          type="session"))
        env.add_item(Item(payload=PayloadRef(bytes=b"raw\nbytes"), type="attachment",
                          headers={"filename": "a.txt"}))
    return env.serialize()


def ingest_key(service: Service) -> str:
    key = new_key()
    service.store.add_key(hash_key(service.secret, key), "ingest", None, None, 0)
    service.auth.reload()
    return key


def errors(client: TestClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get("/api/v1/events",
                                             params={"kind": "error"}).json()["events"]
    return found


def test_an_envelope_with_the_key_in_x_sentry_auth(client: TestClient, service: Service) -> None:
    key = ingest_key(service)
    ev = sentry_event(exception={"values": [
        {"type": "OSError", "value": "no space left", "stacktrace": {"frames": [
            {"filename": "app/store.py", "lineno": 12, "function": "save",
             "context_line": "    f.write(data)  "}]}}]},
        contexts={"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                            "span_id": "00f067aa0ba902b7"}},
        tags=[["region", "eu"]], transaction="/api/save", user={"username": "ada"})
    headers = {**NO_AUTH, "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}, "
                                           "sentry_client=sentry.python/2.0",
               "Content-Encoding": "gzip", "Content-Type": "application/x-sentry-envelope"}
    r = client.post("/api/7/envelope/", content=gzip.compress(envelope(ev)), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": ev["event_id"]}
    (stored,) = errors(client)
    assert stored["message"] == "OSError: no space left" and stored["module_name"] == "sentry-7"
    assert stored["detail"] == ('Traceback (most recent call last):\n'
                                '  File "app/store.py", line 12, in save\n'
                                '    f.write(data)\n'
                                'OSError: no space left')
    assert stored["instant"] == T0 - 1000
    assert stored["request_key"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert stored["entrypoint_name"] == "/api/save" and stored["username"] == "ada"
    assert stored["attributes"]["tags"] == {"region": "eu"}
    assert stored["attributes"]["span_id"] == "00f067aa0ba902b7"


def test_a_message_with_a_stack_keeps_it(client: TestClient) -> None:
    frames = {"frames": [{"filename": "jobs.py", "lineno": 40, "function": "run"},
                         {"module": "app.jobs", "lineno": 9, "function": "step",
                          "context_line": "log_slow()"}]}
    ev = sentry_event("job is slow", threads={"values": [
        {"id": 1, "current": False}, {"id": 2, "current": True, "stacktrace": frames}]})
    assert client.post("/api/1/store/", json=ev).status_code == 200
    (stored,) = errors(client)
    assert stored["detail"] == ('Stack (most recent call last):\n'
                                '  File "jobs.py", line 40, in run\n'
                                '  File "app.jobs", line 9, in step\n'
                                '    log_slow()')


def test_a_retried_event_is_stored_once(client: TestClient) -> None:
    ev = sentry_event()
    for _ in range(3):
        r = client.post("/api/1/envelope/", content=envelope(ev))
        assert r.status_code == 200 and r.json() == {"id": ev["event_id"]}
    dashed = {**ev, "event_id": str(uuid.UUID(ev["event_id"]))}  # the same id, as a UUID
    assert client.post("/api/1/store/", json=dashed).json() == {"id": ev["event_id"]}
    assert len(errors(client)) == 1


def test_other_item_types_are_accepted_and_ignored(client: TestClient) -> None:
    r = client.post("/api/1/envelope/", content=envelope(others=True))
    assert r.status_code == 200 and r.json() == {"id": None}
    tx = Envelope(headers={"event_id": uuid.uuid4().hex})
    tx.add_transaction({"type": "transaction", "transaction": "GET /", "spans": []})
    r = client.post("/api/1/envelope/", content=tx.serialize())
    assert r.status_code == 200 and r.json() == {"id": tx.headers["event_id"]}
    assert errors(client) == []


def test_items_without_length_are_newline_delimited(client: TestClient) -> None:
    eid = uuid.uuid4().hex
    body = (b'{"event_id":"%s"}\n{"type":"client_report"}\n{"discarded_events":[]}\n'
            b'{"type":"event"}\n{"message":{"formatted":"queue stalled"},"level":"fatal"}\n'
            % eid.encode())
    r = client.post("/api/3/envelope/", content=zlib.compress(body),
                    headers={"Content-Encoding": "deflate"})
    assert r.status_code == 200 and r.json() == {"id": eid}
    (stored,) = errors(client)
    assert stored["message"] == "queue stalled" and stored["attributes"]["level"] == "fatal"
    assert stored["attributes"]["event_id"] == eid


def test_the_store_endpoint_with_the_key_in_the_query(client: TestClient,
                                                      service: Service) -> None:
    key = ingest_key(service)
    ev = sentry_event(logentry={"message": "user %s locked out", "params": ["ada"],
                                "formatted": "user ada locked out"}, tags={"module_name": "auth"})
    r = client.post("/api/5/store/", json=ev, headers=NO_AUTH,
                    params={"sentry_key": key, "sentry_version": "7"})
    assert r.status_code == 200 and r.json() == {"id": ev["event_id"]}
    (stored,) = errors(client)
    assert stored["message"] == "user ada locked out" and stored["module_name"] == "auth"
    # The query form of the key is read on Sentry's routes only.
    r = client.get("/api/v1/events", headers=NO_AUTH, params={"sentry_key": key})
    assert r.status_code == 401


def test_bad_input_is_a_400_naming_it_and_stores_nothing(client: TestClient) -> None:
    long_id = sentry_event(server_name="s" * 5000)  # Sentry's own fields are cut, not refused
    cases = [
        (b"not json\n", "the envelope header is not valid JSON"),
        (b'{}\n{"length": 3}\nabc\n', "item 0 has no type"),
        (b'{}\n{"type": "event", "length": 999}\n{}\n', "length 999 does not fit"),
        (b'{}\n{"type": "event"}\n[1]\n', "the event of item 0 must be a JSON object"),
        (envelope(sentry_event(event_id="xyz")), "event_id must be 32 hex digits"),
        (envelope(sentry_event(timestamp="yesterday")), "timestamp must be RFC 3339"),
        (envelope(sentry_event(timestamp=(T0 + 5 * 86_400_000) / 1000)),
         "instant: more than 48 hours in the future"),
        (envelope(sentry_event(), sentry_event(timestamp=-5)), "instant"),
    ]
    for body, says in cases:
        r = client.post("/api/1/envelope/", content=body)
        assert r.status_code == 400, (body, r.text)
        assert says in r.json()["detail"], (says, r.json())
    assert errors(client) == []
    assert client.post("/api/1/store/", content=b"{").status_code == 400
    assert client.post("/api/1/envelope/", content=envelope(long_id)).status_code == 200
    assert len(errors(client)[0]["server"]) == 1024


def test_keys_and_scopes(client: TestClient, service: Service) -> None:
    body = envelope(sentry_event())
    r = client.post("/api/1/envelope/", content=body, headers=NO_AUTH)
    assert r.status_code == 401 and r.content == b""
    r = client.post("/api/1/envelope/", content=body,
                    headers={**NO_AUTH, "X-Sentry-Auth": "Sentry sentry_key=lc_wrong"})
    assert r.status_code == 401
    read = new_key()
    service.store.add_key(hash_key(service.secret, read), "read", None, None, 0)
    service.auth.reload()
    r = client.post("/api/1/envelope/", content=body,
                    headers={**NO_AUTH, "X-Sentry-Auth": f"Sentry sentry_key={read}"})
    assert r.status_code == 403 and "scope" in r.json()["detail"]
    assert errors(client) == []


def test_brotli_bodies_as_sentry_sdk_sends_them(client: TestClient) -> None:
    ev = sentry_event("compressed")
    br = {"Content-Encoding": "br"}
    data = brotli.compress(envelope(ev))
    assert client.post("/api/1/envelope/", content=data, headers=br).status_code == 200
    r = client.post("/api/1/envelope/", content=data[:-4], headers=br)
    assert r.status_code == 400 and "br body is" in r.json()["detail"]
    bomb = brotli.compress(b"{" + b" " * (9 * 1024 * 1024) + b"}", quality=1)
    r = client.post("/api/1/store/", content=bomb, headers=br)
    assert r.status_code == 413 and "larger than the limit" in r.json()["detail"]
    assert [e["message"] for e in errors(client)] == ["compressed"]


def test_overload_pauses_the_sdk(client: TestClient, service: Service) -> None:
    service.writer.max_pending = 0  # as if the queue were full
    r = client.post("/api/1/envelope/", content=envelope(sentry_event()))
    assert r.status_code == 503 and "retry" in r.json()["detail"]
    assert r.headers["X-Sentry-Rate-Limits"] == f"{r.headers['Retry-After']}::organization"
