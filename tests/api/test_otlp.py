"""POST /v1/logs in process, on both stores: OTLP JSON fixtures shaped like the
specification's examples, protobuf built with the published messages, gzip and deflate,
partial success, errors in the protocol's own shape, and the mapping read back through
/api/v1/events, the request tree and the Event Log API."""

from __future__ import annotations

import copy
import doctest
import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import orjson
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from starlette.testclient import TestClient

from logcycle.errors import BadRequest
from logcycle.ingest.protocols import otlp, otlp_json, sentry
from logcycle.service import Service
from tests.conftest import T0

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "otlp"
PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
TRACE = "0af7651916cd43dd8448eb211c80319c"


def fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def record(body: str = "hello", *, ms: int = T0 - 1000, severity: int = 9,
           text: str = "", trace: str = TRACE, **attrs: str) -> LogRecord:
    return LogRecord(time_unix_nano=ms * 1_000_000, severity_number=severity,  # type: ignore[arg-type]
                     severity_text=text, body=AnyValue(string_value=body),
                     trace_id=bytes.fromhex(trace) if trace else b"",
                     attributes=[KeyValue(key=k.replace("_", "."), value=AnyValue(string_value=v))
                                 for k, v in attrs.items()])


def request(*records: LogRecord, service: str = "shop") -> ExportLogsServiceRequest:
    resource = Resource(attributes=[KeyValue(key="service.name",
                                             value=AnyValue(string_value=service))])
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=resource, scope_logs=[ScopeLogs(log_records=list(records))])])


def events(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/v1/events", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["events"]
    return found


def test_the_adapters_doctests() -> None:
    for module in (otlp, otlp_json, sentry):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_the_specification_example_as_json(client: TestClient) -> None:
    r = client.post("/v1/logs", content=(FIXTURES / "logs.json").read_bytes(), headers=JS)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {}  # no partialSuccess: everything was accepted
    (ev,) = events(client)
    assert ev["kind"] == "general" and ev["message"] == "Example log record"
    assert ev["instant"] == 1544712660300 and ev["message_type"] == "Information"
    assert ev["module_name"] == "my.service"
    assert ev["request_key"] == "5b8efff798038103d269b633813fc60c"
    assert ev["attributes"] == {
        "otel.scope.name": "my.library", "otel.scope.version": "1.0.0",
        "my.scope.attribute": "some scope attribute", "string.attribute": "some string",
        "boolean.attribute": True, "int.attribute": 10, "double.attribute": 637.704,
        "array.attribute": ["many", "values"], "map.attribute": {"some.map.key": "some value"},
        "level": "Information", "severity_number": 10, "span_id": "eee19b7ec3c1b174"}


def test_exceptions_are_errors_and_other_bodies_are_kept_as_json(client: TestClient) -> None:
    r = client.post("/v1/logs", json=fixture("errors.json"))
    assert r.status_code == 200 and r.json() == {}
    (err,) = events(client, kind="error")
    assert err["message"] == "charge failed" and err["module_name"] == "checkout"
    assert err["detail"].endswith("PaymentError: card declined")
    assert err["request_key"] == TRACE
    assert err["attributes"]["exception.type"] == "PaymentError"
    assert "exception.stacktrace" not in err["attributes"]
    (fatal,) = events(client, kind="general")
    assert fatal["msg"] == {"event": "shutdown", "code": 3}
    assert json.loads(fatal["message"]) == fatal["msg"]
    assert fatal["instant"] == 1795000000100  # observedTimeUnixNano when there is no time
    assert fatal["message_type"] == "Error"
    assert fatal["attributes"]["severity_number"] == 21  # FATAL stays distinguishable
    assert fatal["attributes"]["level"] == "FATAL"
    assert fatal["attributes"]["service.version"] == "2.4.1"


def test_an_exception_without_a_body_is_named_by_its_type(client: TestClient) -> None:
    rec = record("", exception_type="KeyError", exception_message="'sku'")
    rec.ClearField("body")
    r = client.post("/v1/logs", content=request(rec).SerializeToString(), headers=PB)
    assert r.status_code == 200
    (err,) = events(client, kind="error")
    assert err["message"] == "KeyError: 'sku'" and "detail" not in err


def test_protobuf_in_every_content_encoding(client: TestClient) -> None:
    for i, encoding in enumerate(["gzip", "deflate", "raw-deflate", None]):
        _post_encoded(client, encoding, f"{i}a", f"{i}b")
    assert len(events(client)) == 8


def _post_encoded(client: TestClient, encoding: str | None, *messages: str) -> None:
    data = request(*map(record, messages)).SerializeToString()
    headers = dict(PB)
    if encoding == "gzip":
        data = gzip.compress(data)
    elif encoding == "deflate":
        data = zlib.compress(data)
    elif encoding == "raw-deflate":
        c = zlib.compressobj(wbits=-15)
        data = c.compress(data) + c.flush()
    if encoding:
        headers["Content-Encoding"] = encoding.removeprefix("raw-")
    r = client.post("/v1/logs", content=data, headers=headers)
    assert r.status_code == 200, r.content
    assert r.headers["content-type"] == "application/x-protobuf"
    resp = ExportLogsServiceResponse.FromString(r.content)
    assert not resp.HasField("partial_success")
    assert [e["message"] for e in events(client)][:2] == list(reversed(messages))


def test_severities_and_the_event_log_api(client: TestClient) -> None:
    numbers = {1: "Debug", 5: "Debug", 9: "Information", 13: "Information", 17: "Error",
               21: "Error"}
    texts = {"warning": "Information", "CRITICAL": "Error", "notice": "Information",
             "": "Information"}
    recs = [record(f"n{n}", severity=n) for n in numbers]
    recs += [record(f"t{t}", severity=0, text=t) for t in texts]
    r = client.post("/v1/logs", content=request(*recs).SerializeToString(), headers=PB)
    assert r.status_code == 200
    got = {e["message"]: e["message_type"] for e in events(client)}
    want = {f"n{n}": t for n, t in numbers.items()} | {f"t{t}": v for t, v in texts.items()}
    assert got == want
    levels = {e["message"]: e.get("attributes", {}).get("level") for e in events(client)}
    assert (levels["n13"], levels["n21"], levels["twarning"], levels["t"]) == (
        "WARN", "FATAL", "warning", None)
    # Warnings stay distinguishable: by level (any spelling) or by severity number.
    warnings = events(client, query="attributes.level:warn*")
    assert sorted(e["message"] for e in warnings) == ["n13", "twarning"]
    fatal = events(client, query="attributes.severity_number:>=21")
    assert [e["message"] for e in fatal] == ["n21"]
    # Every record is an event log of one of the Event Log API's three types.
    found = client.get("/api/system/event-log/search", params={"numberOfResults": 100}).json()
    assert found["total"] == len(recs)
    assert {e["type"] for e in found["eventLogs"]} == {"Debug", "Information", "Error"}
    errors = client.get("/api/system/event-log/search", params={"type": "Error"}).json()
    assert sorted(e["message"] for e in errors["eventLogs"]) == ["n17", "n21", "tCRITICAL"]


def test_a_trace_is_one_request(client: TestClient) -> None:
    client.post("/api/v1/events", json=[{"kind": "screen", "instant": T0 - 2000,
                                         "duration_ms": 30, "screen": "Cart",
                                         "request_key": TRACE}])
    recs = [record("loading cart", ms=T0 - 1500),
            record("", ms=T0 - 1400, exception_type="IOError", exception_stacktrace="at x"),
            record("other trace", trace="11111111111111111111111111111111")]
    assert client.post("/v1/logs", content=request(*recs).SerializeToString(),
                       headers=PB).status_code == 200
    tree = client.get(f"/api/v1/requests/{TRACE}").json()
    assert [e["kind"] for e in tree["top_level"]] == ["screen"]
    assert [(e["kind"], e["message"]) for e in tree["drill"]] == [
        ("general", "loading cart"), ("error", "IOError")]
    assert tree["drill"][1]["detail"] == "at x"


def test_invalid_records_are_rejected_alone(client: TestClient) -> None:
    recs = [record("kept"), record("x" * 70_000), record("future", ms=T0 + 3 * 86_400_000)]
    r = client.post("/v1/logs", content=request(*recs).SerializeToString(), headers=PB)
    assert r.status_code == 200
    partial = ExportLogsServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_log_records == 2
    assert partial.error_message.startswith("2 of 3 log records rejected: record 1: message:")
    assert "record 2: instant: more than 48 hours in the future" in partial.error_message
    assert [e["message"] for e in events(client)] == ["kept"]
    doc = orjson.loads(orjson.dumps(fixture("logs.json")))
    rl = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    rl.append(copy.deepcopy(rl[0]))
    rl[1]["body"] = {"stringValue": "y" * 70_000}
    r = client.post("/v1/logs", json=doc)
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedLogRecords"] == "1"  # int64 as a string
    assert "record 1: message" in r.json()["partialSuccess"]["errorMessage"]
    assert len(events(client)) == 2


def test_a_request_of_only_invalid_records_is_a_400_that_stores_nothing(
        client: TestClient) -> None:
    r = client.post("/v1/logs", content=request(record("z" * 70_000)).SerializeToString(),
                    headers=PB)
    assert r.status_code == 400
    status = status_pb2.Status.FromString(r.content)
    assert status.code == 3 and "1 of 1 log records rejected: record 0: message" in status.message
    assert events(client) == []
    empty = client.post("/v1/logs", json={"resourceLogs": []})
    assert empty.status_code == 200 and empty.json() == {}


BAD_REQUESTS = [
    (b"\xff\xff\xff", PB, 400, "not a protobuf ExportLogsServiceRequest"),
    (b"{not json", JS, 400, "invalid JSON"),
    (b"[1, 2]", JS, 400, "must be a JSON object"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}', JS, 400,
     "resourceLogs[0].scopeLogs[0].logRecords[0].traceId: must be 32 hex digits"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}',
     JS, 400, "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: must be an integer"),
    (b"{}", {"Content-Type": "text/plain"}, 415, "application/x-protobuf"),
    (b"\x1f\x8b\x08\x00junk", {**PB, "Content-Encoding": "gzip"}, 400, "gzip body is"),
    (b"{}", {**JS, "Content-Encoding": "zstd"}, 415, "Content-Encoding 'zstd' is not supported"),
]


def test_bad_requests_get_a_status_naming_the_problem(client: TestClient) -> None:
    for body, headers, status, says in BAD_REQUESTS:
        r = client.post("/v1/logs", content=body, headers=headers)
        assert r.status_code == status, (body, r.content)
        if "protobuf" in headers["Content-Type"]:
            message = status_pb2.Status.FromString(r.content).message
        else:
            assert r.headers["content-type"].startswith("application/json")
            message = r.json()["message"]
        assert says in message, (body, message)
    assert events(client) == []


def test_keys_and_scopes(client: TestClient, service: Service) -> None:
    data = request(record("x")).SerializeToString()
    r = client.post("/v1/logs", content=data, headers={**PB, "Authorization": ""})
    assert r.status_code == 401 and r.content == b""
    from logcycle.keys import hash_key, new_key

    read_key = new_key()
    service.store.add_key(hash_key(service.secret, read_key), "read", None, None, 0)
    ingest_key = new_key()
    service.store.add_key(hash_key(service.secret, ingest_key), "ingest", None, None, 0)
    service.auth.reload()
    r = client.post("/v1/logs", content=data, headers={**PB, "Authorization": f"Bearer {read_key}"})
    assert r.status_code == 403 and "scope" in status_pb2.Status.FromString(r.content).message
    r = client.post("/v1/logs", content=data, headers={**PB, "Authorization": ingest_key})
    assert r.status_code == 200


def test_overload_is_a_503_with_retry_after(client: TestClient, service: Service) -> None:
    service.writer.max_pending = 0  # as if the queue were full
    r = client.post("/v1/logs", content=request(record("x")).SerializeToString(), headers=PB)
    assert r.status_code == 503 and 1 <= int(r.headers["Retry-After"]) <= 30
    assert status_pb2.Status.FromString(r.content).code == 14  # UNAVAILABLE


def _as_otlp_json(req: ExportLogsServiceRequest) -> dict[str, Any]:
    """protobuf's JSON mapping of ``req`` with the ids in hex, as OTLP JSON writes them."""
    import base64

    doc: dict[str, Any] = json_format.MessageToDict(req)
    for rl in doc.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for rec in sl.get("logRecords", []):
                for name in ("traceId", "spanId"):
                    if name in rec:
                        rec[name] = base64.b64decode(rec[name]).hex().upper()
    return doc


def test_json_and_protobuf_give_the_same_events() -> None:
    rec = record("kv", severity=21, text="FATAL", exception_type="E")
    rec.span_id = bytes(range(8))
    rec.body.CopyFrom(AnyValue(kvlist_value=KeyValueList(values=[
        KeyValue(key="n", value=AnyValue(int_value=-(2**62))),
        KeyValue(key="b", value=AnyValue(bytes_value=b"\x00\xff")),
        KeyValue(key="a", value=AnyValue(array_value=ArrayValue(values=[
            AnyValue(double_value=1.5), AnyValue(bool_value=False), AnyValue()])))])))
    req = request(rec, record("plain"), service="svc")
    req.resource_logs[0].scope_logs[0].scope.name = "lib"
    pb = otlp.to_events(req.SerializeToString(), now_ms=T0)
    js = otlp_json.to_events(orjson.dumps(_as_otlp_json(req)), now_ms=T0)
    assert js == pb
    first = pb[0]
    assert first["kind"] == "error" and first["attributes"]["body"]["b"] == "AP8="
    assert first["attributes"]["span_id"] == "0001020304050607"


def test_json_field_spellings_and_types() -> None:
    doc = {"resource_logs": [{"scope_logs": [{"log_records": [
        {"time_unix_nano": 1_700_000_000_000_000_000, "severity_number": "SEVERITY_NUMBER_WARN",
         "body": {"int_value": 7}, "trace_id": "", "unknownField": {"ignored": True}}]}]}]}
    (ev,) = otlp_json.to_events(orjson.dumps(doc), now_ms=T0)
    assert ev == {"kind": "general", "instant": 1_700_000_000_000, "message": "7", "msg": 7,
                  "message_type": "Information",
                  "attributes": {"level": "WARN", "severity_number": 13}}
    where = "resourceLogs[0].scopeLogs[0].logRecords[0]."
    for rec, says in [
        ({"body": {"stringValue": 5}}, f"{where}body.stringValue: must be a str"),
        ({"severityNumber": 99}, f"{where}severityNumber: must be an integer from 0 to 24"),
        ({"attributes": [{"key": 1}]}, f"{where}attributes[0].key: must be a string"),
        ({"attributes": {"k": "v"}}, f"{where}attributes: must be an array of objects"),
        ({"spanId": "abc"}, f"{where}spanId: must be 16 hex digits"),
    ]:
        body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [rec]}]}]}
        try:
            otlp_json.to_events(orjson.dumps(body), now_ms=T0)
        except BadRequest as exc:
            assert says in exc.message, (says, exc.message)
        else:
            raise AssertionError(f"accepted {rec}")
