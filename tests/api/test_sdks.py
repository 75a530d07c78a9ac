"""The real SDKs against the real server (uvicorn on a free port, both stores): the
OpenTelemetry SDK with its OTLP/HTTP exporter through the ``logging`` bridge
(opentelemetry-instrumentation-logging's handler, which replaces the SDK's own), and
sentry-sdk (capture_exception, capture_message, an unhandled exception in a small WSGI
app). What they sent is read back through /api/v1/events, the request tree and the Event
Log API."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
import sentry_sdk
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

from logcycle.service import Service
from logcycle.settings import Settings
from tests.api.live import LiveServer
from tests.conftest import ADMIN

READ = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    service = Service(settings, bootstrap_key=ADMIN)  # the real clock, as the SDKs have
    with LiveServer(service) as server:
        yield server


def get(live: LiveServer, path: str, **params: Any) -> Any:
    r = httpx.get(live.url + path, params=params, headers=READ, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


class OtelApp:
    """An application instrumented with the OpenTelemetry SDK: its ``logging`` records go
    through the bridge (LoggingHandler) to the OTLP/HTTP exporter."""

    def __init__(self, live: LiveServer, service: str, **exporter: Any) -> None:
        self.provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        key = live.key("ingest")
        self.provider.add_log_record_processor(BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{live.url}/v1/logs",
                            headers={"Authorization": f"Bearer {key}"}, **exporter),
            schedule_delay_millis=50))
        self.log = logging.getLogger(f"otel-app.{uuid.uuid4().hex}")
        self.log.setLevel(logging.DEBUG)
        self.log.propagate = False
        self.handler = LoggingHandler(logger_provider=self.provider)
        self.log.addHandler(self.handler)
        self.tracer = TracerProvider().get_tracer("otel-app")

    def close(self) -> None:
        assert self.provider.force_flush(20_000)
        self.log.removeHandler(self.handler)
        self.provider.shutdown()


def test_opentelemetry_logging_bridge(live: LiveServer) -> None:
    app = OtelApp(live, "checkout", compression=Compression.Gzip)
    with app.tracer.start_as_current_span("POST /checkout") as span:
        trace = format(span.get_span_context().trace_id, "032x")
        app.log.info("cart loaded with %d items", 3, extra={"cart.items": 3})
        app.log.warning("payment is slow")
        try:
            raise ValueError("card declined")
        except ValueError:
            app.log.exception("payment failed")
    app.log.debug("outside any trace")
    app.close()

    listed = get(live, "/api/v1/events", request_key=trace)["events"]
    assert [(e["kind"], e["message"]) for e in reversed(listed)] == [
        ("general", "cart loaded with 3 items"), ("general", "payment is slow"),
        ("error", "payment failed")]
    info, warning, error = reversed(listed)
    assert info["module_name"] == "checkout" and info["message_type"] == "Information"
    assert info["attributes"]["cart.items"] == 3
    assert info["attributes"]["otel.scope.name"] == app.log.name
    assert info["attributes"]["telemetry.sdk.language"] == "python"
    assert warning["message_type"] == "Information"
    assert warning["attributes"]["level"] == "WARN"
    assert "Traceback (most recent call last)" in error["detail"]
    assert error["detail"].rstrip().endswith("ValueError: card declined")
    assert error["attributes"]["exception.type"] == "ValueError"
    assert len(error["attributes"]["span_id"]) == 16
    tree = get(live, f"/api/v1/requests/{trace}")
    assert [e["message"] for e in tree["drill"]] == [e["message"] for e in reversed(listed)]
    (debug,) = get(live, "/api/v1/events", q="outside any trace")["events"]
    assert debug["message_type"] == "Debug" and "request_key" not in debug
    found = get(live, "/api/system/event-log/search", message="cart loaded*")["eventLogs"]
    assert [(e["message"], e["type"]) for e in found] == [
        ("cart loaded with 3 items", "Information")]


def test_the_exporter_retries_a_503_and_nothing_is_lost(live: LiveServer) -> None:
    app = OtelApp(live, "busy")
    writer = live.service.writer
    full, writer.max_pending = writer.max_pending, 0  # as if the queue were full

    def drained() -> None:
        writer.max_pending = full

    timer = threading.Timer(0.5, drained)
    timer.start()
    app.log.info("sent while the server was overloaded")
    app.close()
    timer.join()
    statuses = [s for p, s in live.app.statuses if p == "/v1/logs"]
    assert statuses[0] == 503 and statuses[-1] == 200, statuses
    (ev,) = get(live, "/api/v1/events", module="busy")["events"]
    assert ev["message"] == "sent while the server was overloaded"


@pytest.fixture
def sentry(live: LiveServer) -> Iterator[str]:
    """sentry-sdk initialised with a DSN pointing at the server (project 42); the DSN's
    key is an ingest key, exactly as a user would paste it."""
    dsn = f"http://{live.key('ingest')}@127.0.0.1:{live.port}/42"
    sentry_sdk.init(dsn=dsn, release="shop@1.2.0", environment="test", server_name="web-1",
                    traces_sample_rate=1.0, default_integrations=False,
                    auto_enabling_integrations=False)
    yield dsn
    sentry_sdk.flush(10)
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: a client that sends nothing


def lookup_sku(sku: str) -> None:
    raise KeyError(sku)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] == "/checkout":
        raise RuntimeError("checkout crashed")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_sentry_sdk_errors(live: LiveServer, sentry: str) -> None:
    sentry_sdk.set_tag("region", "eu")
    sentry_sdk.set_user({"id": "u7", "email": "ada@example.com"})
    try:
        try:
            lookup_sku("sku-9")
        except KeyError as exc:
            raise ValueError("no such product") from exc
    except ValueError:
        captured = sentry_sdk.capture_exception()
    sentry_sdk.capture_message("stock is low", level="warning")
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/checkout"
    with pytest.raises(RuntimeError):
        SentryWsgiMiddleware(wsgi_app)(environ, lambda *a: None)
    with sentry_sdk.start_transaction(name="a transaction: accepted and ignored"):
        pass
    assert sentry_sdk.flush(10) is None

    errors = get(live, "/api/v1/events", kind="error", module="sentry-42")["events"]
    by_message = {e["message"]: e for e in errors}
    assert set(by_message) == {"ValueError: no such product", "stock is low",
                               "RuntimeError: checkout crashed"}
    chained = by_message["ValueError: no such product"]
    assert chained["attributes"]["event_id"] == captured
    assert 'in lookup_sku\n    raise KeyError(sku)' in chained["detail"]
    assert "KeyError: 'sku-9'" in chained["detail"]
    assert chained["detail"].endswith("ValueError: no such product")
    assert chained["server"] == "web-1" and chained["user_id"] == "u7"
    attrs = chained["attributes"]
    assert (attrs["level"], attrs["release"], attrs["environment"], attrs["project_id"]) == (
        "error", "shop@1.2.0", "test", "42")
    assert attrs["tags"] == {"region": "eu"} and attrs["user"] == {"email": "ada@example.com"}
    assert len(chained["request_key"]) == 32  # the trace id
    assert by_message["stock is low"]["attributes"]["level"] == "warning"
    crashed = by_message["RuntimeError: checkout crashed"]
    assert crashed["attributes"]["request"] == {"url": "http://127.0.0.1/checkout",
                                                "method": "GET"}
    assert 'raise RuntimeError("checkout crashed")' in crashed["detail"]
    assert ("/api/42/envelope/", 200) in live.app.statuses


def test_one_trace_across_both_sdks_is_one_request(live: LiveServer, sentry: str) -> None:
    app = OtelApp(live, "checkout")
    with app.tracer.start_as_current_span("POST /checkout") as span:
        ctx = span.get_span_context()
        trace, parent = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        app.log.info("charging the card")
        # What a downstream service instrumented with Sentry sees: the trace's header.
        tx = sentry_sdk.continue_trace({"sentry-trace": f"{trace}-{parent}-1"},
                                       name="charge")
        with sentry_sdk.start_transaction(tx):
            sentry_sdk.capture_exception(ConnectionError("acquirer unreachable"))
    app.close()
    sentry_sdk.flush(10)
    tree = get(live, f"/api/v1/requests/{trace}")
    # Both in one request (in the same millisecond their order is the order of arrival).
    assert sorted((e["kind"], e["message"]) for e in tree["drill"]) == [
        ("error", "ConnectionError: acquirer unreachable"), ("general", "charging the card")]


@pytest.mark.slow
def test_acknowledged_otlp_and_sentry_events_survive_kill_9(tmp_path: Path,
                                                             server_factory: Any) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

    server = server_factory(data=tmp_path / "data").start()
    now_ns = time.time_ns()
    req = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(
        log_records=[LogRecord(time_unix_nano=now_ns, body=AnyValue(string_value=f"r{i}"))
                     for i in range(500)])])])
    r = httpx.post(server.url + "/v1/logs", content=req.SerializeToString(),
                   headers={**READ, "Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200
    eid = uuid.uuid4().hex
    r = httpx.post(server.url + "/api/1/store/", headers=READ, timeout=30,
                   json={"event_id": eid, "message": "acknowledged", "level": "error"})
    assert r.status_code == 200 and r.json() == {"id": eid}
    server.kill()  # SIGKILL right after the answers
    again = server_factory(data=tmp_path / "data").start()
    listed = httpx.get(again.url + "/api/v1/events", params={"limit": 1000}, headers=READ,
                       timeout=30).json()["events"]
    assert sorted(e["message"] for e in listed) == sorted(
        ["acknowledged", *(f"r{i}" for i in range(500))])
