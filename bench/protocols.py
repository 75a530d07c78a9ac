"""The same events through each ingest protocol, in one run, beside native JSON.

    .venv/bin/python bench/protocols.py [--events 100000] [--clients 4] [--batch 1000]
                                        [--only native_json,otlp_protobuf] [--repeat 2]

Each protocol is a row of ``SENDERS``: a name, the route, the request headers, and a
function that encodes a batch of synthetic events (bench/common.py's ~400-byte `general`
events) as that protocol's request body. Bodies are encoded before the clock starts; for
each row a fresh `logcycle serve` (SQLite) gets them from concurrent client processes
over keep-alive, and the events/s until the last one is acknowledged are printed beside
native JSON's. To add a protocol, add a row (``Sender(...)``).

Sentry SDKs send one event per envelope: that row sends one event per request (and fewer
events in all, ``Sender.max_events``), which is what it costs in real use; its peer is
``native_one_each``, native JSON one event a request.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, CpuMeter, Server, event

T0 = 1_795_400_000_000
Event = dict[str, Any]
OTLP_FIELDS = ("action_name", "client_ip", "duration_ms")  # no OTLP field: attributes


@dataclass(frozen=True)
class Sender:
    """One protocol: where to send, how to encode a batch, how many events go in a request
    (None: ``--batch``) and at most how many events to send in all (None: ``--events``)."""

    path: str
    headers: dict[str, str]
    encode: Callable[[list[Event]], bytes]
    per_request: int | None = None
    max_events: int | None = None


def native_json(events: list[Event]) -> bytes:
    return orjson.dumps(events)


def native_json_attributes(events: list[Event]) -> bytes:
    """Native JSON with the fields OTLP has no place for in ``attributes``, as the OTLP rows
    store them: what the adapters cost beyond the larger rows."""
    return orjson.dumps([{**{k: v for k, v in ev.items() if k not in OTLP_FIELDS},
                          "attributes": {k: ev[k] for k in OTLP_FIELDS}} for ev in events])


def _otlp_groups(events: list[Event]) -> dict[str, list[Event]]:
    by_module: dict[str, list[Event]] = {}
    for ev in events:
        by_module.setdefault(ev["module_name"], []).append(ev)
    return by_module


_SEVERITY = {"Debug": 5, "Information": 9, "Error": 17}


def otlp_protobuf(events: list[Event]) -> bytes:
    """An ExportLogsServiceRequest with one resource (service.name) per module."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    def value(v: object) -> AnyValue:
        return AnyValue(double_value=v) if isinstance(v, float) else AnyValue(string_value=str(v))

    req = ExportLogsServiceRequest()
    for module, group in _otlp_groups(events).items():
        req.resource_logs.append(ResourceLogs(
            resource=Resource(attributes=[KeyValue(key="service.name",
                                                   value=AnyValue(string_value=module))]),
            scope_logs=[ScopeLogs(log_records=[LogRecord(
                time_unix_nano=ev["instant"] * 1_000_000,
                severity_number=_SEVERITY[ev["message_type"]],  # type: ignore[arg-type]
                body=AnyValue(string_value=ev["message"]),
                trace_id=uuid.UUID(ev["request_key"]).bytes,
                attributes=[KeyValue(key=k, value=value(ev[k])) for k in OTLP_FIELDS])
                for ev in group])]))
    data: bytes = req.SerializeToString()
    return data


def otlp_json(events: list[Event]) -> bytes:
    """The same request in OTLP JSON (hex trace ids, enums as numbers)."""
    def value(v: object) -> dict[str, Any]:
        return {"doubleValue": v} if isinstance(v, float) else {"stringValue": str(v)}

    return orjson.dumps({"resourceLogs": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": m}}]},
         "scopeLogs": [{"logRecords": [
             {"timeUnixNano": str(ev["instant"] * 1_000_000),
              "severityNumber": _SEVERITY[ev["message_type"]],
              "body": {"stringValue": ev["message"]},
              "traceId": uuid.UUID(ev["request_key"]).hex,
              "attributes": [{"key": k, "value": value(ev[k])} for k in OTLP_FIELDS]}
             for ev in group]}]}
        for m, group in _otlp_groups(events).items()]})


def sentry_envelope(events: list[Event]) -> bytes:
    """One Sentry envelope per event, as the SDKs send them (an event item, as JSON)."""
    lines = []
    for ev in events:
        eid = uuid.uuid4().hex
        payload = orjson.dumps({
            "event_id": eid, "timestamp": ev["instant"] / 1000, "level": "error",
            "platform": "python", "message": ev["message"], "server_name": ev["client_ip"],
            "transaction": ev["action_name"], "tags": {"module_name": ev["module_name"]},
            "contexts": {"trace": {"trace_id": uuid.UUID(ev["request_key"]).hex}}})
        lines += [orjson.dumps({"event_id": eid}),
                  orjson.dumps({"type": "event", "length": len(payload)}), payload]
    return b"\n".join(lines) + b"\n"


_JSON = {"Content-Type": "application/json"}
SENDERS: dict[str, Sender] = {
    "native_json": Sender("/api/v1/events", _JSON, native_json),
    "native_json_attrs": Sender("/api/v1/events", _JSON, native_json_attributes),
    "otlp_protobuf": Sender("/v1/logs", {"Content-Type": "application/x-protobuf"},
                            otlp_protobuf),
    "otlp_json": Sender("/v1/logs", _JSON, otlp_json),
    # The peer of the Sentry row: native JSON, also one event a request.
    "native_one_each": Sender("/api/v1/events", _JSON, native_json, per_request=1,
                              max_events=5_000),
    "sentry_envelope": Sender("/api/1/envelope/",
                              {"Content-Type": "application/x-sentry-envelope"},
                              sentry_envelope, per_request=1, max_events=5_000),
}


def client(port: int, path: str, headers: dict[str, str], bodies: list[tuple[int, bytes]],
           ready: Any, go: Any, result: Any) -> None:
    """Posts its share of the bodies over keep-alive; honours 503 + Retry-After."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {KEY}", **headers}
    ready.release()
    go.wait()
    sent = 0
    for count, body in bodies:
        while True:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status == 200:
                sent += count
                break
            if r.status == 503:
                time.sleep(float(r.getheader("Retry-After") or 1) / 10)
                continue
            raise RuntimeError(f"{path}: {r.status} {data[:300]!r}")
    result.put(sent)


def rate(sender: Sender, events: list[Event], batch: int, clients: int) -> tuple[float, float]:
    """Events/s of ``events`` through ``sender`` into a fresh server, and the server's CPU
    time per event in µs (steadier than events/s when other work shares the cores)."""
    size = sender.per_request or batch
    events = events[:sender.max_events] if sender.max_events else events
    bodies = [(len(events[i:i + size]), sender.encode(events[i:i + size]))
              for i in range(0, len(events), size)]
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data")
        meter = CpuMeter(server.proc.pid)
        try:
            ctx = mp.get_context("fork")
            ready, go, result = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
            procs = [ctx.Process(target=client, args=(server.port, sender.path, sender.headers,
                                                      bodies[i::clients], ready, go, result))
                     for i in range(clients)]
            for p in procs:
                p.start()
            for _ in procs:
                ready.acquire()
            start = time.perf_counter()
            meter.start()
            go.set()
            total = sum(result.get() for _ in procs)
            elapsed = time.perf_counter() - start
            meter.stop()
            for p in procs:
                p.join()
            print(f"  {meter.summary()}", flush=True)
            return total / elapsed, meter.seconds.get("server", 0.0) / max(total, 1) * 1e6
        finally:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2,
                    help="alternate the rows this many times and keep each one's best (the "
                         "machine is shared: noise only ever slows a run down)")
    ap.add_argument("--only", default=",".join(SENDERS),
                    help="comma-separated rows to run (native_json always runs)")
    args = ap.parse_args()
    names = ["native_json", *(n for n in args.only.split(",") if n and n != "native_json")]
    unknown = [n for n in names if n not in SENDERS]
    if unknown:
        ap.error(f"unknown rows {unknown}; known: {', '.join(SENDERS)}")
    rng = random.Random(1)
    events = [event(rng, T0 + i) for i in range(args.events)]
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for i in range(args.repeat):
        for name in names:
            print(f"run {i + 1}, {name}:", flush=True)
            got, us = rate(SENDERS[name], events, args.batch, args.clients)
            best[name] = max(best.get(name, 0.0), got)
            cpu[name] = min(cpu.get(name, us), us)
            print(f"  {got:,.0f} events/s, server {us:.1f} µs CPU an event", flush=True)
    native = best["native_json"]
    print(f"\nProtocols: {args.events:,} events (one a request: at most "
          f"{SENDERS['sentry_envelope'].max_events:,}), batches of "
          f"{args.batch}, {args.clients} clients, best of {args.repeat}")
    print(f"| {'protocol':<18} | {'events/s':>10} | {'of native JSON':>14} | "
          f"{'server CPU µs/event':>19} |")
    print(f"|{'-' * 20}|{'-' * 12}|{'-' * 16}|{'-' * 21}|")
    for name, value in best.items():
        print(f"| {name:<18} | {value:>10,.0f} | {value / native:>14.0%} | "
              f"{cpu[name]:>19.1f} |")


if __name__ == "__main__":
    main()
