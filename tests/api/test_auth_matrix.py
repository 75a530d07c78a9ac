"""Every route of the app x every kind of caller: no key, a wrong key, a revoked key, and
keys of each scope. The routes come from ``app.routes``, so a new route is covered the
day it is added: it fails here until ``NEEDS`` says what it needs.

Expected: without a valid key, 401 with an empty body (public routes excepted); with a
key whose scope does not allow the route, 403 with an error body; otherwise neither. Each
request carries an unknown query parameter, so that an allowed call is usually answered
400 at once (no stream is opened) and a route that validated its input before checking
the key would answer 400 instead of 401 here.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from logcycle.api import tail
from logcycle.keys import hash_key, new_key
from logcycle.service import Service
from tests.conftest import T0

# (method, route path) → "public", "any key", or the scope the route needs. HEAD is GET.
NEEDS: dict[tuple[str, str], str] = {
    ("GET", "/health"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/"): "public",
    ("GET", "/static/{name}"): "public",
    ("GET", "/api/v1/whoami"): "any key",
    ("POST", "/rpc"): "any key",  # each command checks its own scope (RPC_EXPECTED)
    ("GET", "/api/v1/status"): "admin",
    ("PUT", "/api/v1/entities/{entity}"): "admin",
    ("POST", "/api/v1/events"): "ingest",
    ("POST", "/api/v1/records/{entity}"): "ingest",
    ("POST", "/api/system/event-log"): "ingest",
    ("GET", "/api/v1/events"): "read",
    ("GET", "/api/v1/events/{id}"): "read",
    ("GET", "/api/v1/requests/{request_key:path}"): "read",
    ("GET", "/api/v1/entities"): "read",
    ("GET", "/api/v1/records/{entity}"): "read",
    ("GET", "/api/v1/histogram"): "read",
    ("GET", "/api/v1/stats"): "read",
    ("GET", "/api/v1/tail"): "read",
    ("GET", "/api/system/event-log/search"): "read",
    ("POST", "/api/system/event-log/search"): "read",
    ("GET", "/api/system/event-log/{log_id}"): "read",
    ("GET", "/api/v1/errors"): "read",
    ("PATCH", "/api/v1/errors/{fingerprint}"): "read",
    ("GET", "/api/v1/alerts"): "admin",
    ("POST", "/api/v1/alerts"): "admin",
    ("GET", "/api/v1/alerts/{id}"): "admin",
    ("PUT", "/api/v1/alerts/{id}"): "admin",
    ("DELETE", "/api/v1/alerts/{id}"): "admin",
    ("GET", "/es"): "any key",
    ("GET", "/es/"): "any key",
    ("POST", "/es/_bulk"): "ingest",
    ("PUT", "/es/_bulk"): "ingest",
    ("POST", "/es/{index}/_bulk"): "ingest",
    ("PUT", "/es/{index}/_bulk"): "ingest",
    ("GET", "/es/{probe:path}"): "any key",
    ("PUT", "/es/{probe:path}"): "any key",
    ("POST", "/loki/api/v1/push"): "ingest",
    ("POST", "/api/events/raw"): "ingest",
    ("POST", "/ingest/clef"): "ingest",
    ("POST", "/v1/logs"): "ingest",
    ("POST", "/api/{project_id:int}/envelope/"): "ingest",
    ("POST", "/api/{project_id:int}/store/"): "ingest",
}
SAMPLES = {"id": "1", "log_id": "1", "request_key": "req-1", "entity": "orders",
           "name": "app.js", "project_id": "1", "fingerprint": "0123456789abcdef"}
BODIES: dict[str, Any] = {
    "/api/v1/events": [{"kind": "general", "instant": 0, "message": "m"}],
    "/api/system/event-log": {"eventLog": {"message": "m", "type": "Information"}},
    "/api/system/event-log/search": {"search": {}},
    "/rpc": {"v": 1, "src": "dev-1", "cmds": [
        {"cmd": "/v1/Log.Log", "id": 1, "args": {"msg": "hello"}},
        {"cmd": "/v1/Log.List", "id": 2, "args": {"src": "dev-1"}}]},
}
# /rpc answers 200 to any valid key; the statuses of its two commands (Log.Log, Log.List):
RPC_EXPECTED = {"ingest": [0, 403], "read": [403, 0], "admin": [0, 0]}
CALLERS = ("no key", "wrong key", "revoked key", "ingest", "read", "admin")


def make_key(service: Service, scope: str) -> tuple[str, int]:
    key = new_key()
    key_id = service.store.add_key(hash_key(service.secret, key), scope, None, None, 0)
    return key, key_id


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLES.get(m.group(1), "x"), path)


def check(client: TestClient, method: str, route: Route, caller: str, key: str | None) -> \
        str | None:
    """What is wrong with this call (None: as expected)."""
    needs = NEEDS.get(("GET" if method == "HEAD" else method, route.path))
    if needs is None:
        return f"{method} {route.path}: not in NEEDS; add what it needs (a scope, 'any key' " \
               "or 'public')"
    path = concrete(route.path)
    body = BODIES.get(route.path, [{}] if method == "POST" else {}) \
        if method in ("POST", "PUT") else None
    headers = {"Authorization": key or ""}
    r = client.request(method, path, params={"lc_probe": "1"}, json=body, headers=headers)
    where = f"{method} {route.path} with {caller}: {r.status_code}"
    if needs == "public":
        return None if r.status_code < 500 and r.status_code not in (401, 403) else where
    if caller in ("no key", "wrong key", "revoked key"):
        return None if r.status_code == 401 and r.content == b"" else where + " (want 401, empty)"
    if needs == "any key" or caller == "admin" or caller == needs:
        if r.status_code in (401, 403) or r.status_code >= 500:
            return where + " (want it allowed)"
        if route.path == "/rpc":
            statuses = [c["status"] for c in r.json()["resp"]]
            if statuses != RPC_EXPECTED[caller]:
                return f"{where}: command statuses {statuses}, want {RPC_EXPECTED[caller]}"
        return None
    if r.status_code != 403:
        return where + " (want 403)"
    if method != "HEAD" and b"scope" not in r.content:
        return where + f": the 403 does not say why: {r.content[:200]!r}"
    return None


def test_every_route_for_every_caller(client: TestClient, service: Service) -> None:
    keys: dict[str, str | None] = {"no key": None, "wrong key": "lc_not-a-key"}
    for scope in ("ingest", "read", "admin"):
        keys[scope] = make_key(service, scope)[0]
    keys["revoked key"], revoked_id = make_key(service, "admin")
    service.store.revoke_key(revoked_id, 1)
    service.auth.reload()
    client.put("/api/v1/entities/orders", json={})
    routes = [r for r in client.app.routes]  # type: ignore[attr-defined]
    assert all(isinstance(r, Route) for r in routes), "a Mount or other route type: cover it"
    problems = [p for route in routes for method in sorted(route.methods or ())
                for caller in CALLERS
                if (p := check(client, method, route, caller, keys[caller])) is not None]
    assert not problems, "\n".join(dict.fromkeys(problems))
    declared = {(m, r.path) for r in routes for m in (r.methods or ()) if m != "HEAD"}
    assert set(NEEDS) <= declared, f"NEEDS lists routes the app lacks: {set(NEEDS) - declared}"


# -- keys limited to a source prefix (``keys create --src-prefix``) --------------------------
# Seeded by the admin key: the prefix key's own source, and everything it must never see
# (other sources, sources that match its prefix only ignoring case or only in part, other
# kinds, an inline error, a record). Every secret carries SECRET in its text.
PREFIX = "dev/"
VISIBLE = [{"kind": "general", "instant": 0, "message": "dev-visible one", "src": "dev/app",
            "stream": "console", "message_type": "Error", "request_key": "req-1",
            "module_name": "shop"},
           {"kind": "general", "instant": 0, "message": "dev-visible two", "src": "dev/job",
            "message_type": "Information", "request_key": "req-1"}]
HIDDEN = [{"kind": "general", "instant": 0, "message": "SECRET prod", "src": "prod/secret",
           "stream": "console", "message_type": "Error", "request_key": "req-1",
           "module_name": "shop",
           "error": {"message": "SECRET inline error", "module_name": "shop"}},
          {"kind": "general", "instant": 0, "message": "SECRET upper", "src": "DEV/app",
           "message_type": "Error", "request_key": "req-1"},
          {"kind": "general", "instant": 0, "message": "SECRET short", "src": "dev",
           "message_type": "Information"},
          {"kind": "general", "instant": 0, "message": "SECRET no source",
           "message_type": "Debug", "request_key": "req-1"},
          {"kind": "error", "instant": 0, "message": "SECRET error", "module_name": "shop",
           "request_key": "req-1"},
          {"kind": "screen", "instant": 0, "duration_ms": 1, "screen": "SECRET screen",
           "request_key": "req-1"}]
FILTER_PROBES = [{}, {"src": "prod/secret"}, {"q": "SECRET"}, {"message": "*SECRET*"},
                 {"kind": "error"}, {"kind": "screen,error"}, {"request_key": "req-1"},
                 {"type": "Error"}, {"module": "shop"}, {"stream": "console"},
                 {"query": "src:prod/secret"}, {"query": "src:dev* OR src:prod*"},
                 {"query": "SECRET OR kind:error OR kind:screen"},
                 {"query": "message:*SECRET* OR message_type:Error"}]
SEARCHES = [{}, {"message": "*SECRET*"}, {"message": "SECRET"}, {"type": "Error"},
            {"orderBy": "message ASC"}, {"numberOfResults": 1000}]
# Probes: (openapi method, openapi path) → requests (path, query, JSON body) a prefix key
# sends; "own" marks routes where it must also see its own events (so the probe can fail).
Probe = tuple[str, dict[str, Any], Any]


class Raw(NamedTuple):
    """A probe body sent as it is (the protocols' own formats), not as JSON."""

    content: bytes
    content_type: str


_EID = "0123456789abcdef0123456789abcdef"
_BULK = Raw(b'{"create":{}}\n{"message":"SECRET es","host.name":"prod/secret"}\n'
            b'{"create":{}}\n{"message":"SECRET es no host"}\n', "application/x-ndjson")
_CLEF = Raw(b'{"@t":"2026-11-23T15:00:00Z","@m":"SECRET clef"}\n',
            "application/vnd.serilog.clef")
_OTLP = {"resourceLogs": [{"resource": {"attributes": []}, "scopeLogs": [{"logRecords": [
    {"timeUnixNano": str(T0 * 1_000_000), "body": {"stringValue": "SECRET otlp"}}]}]}]}
_LOKI = {"streams": [{"stream": {"job": "SECRET"},
                      "values": [[str(T0 * 1_000_000), "SECRET loki"]]}]}
_ENVELOPE = Raw(f'{{"event_id":"{_EID}"}}\n{{"type":"event"}}\n'
                '{"message":"SECRET sentry","level":"error"}\n'.encode(),
                "application/x-sentry-envelope")


def protocol_probes() -> dict[tuple[str, str], list[Probe]]:
    """The protocol adapters' routes: reads of Elasticsearch's start-up documents, and writes
    of events that a prefix key may not write (refused whole, nothing stored)."""
    bulk = {(m, p): [(p.replace("{index}", "logs"), {}, _BULK)]
            for p in ("/es/_bulk", "/es/{index}/_bulk") for m in ("post", "put")}
    return {
        ("get", "/es"): [("/es", {}, None)], ("get", "/es/"): [("/es/", {}, None)],
        ("get", "/es/{probe}"): [("/es/_license", {}, None), ("/es/_nodes", {}, None)],
        ("put", "/es/{probe}"): [("/es/_index_template/logs", {}, {})],
        **bulk,
        ("post", "/loki/api/v1/push"): [("/loki/api/v1/push", {}, _LOKI)],
        ("post", "/api/events/raw"): [("/api/events/raw", {"clef": ""}, _CLEF),
                                      ("/api/events/raw", {}, {"Events": [
                                          {"Timestamp": "2026-11-23T15:00:00Z",
                                           "MessageTemplate": "SECRET seq"}]})],
        ("post", "/ingest/clef"): [("/ingest/clef", {}, _CLEF)],
        ("post", "/v1/logs"): [("/v1/logs", {}, _OTLP)],
        ("post", "/api/{project_id}/envelope/"): [("/api/1/envelope/", {}, _ENVELOPE)],
        ("post", "/api/{project_id}/store/"): [("/api/1/store/", {}, {
            "event_id": _EID, "message": "SECRET sentry store", "level": "error"})],
    }


def prefix_probes(ids: list[int]) -> dict[tuple[str, str], list[Probe]]:
    by_id = [(f"/api/v1/events/{i}", {}, None) for i in ids]
    logs = [(f"/api/system/event-log/{i}", {}, None) for i in ids]
    span = {"start": str(T0 - 60_000), "end": str(T0 + 60_000)}
    rpc = {"v": 1, "src": "dev/app", "cmds": [
        {"cmd": "/v1/Log.List", "id": i, "args": {"src": s}} for i, s in enumerate(
            ("dev/app", "dev/job", "prod/secret", "DEV/app", "dev"))]}
    return {
        ("get", "/api/v1/events"): [("/api/v1/events", p, None) for p in FILTER_PROBES],
        ("get", "/api/v1/events/{id}"): by_id,
        ("get", "/api/v1/requests/{request_key}"): [("/api/v1/requests/req-1", {}, None)],
        ("get", "/api/v1/histogram"): [("/api/v1/histogram", {**p, **span}, None)
                                      for p in FILTER_PROBES],
        ("get", "/api/v1/stats"): [("/api/v1/stats", {**p, **span}, None) for p in (
            {"by": "kind"}, {"by": "src"}, {"by": "kind,src", "query": "src:prod* OR kind:error"},
            {"by": "message"}, {"by": "src", "metrics": "count,error_rate"})],
        ("get", "/api/v1/tail"): [("/api/v1/tail", {**p, "after_id": "0"}, None)
                                 for p in FILTER_PROBES if "q" not in p],
        ("get", "/api/v1/entities"): [("/api/v1/entities", {}, None)],
        ("get", "/api/v1/records/{entity}"): [("/api/v1/records/orders", {}, None)],
        ("get", "/api/system/event-log/search"): [("/api/system/event-log/search", s, None)
                                                 for s in SEARCHES],
        ("post", "/api/system/event-log/search"): [("/api/system/event-log/search", {},
                                                   {"search": s}) for s in SEARCHES],
        ("get", "/api/system/event-log/{logId}"): logs,
        ("get", "/api/v1/status"): [("/api/v1/status", {}, None)],
        ("get", "/api/v1/whoami"): [("/api/v1/whoami", {}, None)],
        ("post", "/rpc"): [("/rpc", {}, rpc)],
        # Writes: what a prefix key may not write is refused (403) and stores nothing.
        ("post", "/api/v1/events"): [("/api/v1/events", {}, [e]) for e in HIDDEN],
        ("post", "/api/v1/records/{entity}"): [("/api/v1/records/orders", {},
                                                {"note": "SECRET record"})],
        ("put", "/api/v1/entities/{entity}"): [("/api/v1/entities/orders", {}, {})],
        ("post", "/api/system/event-log"): [("/api/system/event-log", {}, {"eventLog": {
            "message": "SECRET created", "type": "Error"}})],
        **protocol_probes(),
        # Store-wide data without a source (error groups, alert rules): refused (403).
        ("get", "/api/v1/errors"): [("/api/v1/errors", {}, None),
                                    ("/api/v1/errors", {"query": "SECRET"}, None)],
        ("patch", "/api/v1/errors/{fingerprint}"): [("/api/v1/errors/0123456789abcdef", {},
                                                     {"status": "ignored"})],
        ("get", "/api/v1/alerts"): [("/api/v1/alerts", {}, None)],
        ("post", "/api/v1/alerts"): [("/api/v1/alerts", {}, {
            "name": "SECRET rule", "query": "kind:error",
            "condition": {"type": "count", "above": 1, "window_s": 60}})],
        ("get", "/api/v1/alerts/{id}"): [("/api/v1/alerts/1", {}, None)],
        ("put", "/api/v1/alerts/{id}"): [("/api/v1/alerts/1", {}, {
            "name": "SECRET rule", "query": "kind:error",
            "condition": {"type": "count", "above": 1, "window_s": 60}})],
        ("delete", "/api/v1/alerts/{id}"): [("/api/v1/alerts/1", {}, None)],
    }


# The answers that show the key's own events (at least one probe of each must).
SHOWS_OWN = {("get", "/api/v1/events"), ("get", "/api/v1/events/{id}"),
             ("get", "/api/v1/requests/{request_key}"), ("get", "/api/v1/tail"),
             ("get", "/api/system/event-log/search"), ("post", "/api/system/event-log/search"),
             ("get", "/api/system/event-log/{logId}"), ("post", "/rpc")}


def seed_two_sources(client: TestClient) -> tuple[list[int], list[int]]:
    def post(events: list[dict[str, Any]]) -> list[int]:
        r = client.post("/api/v1/events", json=[{**e, "instant": T0} for e in events])
        assert r.status_code == 200, r.text
        ids: list[int] = r.json()["ids"]
        return ids
    assert client.put("/api/v1/entities/orders", json={}).status_code == 200
    assert client.post("/api/v1/records/orders", json={"note": "SECRET seeded"}).status_code \
        == 200
    visible, hidden = post(VISIBLE), post(HIDDEN)
    top = max(hidden)
    return visible, [*hidden, top + 1]  # + the inline error's id


def prefix_problems(client: TestClient, key: str, scope: str, visible: list[int],
                    hidden: list[int]) -> list[str]:
    doc = client.get("/openapi.json").json()
    probes = prefix_probes(visible + hidden)
    problems: list[str] = []
    for route, ops in doc["paths"].items():
        for method, operation in ops.items():
            if not operation["security"]:
                continue  # public: no events
            todo = probes.get((method, route))
            if todo is None:
                problems.append(f"{method.upper()} {route}: no prefix probes; add them to "
                                "prefix_probes")
                continue
            own = False
            for path, params, body in todo:
                headers = {"Authorization": key}
                if isinstance(body, Raw):
                    r = client.request(method.upper(), path, params=params, content=body.content,
                                       headers={**headers, "Content-Type": body.content_type})
                else:
                    r = client.request(method.upper(), path, params=params, json=body,
                                       headers=headers)
                where = f"{scope} prefix key: {method.upper()} {path} {params or body}"
                if b"SECRET" in r.content:
                    problems.append(f"{where}: leaked {r.content[:300]!r}")
                if r.status_code >= 500 or r.status_code == 401:
                    problems.append(f"{where}: {r.status_code}")
                own = own or b"dev-visible" in r.content
                problems += expectations(method, route, path, r, where, visible, hidden)
            if (method, route) in SHOWS_OWN and not own and scope != "ingest":
                problems.append(f"{method.upper()} {route}: the {scope} prefix key never saw "
                                "its own events")
    return problems


def expectations(method: str, route: str, path: str, r: Any, where: str, visible: list[int],
                 hidden: list[int]) -> list[str]:
    """Route-specific promises beyond "no SECRET in the answer"."""
    status = r.status_code
    if status == 403:
        return []  # a scope that does not allow the route at all
    last = path.rsplit("/", 1)[-1]
    if route.endswith("{id}") or route.endswith("{logId}"):
        want = 404 if int(last) in hidden else 200
        if status != want:
            return [f"{where}: {status}, want {want} (out of scope is as absent as missing)"]
    if route == "/api/v1/histogram" and status == 200:
        kinds = r.json()["kinds"]
        if set(kinds) - {"general"} or r.json()["total"] > len(visible):
            return [f"{where}: counted other events: {r.json()['kinds']}"]
    if route == "/api/v1/stats" and status == 200:
        rows = r.json()["rows"]
        if any(row.get("kind", "general") != "general" or
               not str(row.get("src", "dev/")).startswith("dev/") for row in rows):
            return [f"{where}: counted other events: {rows}"]
    if route == "/rpc":
        statuses = [c["status"] for c in r.json()["resp"]]
        if statuses[2:] != [403, 403, 403]:
            return [f"{where}: Log.List of other sources answered {statuses}"]
    refused = ("/api/v1/entities", "/api/v1/records/{entity}", "/api/v1/entities/{entity}",
               "/api/v1/status", "/api/system/event-log", "/api/v1/errors",
               "/api/v1/errors/{fingerprint}", "/api/v1/alerts", "/api/v1/alerts/{id}")
    writes = ("/api/v1/events", *(r for m, r in protocol_probes() if m != "get"))
    must_refuse = (method != "get" and route in writes
                   and route != "/es/{probe}") or route in refused
    return [f"{where}: {status}, want 403"] if must_refuse and status != 403 else []


@pytest.mark.parametrize("scope", ["read", "admin", "ingest"])
def test_prefix_keys_see_and_write_only_their_sources(client: TestClient, service: Service,
                                                       scope: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tail, "LIFETIME_S", 0.05)  # each tail answers its backlog, then ends
    visible, hidden = seed_two_sources(client)
    key = new_key()
    service.store.add_key(hash_key(service.secret, key), scope, None, PREFIX, 0)
    service.auth.reload()
    problems = prefix_problems(client, key, scope, visible, hidden)
    assert not problems, "\n".join(problems)
    everything = client.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    assert len(everything) == len(visible) + len(hidden), "a refused write stored something"
