"""Ingest through each protocol beside native JSON, on the same events, in one run.

    .venv/bin/python bench/protocols.py [--events 100000] [--clients 4] [--batch 1000]

A table of named senders: each turns the same synthetic events (bench/common.event) into
its wire format ahead of time, then sends them from concurrent client processes to a
fresh `logcycle serve` (SQLite) and is timed from the first request to the last commit.
HTTP senders finish when the last answer came (an answer means committed); syslog has no
answers, so its run ends when the last event's id is readable. Native JSON runs first and
last (the machine is shared: the two runs show the drift); each protocol's share is of
their mean. Every run is bounded by --events and --max-seconds.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import random
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cramjam
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, Server, event, free_port

from logcycle.ingest.protocols.loki_pb import PushRequest

HEADERS = {"Authorization": f"Bearer {KEY}"}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def native(batch: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(batch)


def _extra(e: dict[str, Any]) -> dict[str, Any]:
    return {"action_name": e["action_name"], "client_ip": e["client_ip"],
            "duration_ms": e["duration_ms"]}


def es_bulk(batch: list[dict[str, Any]]) -> bytes:
    lines = []
    for e in batch:
        lines.append(b'{"create":{"_index":"bench"}}')
        lines.append(orjson.dumps({"@timestamp": iso(e["instant"]), "message": e["message"],
                                   "log.level": e["message_type"],
                                   "service.name": e["module_name"],
                                   "trace.id": e["request_key"], **_extra(e)}))
    return b"\n".join(lines) + b"\n"


def loki_protobuf(batch: list[dict[str, Any]]) -> bytes:
    req = PushRequest()
    streams: dict[tuple[str, str], Any] = {}
    for e in batch:
        key = (e["module_name"], e["message_type"])
        if key not in streams:
            streams[key] = req.streams.add(
                labels=f'{{service_name="{key[0]}", level="{key[1]}"}}')
        entry = streams[key].entries.add(line=e["message"])
        entry.timestamp.seconds, ms = divmod(e["instant"], 1000)
        entry.timestamp.nanos = ms * 1_000_000
        for name, value in (("trace_id", e["request_key"]), *_extra(e).items()):
            entry.structuredMetadata.add(name=name, value=str(value))
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def clef(batch: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps({"@t": iso(e["instant"]), "@m": e["message"],
                                    "@l": e["message_type"], "SourceContext": e["module_name"],
                                    "@tr": e["request_key"], **_extra(e)}) for e in batch)


def syslog_5424(batch: list[dict[str, Any]]) -> bytes:
    frames = []
    for e in batch:
        sev = {"Error": 3, "Information": 6, "Debug": 7}[e["message_type"]]
        line = (f"<{16 * 8 + sev}>1 {iso(e['instant'])} web-1 {e['module_name']} - - "
                f"[req@1 key=\"{e['request_key']}\" action=\"{e['action_name']}\" "
                f"ip=\"{e['client_ip']}\"] {e['message']}").encode()
        frames.append(b"%d %s" % (len(line), line))
    return b"".join(frames)


@dataclass(frozen=True)
class Sender:
    name: str
    encode: Callable[[list[dict[str, Any]]], bytes]
    path: str = ""  # "" : syslog over TCP
    content_type: str = "application/json"
    ok: int = 200


SENDERS = [
    Sender("native JSON", native, "/api/v1/events"),
    Sender("ES bulk", es_bulk, "/es/_bulk", "application/x-ndjson"),
    Sender("Loki protobuf", loki_protobuf, "/loki/api/v1/push", "application/x-protobuf", 204),
    Sender("CLEF", clef, "/ingest/clef", "application/vnd.serilog.clef", 201),
    Sender("syslog TCP", syslog_5424),
]


def http_client(port: int, sender: Sender, bodies: list[bytes], go: Any, deadline: float,
                out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {**HEADERS, "Content-Type": sender.content_type}
    go.wait()
    for body in bodies:
        if time.monotonic() > deadline:
            break
        while True:
            conn.request("POST", sender.path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status == 503:
                time.sleep(0.05)
                continue
            if r.status != sender.ok:
                raise SystemExit(f"{sender.name}: HTTP {r.status}")
            break
        out.value += 1
    conn.close()


def tcp_client(port: int, bodies: list[bytes], go: Any, deadline: float, out: Any) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        go.wait()
        for body in bodies:
            if time.monotonic() > deadline:
                break
            sock.sendall(body)
            out.value += 1


def last_id(url: str) -> int:
    req = urllib.request.Request(url + "/api/v1/events?limit=1", headers=HEADERS)  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
        events = orjson.loads(r.read())["events"]
    return int(events[0]["id"]) if events else 0


def run(sender: Sender, batches: list[list[dict[str, Any]]], clients: int,
        max_seconds: float) -> tuple[float, int]:
    """(events/s, events sent) of one sender against a fresh server."""
    bodies = [sender.encode(b) for b in batches]
    syslog_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data", "--syslog-tcp", str(syslog_port))
        try:
            go = mp.Event()
            deadline = time.monotonic() + max_seconds + 30
            sent = [mp.Value("i", 0) for _ in range(clients)]
            procs = [mp.Process(target=http_client if sender.path else tcp_client,
                                args=((server.port, sender) if sender.path else
                                      (syslog_port,)) + (bodies[c::clients], go, deadline,
                                                         sent[c]))
                     for c in range(clients)]
            for p in procs:
                p.start()
            time.sleep(0.5)
            t0 = time.perf_counter()
            go.set()
            for p in procs:
                p.join()
            n = sum(len(batches[i]) for c in range(clients)
                    for i in range(c, c + clients * sent[c].value, clients))
            if not sender.path:
                while last_id(server.url) < n and time.perf_counter() - t0 < max_seconds + 60:
                    time.sleep(0.01)
            elapsed = time.perf_counter() - t0
        finally:
            server.stop()
    return n / elapsed, n


def _best_us(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e6 / n


def parse_costs(batch: list[dict[str, Any]]) -> None:
    """In process, µs an event: each adapter's translation and the per-item validation
    beside the native decoder on the same batch (where the gap above comes from)."""
    from logcycle.ingest.decode import BatchDecoder
    from logcycle.ingest.protocols import clef as clef_in
    from logcycle.ingest.protocols import es_bulk as es_in
    from logcycle.ingest.protocols import loki as loki_in
    from logcycle.ingest.protocols import syslog as syslog_in
    from logcycle.ingest.protocols.common import ClockRule

    now, n = int(time.time() * 1000), len(batch)
    dec = BatchDecoder(max_future_ms=10**9, max_batch=10**6)
    clock = ClockRule(now_ms=now, max_future_ms=10**9)
    fields = es_in.Fields.of("", "")
    frames = syslog_in.Framer(1 << 20).feed(syslog_5424(batch))
    nb, eb, cb, lb = native(batch), es_bulk(batch), clef(batch), loki_protobuf(batch)
    items = es_in.parse_bulk(eb, None, fields, clock).items
    rows = [("native JSON: decode_json (validation)", lambda: dec.decode_json(nb, now_ms=now)),
            ("adapters: decode_each (validation)", lambda: dec.decode_each(items, now_ms=now)),
            ("ES bulk: translation", lambda: es_in.parse_bulk(eb, None, fields, clock)),
            ("Loki protobuf: translation", lambda: loki_in.parse_protobuf(lb, clock, 1 << 30)),
            ("CLEF: translation", lambda: clef_in.parse_clef(cb, clock)),
            ("syslog: translation", lambda: [syslog_in.parse(f, clock, UTC) for f in frames])]
    print(f"\nin process, µs an event (best of 5, {n} events):")
    for name, fn in rows:
        print(f"  {name:<40} {_best_us(fn, n):6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--only", default="", help="comma-separated sender names")
    args = ap.parse_args()
    rng = random.Random(7)
    now = int(time.time() * 1000)
    events = [event(rng, now - 60_000 + i % 60_000) for i in range(args.events)]
    batches = [events[i:i + args.batch] for i in range(0, len(events), args.batch)]
    chosen = [s for s in SENDERS if not args.only or s.name in args.only.split(",")]
    order = [*chosen, SENDERS[0]] if chosen and chosen[0] is SENDERS[0] else chosen
    results: list[tuple[str, float, int]] = []
    for sender in order:
        rate, n = run(sender, batches, args.clients, args.max_seconds)
        results.append((sender.name, rate, n))
        print(f"  {sender.name:<14} {rate:>9,.0f} events/s ({n:,} events)", flush=True)
    natives = [r for name, r, _ in results if name == "native JSON"]
    base = sum(natives) / len(natives) if natives else float("nan")
    print(f"\n{args.events:,} events of ~400 bytes, batches of {args.batch}, {args.clients} "
          f"clients, SQLite, fresh server per run; native JSON first and last "
          f"({' / '.join(f'{r:,.0f}' for r in natives)} events/s)")
    print(f"{'sender':<14} {'events/s':>10} {'of native':>10}")
    for name, rate, _ in results[:len(chosen)]:
        print(f"{name:<14} {rate:>10,.0f} {rate / base:>10.0%}")
    parse_costs(batches[0])


if __name__ == "__main__":
    main()
