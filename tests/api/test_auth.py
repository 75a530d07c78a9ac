"""Keys and scopes on every route."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from logcycle.keys import hash_key, new_key
from logcycle.service import Service
from tests.conftest import error_event

ROUTES = [
    ("POST", "/api/v1/events", "ingest"),
    ("GET", "/api/v1/events", "read"),
    ("GET", "/api/v1/events/1", "read"),
    ("GET", "/api/v1/requests/r", "read"),
    ("PUT", "/api/v1/entities/orders", "admin"),
    ("GET", "/api/v1/entities", "read"),
    ("POST", "/api/v1/records/orders", "ingest"),
    ("GET", "/api/v1/records/orders", "read"),
    ("GET", "/api/v1/status", "admin"),
]


def make_key(service: Service, scope: str) -> str:
    key = new_key()
    service.store.add_key(hash_key(service.secret, key), scope, None, None, 0)
    service.auth.reload()
    return key


def call(client: TestClient, method: str, path: str, key: str | None) -> int:
    headers = {"Authorization": key} if key is not None else {"Authorization": ""}
    body = [error_event()] if path == "/api/v1/events" else ({} if method == "PUT" else [{}])
    return client.request(method, path, json=body, headers=headers).status_code


@pytest.mark.parametrize(("method", "path", "needs"), ROUTES)
def test_scope_matrix(client: TestClient, service: Service, method: str, path: str,
                      needs: str) -> None:
    keys = {s: make_key(service, s) for s in ("ingest", "read", "admin")}
    revoked = make_key(service, "admin")
    rid = service.store.list_keys()[-1].id
    service.store.revoke_key(rid, 1)
    service.auth.reload()
    assert call(client, method, path, None) == 401
    assert call(client, method, path, "lc_wrong") == 401
    assert call(client, method, path, revoked) == 401
    for scope, key in keys.items():
        status = call(client, method, path, key)
        allowed = scope == "admin" or scope == needs
        assert (status != 403) == allowed, (scope, status)
        assert status != 401


def test_401_has_an_empty_body_and_bearer_is_optional(client: TestClient,
                                                      service: Service) -> None:
    r = client.get("/api/v1/events", headers={"Authorization": "nope"})
    assert r.status_code == 401 and r.content == b""
    key = make_key(service, "read")
    assert client.get("/api/v1/events", headers={"Authorization": key}).status_code == 200
    assert client.get("/api/v1/events",
                      headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_keys_are_stored_hashed(service: Service, client: TestClient) -> None:
    key = make_key(service, "read")
    _, rows = service.store.fetch("SELECT * FROM lc_keys", ())
    assert key not in repr(rows)
    path = getattr(service.store, "path", None)  # SQLite: not in the file either
    if path is not None:
        wal = path.with_name(path.name + "-wal")
        raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert key.encode() not in raw
    assert hash_key(service.secret, key) in {k.hash for k in service.store.list_keys()}


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/health", headers={"Authorization": ""}).json()["status"] == "ok"
