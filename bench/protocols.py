"""The same events through every ingest protocol, in one run, beside native JSON.

    .venv/bin/python bench/protocols.py [--events 100000] [--clients 4] [--batch 1000]
                                        [--only otlp_protobuf,es_bulk] [--repeat 3]
                                        [--max-seconds 60] [--no-parse-costs]
                                        [--base /path/to/other/src] [--ports 61000-61099]

Each protocol is a row of ``SENDERS``: a name, the route (or syslog over TCP), the request
headers, the answer that means committed, and a function that encodes a batch of synthetic
events (bench/common.py's ~400-byte `general` events) as that protocol's body. Bodies are
encoded before the clock starts; for each row a fresh `logcycle serve` (SQLite) gets them
from concurrent client processes over keep-alive. HTTP rows are timed until the last
answer (an answer means committed); syslog has no answers, so its row ends when the last
event's id is readable. Printed per row: events/s and the server's CPU time per event
(from /proc; steadier than events/s when other work shares the cores), beside native
JSON's. ``--repeat`` rounds each run every row once, native JSON first and the others in
an order that turns each round; the table gives each row's median and best events/s, their
spread, and its share of native as the median of the rounds' shares (the row beside the
native run of its own round), with the load average before and after each round. To add
a protocol, add a row (``Sender(...)``).

The server's CPU is also given for its event loop's thread alone (``loop µs/event``: the
HTTP stack, the adapters' translation and the validation, where the protocols differ; the
writer and the search indexer run on threads of their own). ``--base SRC`` (a ``src``
directory of other code, e.g. ``git archive main src | tar -x -C /tmp/base``) runs each
row a second time per round on that code, as ``ROW@base`` (its share beside
``native_json@base``): old and new code alternated in one run.

Sentry SDKs send one event per envelope: that row sends one event per request (and fewer
events in all, ``Sender.max_events``), which is what it costs in real use; its peer is
``native_one_each``, native JSON one event a request. ``native_json_attrs`` is native JSON
with the fields OTLP has no place for in ``attributes``, as the OTLP rows store them.
``es_bulk_ids`` is bulk with an ``_id`` per document (each an idempotency key); the Loki
and CLEF rows pay their body-hash key (one per request).

After the table, in process: each adapter's translation and the validation beside the
native decoder on one batch (where the gaps come from).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import multiprocessing as mp
import os
import random
import socket
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cramjam
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import KEY, CpuMeter, Server, event

from logcycle.ingest.protocols.loki_pb import PushRequest

Event = dict[str, Any]
# events/s, server CPU µs an event, events sent, the event loop's CPU µs an event
Run = tuple[float, float, int, float]
BASE = "@base"  # the suffix of the rows run on the code of --base
AUTH = {"Authorization": f"Bearer {KEY}"}
OTLP_FIELDS = ("action_name", "client_ip", "duration_ms")  # no OTLP field: attributes


@dataclass(frozen=True)
class Sender:
    """One protocol: where to send (``path`` "": syslog over TCP), how to encode a batch,
    the status that means committed, how many events go in a request (None: ``--batch``)
    and at most how many events to send in all (None: ``--events``)."""

    path: str
    headers: dict[str, str]
    encode: Callable[[list[Event]], bytes]
    ok: int = 200
    per_request: int | None = None
    max_events: int | None = None
    peer: str = "native_json"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _extra(ev: Event) -> Event:
    return {k: ev[k] for k in OTLP_FIELDS}


def native_json(events: list[Event]) -> bytes:
    return orjson.dumps(events)


def native_json_attributes(events: list[Event]) -> bytes:
    """Native JSON with the fields OTLP has no place for in ``attributes``, as the OTLP rows
    store them: what the adapters cost beyond the larger rows."""
    return orjson.dumps([{**{k: v for k, v in ev.items() if k not in OTLP_FIELDS},
                          "attributes": _extra(ev)} for ev in events])


def _by_module(events: list[Event]) -> dict[str, list[Event]]:
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
    for module, group in _by_module(events).items():
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
    def value(v: object) -> Event:
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
        for m, group in _by_module(events).items()]})


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


def es_bulk(events: list[Event]) -> bytes:
    lines = []
    for ev in events:
        lines.append(b'{"create":{"_index":"bench"}}')
        lines.append(orjson.dumps({"@timestamp": iso(ev["instant"]), "message": ev["message"],
                                   "log.level": ev["message_type"],
                                   "service.name": ev["module_name"],
                                   "trace.id": ev["request_key"], **_extra(ev)}))
    return b"\n".join(lines) + b"\n"


def es_bulk_ids(events: list[Event]) -> bytes:
    """Bulk with an ``_id`` per document (Fluent Bit's Generate_ID, Vector's id_key): each
    one is an idempotency key the write transaction looks up and stores."""
    lines = []
    for ev in events:
        lines.append(b'{"create":{"_index":"bench","_id":"%d"}}' % ev["instant"])
        lines.append(orjson.dumps({"@timestamp": iso(ev["instant"]), "message": ev["message"],
                                   "log.level": ev["message_type"],
                                   "service.name": ev["module_name"],
                                   "trace.id": ev["request_key"], **_extra(ev)}))
    return b"\n".join(lines) + b"\n"


def loki_protobuf(events: list[Event]) -> bytes:
    """A snappy PushRequest, one stream per (module, level), the rest structured metadata."""
    req = PushRequest()
    streams: dict[tuple[str, str], Any] = {}
    for ev in events:
        key = (ev["module_name"], ev["message_type"])
        if key not in streams:
            streams[key] = req.streams.add(
                labels=f'{{service_name="{key[0]}", level="{key[1]}"}}')
        entry = streams[key].entries.add(line=ev["message"])
        entry.timestamp.seconds, ms = divmod(ev["instant"], 1000)
        entry.timestamp.nanos = ms * 1_000_000
        for name, value in (("trace_id", ev["request_key"]), *_extra(ev).items()):
            entry.structuredMetadata.add(name=name, value=str(value))
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def clef(events: list[Event]) -> bytes:
    return b"\n".join(orjson.dumps({"@t": iso(ev["instant"]), "@m": ev["message"],
                                    "@l": ev["message_type"], "SourceContext": ev["module_name"],
                                    "@tr": ev["request_key"], **_extra(ev)}) for ev in events)


def syslog_5424(events: list[Event]) -> bytes:
    """RFC 5424 lines with octet counting (RFC 6587), as rsyslog and syslog-ng send them."""
    frames = []
    for ev in events:
        sev = {"Error": 3, "Information": 6, "Debug": 7}[ev["message_type"]]
        line = (f"<{16 * 8 + sev}>1 {iso(ev['instant'])} web-1 {ev['module_name']} - - "
                f"[req@1 key=\"{ev['request_key']}\" action=\"{ev['action_name']}\" "
                f"ip=\"{ev['client_ip']}\"] {ev['message']}").encode()
        frames.append(b"%d %s" % (len(line), line))
    return b"".join(frames)


_JSON = {"Content-Type": "application/json"}
SENDERS: dict[str, Sender] = {
    "native_json": Sender("/api/v1/events", _JSON, native_json),
    "native_json_attrs": Sender("/api/v1/events", _JSON, native_json_attributes),
    "otlp_protobuf": Sender("/v1/logs", {"Content-Type": "application/x-protobuf"},
                            otlp_protobuf),
    "otlp_json": Sender("/v1/logs", _JSON, otlp_json),
    "es_bulk": Sender("/es/_bulk", {"Content-Type": "application/x-ndjson"}, es_bulk),
    "es_bulk_ids": Sender("/es/_bulk", {"Content-Type": "application/x-ndjson"}, es_bulk_ids),
    "loki_protobuf": Sender("/loki/api/v1/push", {"Content-Type": "application/x-protobuf"},
                            loki_protobuf, ok=204),
    "clef": Sender("/ingest/clef", {"Content-Type": "application/vnd.serilog.clef"}, clef,
                   ok=201),
    "syslog_tcp": Sender("", {}, syslog_5424),
    # The peer of the Sentry row: native JSON, also one event a request.
    "native_one_each": Sender("/api/v1/events", _JSON, native_json, per_request=1,
                              max_events=5_000),
    "sentry_envelope": Sender("/api/1/envelope/",
                              {"Content-Type": "application/x-sentry-envelope"},
                              sentry_envelope, per_request=1, max_events=5_000,
                              peer="native_one_each"),
}


def http_client(port: int, sender: Sender, bodies: list[tuple[int, bytes]], deadline: float,
                ready: Any, go: Any, result: Any) -> None:
    """Posts its share of the bodies over keep-alive; honours 503 + Retry-After."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {**AUTH, **sender.headers}
    ready.release()
    go.wait()
    sent = 0
    for count, body in bodies:
        if time.monotonic() > deadline:
            break
        while True:
            conn.request("POST", sender.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status == sender.ok:
                sent += count
                break
            if r.status == 503:
                time.sleep(float(r.getheader("Retry-After") or 1) / 10)
                continue
            raise RuntimeError(f"{sender.path}: {r.status} {data[:300]!r}")
    conn.close()
    result.put(sent)


def tcp_client(port: int, bodies: list[tuple[int, bytes]], deadline: float, ready: Any,
               go: Any, result: Any) -> None:
    """Writes its share of the frames on one syslog TCP connection (no answers)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        ready.release()
        go.wait()
        sent = 0
        for count, body in bodies:
            if time.monotonic() > deadline:
                break
            sock.sendall(body)
            sent += count
    result.put(sent)


def sender_of(name: str) -> Sender:
    """The row ``name`` (``ROW@base``: the row ROW, run on the code of --base)."""
    return SENDERS[name.removesuffix(BASE)]


def peer_of(name: str) -> str:
    return sender_of(name).peer + (BASE if name.endswith(BASE) else "")


def stored(url: str) -> int:
    """The newest event's id: on a fresh server, how many events are readable."""
    req = urllib.request.Request(url + "/api/v1/events?limit=1", headers=AUTH)  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
        events = orjson.loads(r.read())["events"]
    return int(events[0]["id"]) if events else 0


def _thread_cpu_s(pid: int) -> float:
    """CPU seconds of the process's main thread (the server's event loop) alone."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(sender: Sender, events: list[Event], batch: int, clients: int,
         max_seconds: float, pythonpath: str = "") -> Run:
    """(events/s, server CPU µs an event, events sent, its event loop's CPU µs an event)
    of ``events`` through ``sender`` into a fresh server (on the code of ``pythonpath``
    if given)."""
    size = sender.per_request or batch
    events = events[:sender.max_events] if sender.max_events else events
    bodies = [(len(events[i:i + size]), sender.encode(events[i:i + size]))
              for i in range(0, len(events), size)]
    syslog_port = common.free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data", "--syslog-tcp", str(syslog_port),
                        src=pythonpath)
        meter = CpuMeter(server.proc.pid)
        try:
            ctx = mp.get_context("fork")
            ready, go, result = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
            deadline = time.monotonic() + max_seconds + 30
            procs = [ctx.Process(target=http_client, args=(server.port, sender, share,
                                                           deadline, ready, go, result))
                     if sender.path else
                     ctx.Process(target=tcp_client, args=(syslog_port, share, deadline,
                                                          ready, go, result))
                     for share in (bodies[i::clients] for i in range(clients))]
            for p in procs:
                p.start()
            for _ in procs:
                ready.acquire()
            start = time.perf_counter()
            meter.start()
            loop0 = _thread_cpu_s(server.proc.pid)
            go.set()
            total = sum(result.get() for _ in procs)
            for p in procs:
                p.join()
            while not sender.path and stored(server.url) < total \
                    and time.perf_counter() - start < max_seconds + 60:
                time.sleep(0.02)
            elapsed = time.perf_counter() - start
            loop = _thread_cpu_s(server.proc.pid) - loop0
            meter.stop()
            print(f"  {meter.summary()}", flush=True)
            us = meter.seconds.get("server", 0.0) / max(total, 1) * 1e6
            return total / elapsed, us, total, loop / max(total, 1) * 1e6
        finally:
            server.stop()


def use_ports(spec: str) -> None:
    """Take the servers' ports from ``spec`` (``LOW-HIGH``, in turn and round again, each
    one free when taken) instead of the kernel's choice: for a machine whose users share
    out ports."""
    low, _, high = spec.partition("-")
    span = range(int(low), int(high or low) + 1)
    turn = itertools.count()

    def free_port() -> int:
        for port in (span[next(turn) % len(span)] for _ in span):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError(f"no free port left in {spec}")

    common.free_port = free_port  # what Server and rate() call


def _best_us(fn: Callable[[], Any], n: int, repeat: int = 15) -> float:
    # CPU time of this process (not wall time): what other work on the cores takes away
    # from a run does not count, only what it slows down.
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times) * 1e6 / n


def parse_costs(batch: list[Event]) -> None:
    """In process, µs an event: each adapter's translation and the validation beside the
    native decoder on the same batch (where the gaps above come from)."""
    from logcycle.ingest.decode import BatchDecoder
    from logcycle.ingest.protocols import clef as clef_in
    from logcycle.ingest.protocols import es_bulk as es_in
    from logcycle.ingest.protocols import loki as loki_in
    from logcycle.ingest.protocols import otlp as otlp_in
    from logcycle.ingest.protocols import otlp_json as otlp_json_in
    from logcycle.ingest.protocols import otlp_rows, validate
    from logcycle.ingest.protocols import rows as rows_in
    from logcycle.ingest.protocols import syslog as syslog_in
    from logcycle.ingest.protocols.common import ClockRule

    now, n = int(time.time() * 1000), len(batch)
    dec = BatchDecoder(max_future_ms=10**9, max_batch=10**6)
    clock = ClockRule(now_ms=now, max_future_ms=10**9)
    fields = es_in.Fields.of("", "")
    limit = rows_in.limit_of(dec, now)
    frames = syslog_in.Framer(1 << 20).feed(syslog_5424(batch))
    nb, eb, cb, lb = native_json(batch), es_bulk(batch), clef(batch), loki_protobuf(batch)
    ob, ojb = otlp_protobuf(batch), otlp_json(batch)
    items = [it for it in es_in.parse_bulk(eb, None, fields, clock).items
             if not isinstance(it, str)]
    encoded = [orjson.dumps(it) for it in items]
    otlp_events = otlp_in.to_events(ob, now_ms=now)
    rows = [("native JSON: decode_json (validation)", lambda: dec.decode_json(nb, now_ms=now)),
            ("adapters: decode_each (item by item)", lambda: dec.decode_each(encoded, now_ms=now)),
            ("shippers: validate (dicts)", lambda: validate(dec, items, now_ms=now)),
            ("OTLP: validate (dicts)", lambda: validate(dec, otlp_events, now_ms=now)),
            ("OTLP protobuf: translation", lambda: otlp_in.to_events(ob, now_ms=now)),
            ("OTLP protobuf: straight to rows (route)",
             lambda: otlp_rows.validated(ob, dec, now_ms=now)),
            ("OTLP JSON: translation", lambda: otlp_json_in.to_events(ojb, now_ms=now)),
            ("ES bulk: translation", lambda: es_in.parse_bulk(eb, None, fields, clock)),
            ("Loki protobuf: translation", lambda: loki_in.parse_protobuf(lb, clock, 1 << 30)),
            ("CLEF: translation", lambda: clef_in.parse_clef(cb, clock)),
            ("syslog: translation", lambda: [syslog_in.parse(f, clock, UTC) for f in frames]),
            # The routes' path: plain records straight to rows, then rows.validated.
            ("ES bulk: to rows, validated (route)", lambda: rows_in.validated(
                dec, es_in.parse_bulk(eb, None, fields, clock, limit).items, now_ms=now)),
            ("Loki protobuf: to rows, validated (route)", lambda: rows_in.validated(
                dec, loki_in.parse_protobuf(lb, clock, 1 << 30, limit), now_ms=now)),
            ("CLEF: to rows, validated (route)", lambda: rows_in.validated(
                dec, clef_in.parse_clef(cb, clock, limit), now_ms=now)),
            ("syslog: to rows, validated (route)", lambda: rows_in.validated(
                dec, [syslog_in.parse(f, clock, UTC, limit) for f in frames], now_ms=now))]
    print(f"\nin process, CPU µs an event (best of 15, {n} events):")
    for name, fn in rows:
        print(f"  {name:<40} {_best_us(fn, n):6.2f}")
    offload_costs([(name.split(":")[0], fn, args) for name, fn, args in (
        ("OTLP protobuf", otlp_rows.validated, (ob, dec)),
        ("ES bulk", es_in.parse_bulk, (eb, None, fields, clock, limit)),
        ("Loki protobuf", loki_in.parse_protobuf, (lb, clock, 1 << 30, limit)),
        ("CLEF", clef_in.parse_clef, (cb, clock, limit)),
        ("syslog", syslog_in.parse_all, (frames, clock, UTC, limit)))], now, n)


def offload_costs(jobs: list[tuple[str, Any, tuple[Any, ...]]], now: int, n: int) -> None:
    """The same translations handed to a protocol worker (ingest/offload.py), as the
    routes do with large bodies: CPU µs an event in this process (all its threads: the
    hand-off and the unpickling, what the server's GIL still pays) and in the worker."""
    import asyncio

    from logcycle.clock import SystemClock
    from logcycle.ingest.offload import Offload

    offload = Offload(1, SystemClock(), min_bytes=0)
    offload.start()
    deadline = time.monotonic() + 30
    while offload.worker_pid is None and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = offload.worker_pid
    if pid is None:
        print("the protocol worker did not start: no offload costs")
        offload.close()
        return
    print(f"\nhanded to a protocol worker, CPU µs an event (best of 15, {n} events): "
          "this process / the worker")
    async def measure(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) \
            -> tuple[float, float]:
        here = []
        w = _process_cpu_s(pid)
        for _ in range(15):
            t = time.process_time()
            await offload.run(fn, *args, **kwargs)
            here.append(time.process_time() - t)
        # The worker's ticks are of 10 ms: its mean over the jobs, not the best.
        return min(here) * 1e6 / n, (_process_cpu_s(pid) - w) * 1e6 / n / 15

    for name, fn, args in jobs:
        kwargs = {"now_ms": now} if name == "OTLP protobuf" else {}
        here, there = asyncio.run(measure(fn, args, kwargs))
        print(f"  {name:<40} {here:6.2f} / {there:6.2f}")
    offload.close()


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")




def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def table(args: argparse.Namespace, runs: dict[str, list[Run]], loads: list[str]) -> None:
    """Per row: the median and best of its repeats, their spread, and its share of native
    JSON as the median of the per-round shares (each round's row beside that round's
    native: the pairs ran seconds apart, so slow phases of the machine cancel out)."""
    base = f"; ROW@base: on {args.base}" if args.base else ""
    print(f"\nProtocols: {args.events:,} events of ~400 bytes (one a request: at most "
          f"{SENDERS['sentry_envelope'].max_events:,}), batches of {args.batch}, "
          f"{args.clients} clients, SQLite, a fresh server per run, {args.repeat} rounds "
          f"alternating the rows{base}; load average (1/5/15 min) {' → '.join(loads)}")
    head = (f"| {'protocol':<23} | {'events':>7} | {'events/s median':>15} | "
            f"{'best':>8} | {'spread':>6} | {'of native (rounds)':>22} | "
            f"{'CPU µs/event':>12} | {'loop µs/event':>13} |")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for name, rs in runs.items():
        rates = [r[0] for r in rs]
        peer = peer_of(name)
        shares = [r[0] / p[0] for r, p in zip(rs, runs[peer], strict=False)]
        share = f"{_median(shares):.0%} ({min(shares):.0%}-{max(shares):.0%})"
        if peer.removesuffix(BASE) != "native_json":
            share += f" of {peer}"
        spread = max(rates) / max(min(rates), 1e-9) - 1
        print(f"| {name:<23} | {max(r[2] for r in rs):>7,} | {_median(rates):>15,.0f} | "
              f"{max(rates):>8,.0f} | {spread:>6.0%} | {share:>22} | "
              f"{_median([r[1] for r in rs]):>12.1f} | {_median([r[3] for r in rs]):>13.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds: each runs every row once (native JSON first), the rows "
                         "alternating so that a slow phase of a shared machine hits all")
    ap.add_argument("--max-seconds", type=float, default=60,
                    help="stop sending after this long (a row's events/s are of what it sent)")
    ap.add_argument("--only", default=",".join(SENDERS),
                    help=f"comma-separated rows to run (native JSON always runs); known: "
                         f"{', '.join(SENDERS)}")
    ap.add_argument("--no-parse-costs", action="store_true",
                    help="skip the in-process costs after the table")
    ap.add_argument("--base", default="",
                    help="a src directory of other code: each row runs on it too, as "
                         "ROW@base, alternated with this code's in every round")
    ap.add_argument("--ports", default="",
                    help="LOW-HIGH: the servers' ports from this range (default: any free)")
    args = ap.parse_args()
    if args.ports:
        use_ports(args.ports)
    names = ["native_json", *(n for n in args.only.split(",") if n and n != "native_json")]
    unknown = [n for n in names if n not in SENDERS]
    if unknown:
        ap.error(f"unknown rows {unknown}; known: {', '.join(SENDERS)}")
    for name in names:  # a row's peer runs in each round too
        if SENDERS[name].peer not in names:
            names.append(SENDERS[name].peer)
    if args.base:  # each row beside the same row on the other code
        names = [n for name in names for n in (name, name + BASE)]
    rng = random.Random(1)
    now = int(time.time() * 1000)
    events = [event(rng, now - args.events + i) for i in range(args.events)]
    runs: dict[str, list[Run]] = {name: [] for name in names}
    loads = [_load()]
    for i in range(args.repeat):
        # Each round in another order (native JSON always first): no row always follows
        # the same one.
        order = names[:1] + names[1:][i % max(len(names) - 1, 1):] + \
            names[1:][:i % max(len(names) - 1, 1)]
        for name in order:
            print(f"round {i + 1}, {name} (load {_load()}):", flush=True)
            run = rate(sender_of(name), events, args.batch, args.clients, args.max_seconds,
                       args.base if name.endswith(BASE) else "")
            runs[name].append(run)
            print(f"  {run[0]:,.0f} events/s ({run[2]:,} events), server {run[1]:.1f} µs CPU "
                  f"an event ({run[3]:.1f} in its event loop)", flush=True)
        loads.append(_load())
    table(args, runs, loads)
    if not args.no_parse_costs:
        parse_costs(events[:args.batch])


if __name__ == "__main__":
    main()
