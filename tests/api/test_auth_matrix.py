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
from typing import Any

from starlette.routing import Route
from starlette.testclient import TestClient

from logcycle.keys import hash_key, new_key
from logcycle.service import Service

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
}
SAMPLES = {"id": "1", "log_id": "1", "request_key": "req-1", "entity": "orders",
           "name": "app.js", "fingerprint": "0123456789abcdef"}
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
