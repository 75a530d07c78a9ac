"""/openapi.json documents every route of the app, and schemathesis finds the server true
to it: no server error, no answer outside the document."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.api.eventlog import MAX_JSON_BODY
from logcycle.api.openapi import OPERATIONS
from logcycle.clock import ManualClock
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, T0

AUTH = {"Authorization": f"Bearer {ADMIN}"}
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# A live tail never ends: documented, but not something to fuzz request by request.
NOT_FUZZED = ("/api/v1/tail",)
# Operations whose document says exactly which requests they accept, so that every request
# valid by the document must be answered 2xx: schemathesis' default checks, all of them.
# The event listings validate more than OpenAPI can say (per-kind event fields, the query
# language's grammar, start before end, q or message but not both), and so do records (each
# value against its entity's declared column type, integers within 64 bits at any depth):
# for them, the checks are no server error and answers exactly as documented.
STRICT = ("/api/system/event-log/search", "/api/system/event-log/{logId}",
          "/api/system/event-log", "/rpc", "/health", "/openapi.json",
          "/api/v1/events/{id}", "/api/v1/entities/{entity}")
# Operations that also get requests the document forbids, which must be rejected. (The
# search ignores unknown query parameters, as the original does, and an RPC frame answers
# 200 with a status per command, as the seed says: neither rejects a request whole.)
NEGATIVE = ("/api/system/event-log/{logId}", "/api/system/event-log", "/api/v1/events/{id}",
            "/api/v1/entities/{entity}")


def _openapi_path(path: str) -> str:
    return path.replace(":path}", "}").replace(":int}", "}").replace("{log_id}", "{logId}")


# The shippers' bodies (Elasticsearch bulk NDJSON, ...): generated as text, sent as bytes.
@schemathesis.serializer("application/x-ndjson", "application/x-protobuf",
                         "application/vnd.serilog.clef")
def _text_body(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(str(value), "utf-8")


def test_every_route_is_documented(client: TestClient) -> None:
    app: Starlette = client.app  # type: ignore[assignment]
    routed = {(m.lower(), _openapi_path(r.path)) for r in app.routes if isinstance(r, Route)
              for m in (r.methods or ()) if m != "HEAD"}
    documented = {(m, p) for m, p, _ in OPERATIONS}
    assert routed - documented == set(), "add these routes to OPERATIONS in api/openapi.py"
    assert documented - routed == set(), "OPERATIONS documents routes the app does not have"
    doc = client.get("/openapi.json", headers={"Authorization": ""}).json()
    assert doc["openapi"] == "3.1.0"
    assert sum(len(ops) for ops in doc["paths"].values()) == len(OPERATIONS)


def test_the_document_says_which_routes_need_a_key(client: TestClient) -> None:
    """An operation without ``security`` must answer without a key; every other one
    answers 401 without a key, and says so."""
    doc = client.get("/openapi.json", headers={"Authorization": ""}).json()
    wrong = []
    for route, ops in doc["paths"].items():
        for method, operation in ops.items():
            path = route.replace("{logId}", "1").replace("{id}", "1").replace("{project_id}", "1")
            path = re.sub(r"\{\w+\}", "x", path)
            r = client.request(method.upper(), path, headers={"Authorization": ""})
            needs_key = r.status_code == 401
            if needs_key != bool(operation["security"]) or \
                    needs_key != ("401" in operation["responses"]):
                wrong.append(f"{method.upper()} {route}: {r.status_code} without a key, "
                             f"security {operation['security']}")
    assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starlette]:
    data: Path = tmp_path_factory.mktemp("openapi") / "data"
    # Generated requests send wrong keys too: no failure throttle (tests/api/test_keys.py).
    service = Service(Settings(data=data, auth_failures=0), clock=ManualClock(T0),
                      bootstrap_key=ADMIN)
    app = create_app(service)
    with TestClient(app) as client:  # runs the lifespan: the writer thread is up
        client.post("/api/system/event-log", headers=AUTH,
                    json={"eventLog": {"message": "seeded", "type": "Error"}})
        client.post("/rpc", headers=AUTH, json={"v": 1, "src": "dev/1", "cmds": [
            {"cmd": "/v1/Log.Log", "id": 1, "args": {"msg": {"a": 1}}}]})
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: Starlette) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    return schema.exclude(path=list(NOT_FUZZED))


def _runner(strategy: Any, excluded: list[Any]) -> Any:
    @given(case=strategy)
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=AUTH)
        sent = response.request.body or b""
        if response.status_code == 413 and len(sent) > MAX_JSON_BODY:
            return  # a generated body beyond the route's size limit: 413 comes first
        case.validate_response(response, headers=AUTH, excluded_checks=excluded)
    return run


def test_the_server_is_true_to_its_document(api_schema: Any) -> None:
    """Each operation with generated requests (schemathesis' default checks: no 5xx,
    documented statuses, content types, headers and bodies)."""
    failures: list[str] = []
    for result, mode in itertools.product(api_schema.get_all_operations(), MODES):
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.path not in NEGATIVE:
            continue

        excluded = [] if operation.path in STRICT else [positive_data_acceptance,
                                                        negative_data_rejection]
        run = _runner(operation.as_strategy(generation_mode=mode), excluded)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures
            failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
