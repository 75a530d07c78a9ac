"""Attribute names with dots (OpenTelemetry's ``service.version``, ``http.status_code``,
stored as flat keys) in the query language: a key in double quotes, on SQLite (with and
without the attribute index) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from logcycle.cycles import CYCLES
from logcycle.ingest.tasks import Reindex
from logcycle.query import lang
from logcycle.query.compile import to_sql
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store import sqlite_fields
from logcycle.store.schema import POSTGRES, SQLITE
from tests.conftest import T0


@pytest.fixture(params=["", "service.version"], ids=["no-index", "indexed"])
def settings(tmp_path: Path, store_url: str, request: pytest.FixtureRequest) -> Settings:
    return Settings(data=tmp_path / "data", store=store_url, auth_failures=10_000,
                    index_attributes=request.param)


def otlp_json(version: str, status: int, body: str, t_ns: int) -> dict[str, Any]:
    """An OTLP JSON export: attributes as OpenTelemetry writes them (flat dotted names)."""
    def kv(k: str, v: dict[str, Any]) -> dict[str, Any]:
        return {"key": k, "value": v}
    return {"resourceLogs": [{
        "resource": {"attributes": [kv("service.name", {"stringValue": "shop"}),
                                    kv("service.version", {"stringValue": version})]},
        "scopeLogs": [{"scope": {"name": "app"}, "logRecords": [{
            "timeUnixNano": str(t_ns), "severityNumber": 9, "body": {"stringValue": body},
            "attributes": [kv("http.status_code", {"intValue": str(status)})]}]}]}]}


@pytest.fixture
def loaded(client: TestClient, service: Service) -> TestClient:
    for version, status, body, i in (("1.2", 503, "otel one", 0), ("1.3", 200, "otel two", 1)):
        r = client.post("/v1/logs", json=otlp_json(version, status, body, (T0 + i) * 10**6))
        assert r.status_code == 200, r.text
    r = client.post("/api/v1/events", json=[
        {"kind": "general", "instant": T0 + 2, "message": "nested",
         "attributes": {"service": {"version": "1.2"}}},
        {"kind": "general", "instant": T0 + 3, "message": "under a dotted key",
         "attributes": {"k8s.pod": {"name": "web-1"}}}])
    assert r.status_code == 200, r.text
    if service.store.dialect.name == "sqlite":  # the attribute index caught up (if any)
        service.writer.submit_wait(Reindex())
        if service.settings.index_attributes:
            _, rows = service.store.fetch(" UNION ALL ".join(
                f"SELECT k, v FROM {sqlite_fields.table(c)}" for c in range(CYCLES)), ())
            assert sorted(rows) == [("service.version", "1.2"), ("service.version", "1.3")]
    return client


def messages(client: TestClient, query: str) -> list[str]:
    r = client.get("/api/v1/events", params={"query": query, "limit": 100})
    assert r.status_code == 200, r.text
    return sorted(e["message"] for e in r.json()["events"])


CASES = [
    ('attributes."service.version":1.2', ["otel one"]),
    ('attributes."service.version":"1.3"', ["otel two"]),
    ("attributes.service.version:1.2", ["nested"]),  # a path through nested objects
    ('attributes."service.version":1.*', ["otel one", "otel two"]),
    ('attributes."service.version":*', ["otel one", "otel two"]),
    ('attributes."http.status_code":>=500', ["otel one"]),
    ('attributes."http.status_code":(200 OR 503)', ["otel one", "otel two"]),
    ('-attributes."service.version":1.2 kind:general', ["nested", "otel two",
                                                       "under a dotted key"]),
    ('attributes."k8s.pod".name:web-1', ["under a dotted key"]),
    ('attributes."service.version":in(1.2, 1.3) otel', ["otel one", "otel two"]),
]


@pytest.mark.parametrize(("query", "want"), CASES)
def test_quoted_keys(loaded: TestClient, query: str, want: list[str]) -> None:
    assert messages(loaded, query) == want


def test_otlp_stores_dotted_names_flat(loaded: TestClient) -> None:
    r = loaded.get("/api/v1/events", params={"query": 'attributes."service.version":1.2'})
    (event,) = r.json()["events"]
    assert event["module_name"] == "shop"
    assert event["attributes"]["service.version"] == "1.2"
    assert event["attributes"]["http.status_code"] == 503


@pytest.mark.parametrize("query", ['attributes."service.version:1', 'attributes."":1',
                                   'attributes."a"b:1', 'attributes.a..b:1', 'x."a.b":1'])
def test_malformed_quoted_keys_are_400(client: TestClient, query: str) -> None:
    r = client.get("/api/v1/events", params={"query": query})
    assert r.status_code == 400, (query, r.text)
    assert r.json()["error"]["code"] == "invalid_query"
    message = r.json()["error"]["message"]
    if query.startswith("attributes") and "service" not in query:  # the path is read
        assert 'a key with dots in double quotes: attributes.user.id, ' \
            'attributes."service.version"' in message, message
    else:
        assert "unclosed quote" in message or "unknown field" in message, message


def test_the_key_is_one_json_path_segment_bound_as_a_parameter() -> None:
    expr = lang.parse('attributes."service.version":1.2').expr
    sqlite = to_sql(expr, "general", SQLITE)
    assert not isinstance(sqlite, bool)
    assert "service" not in sqlite.text and '$."service.version"' in sqlite.params
    pg = to_sql(expr, "general", POSTGRES)
    assert not isinstance(pg, bool)
    assert "service" not in pg.text and ["service.version"] in pg.params
    asked: list[tuple[str, str]] = []
    to_sql(expr, "general", SQLITE, index=lambda k, v: asked.append((k, v)) or None)
    assert asked == [("service.version", "1.2")]  # the attribute index's key
