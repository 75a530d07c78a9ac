"""Connection and header attacks on a real server, with /health timed during each.

    .venv/bin/python bench/overload.py --attacks [--before SRC] [--json FILE]

Each attack runs for a few seconds (every loop bounded in count and time) against a fresh
server while a probe opens a new connection and reads ``/health`` every 0.1 s; the table
prints the probe's latency during each attack beside the figure with no attack. With
``--before SRC`` (a ``src`` directory of another version, e.g. ``git archive`` of an
older commit) the same attacks run against that version too, in the same run.

- idle: N sockets that connect and send nothing (2,000, and 20,000 from as many client
  processes as the client's open-file limit needs);
- slowloris: 2,000 sockets sending one header byte a second and never the end;
- oversized headers: 4 connections at once each sending a 64 MB header;
- endless chunked body: 20 connections sending a chunk every 50 ms forever.
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, free_port, wait_ready

ATTACK_S = 4.0


@dataclass
class Probe:
    """/health on a new connection every 0.1 s: latencies and failures."""

    port: int
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.1):
            t = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/health")
                ok = conn.getresponse().status == 200
                conn.close()
            except (OSError, http.client.HTTPException):
                ok = False
            if ok:
                self.latencies.append(time.monotonic() - t)
            else:
                self.failures += 1

    def summary(self) -> dict[str, Any]:
        s = sorted(self.latencies)
        return {"p50_ms": 1000 * s[len(s) // 2] if s else None,
                "max_ms": 1000 * s[-1] if s else None, "answered": len(s),
                "failed": self.failures}


def _connect(port: int) -> socket.socket | None:
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return None


def _closed_by_server(socks: list[socket.socket]) -> int:
    """How many of ``socks`` the server has answered or closed (data, EOF or reset)."""
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(65536, socket.MSG_PEEK)
            n += 1
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n


def _idle_part(port: int, count: int, out: Any) -> None:
    """One client process's share of the idle sockets: (opened, closed by the server)."""
    socks = [s for s in (_connect(port) for _ in range(count)) if s is not None]
    time.sleep(ATTACK_S * 3)  # beyond the 10 s header timeout
    out.put((len(socks), _closed_by_server(socks)))
    for s in socks:
        s.close()


def idle(port: int, count: int) -> dict[str, Any]:
    """``count`` sockets that send nothing, from as many processes as the client's own
    open-file limit needs (each process holds at most the limit less 200)."""
    per = _per_process()
    procs = math.ceil(count / per)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    parts = [ctx.Process(target=_idle_part, args=(port, min(per, count - i * per), out))
             for i in range(procs)]
    for p in parts:
        p.start()
    got = [out.get(timeout=ATTACK_S * 3 + 120) for _ in parts]
    for p in parts:
        p.join(30)
    return {"opened": sum(g[0] for g in got), "closed_by_server": sum(g[1] for g in got),
            "client_processes": procs}


def slowloris(port: int, count: int = 2000) -> dict[str, Any]:
    socks = [s for s in (_connect(port) for _ in range(count)) if s is not None]
    for s in socks:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    end = time.monotonic() + ATTACK_S * 3  # beyond the 10 s header timeout
    alive = list(socks)
    while time.monotonic() < end and alive:
        keep = []
        for s in alive:
            try:
                s.sendall(b"X")
                keep.append(s)
            except OSError:
                pass
        alive = keep
        time.sleep(1.0)
    out = {"opened": len(socks), "closed_by_server": _closed_by_server(socks)}
    for s in socks:
        s.close()
    return out


def _huge_header(port: int, mb: int, out: list[str]) -> None:
    s = _connect(port)
    if s is None:
        out.append("no connection")
        return
    t = time.monotonic()
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * (1 << 20)
        for _ in range(mb):
            s.sendall(chunk)
        s.sendall(b"\r\n\r\n")
        s.settimeout(30)
        status = s.recv(64).split(b"\r\n")[0].decode(errors="replace")
    except OSError as exc:
        status = f"closed ({type(exc).__name__})"
    out.append(f"{status} in {time.monotonic() - t:.1f} s")
    s.close()


def _huge_headers_for(port: int, mb: int, until: float, out: list[str]) -> None:
    _huge_header(port, mb, out)
    while time.monotonic() < until:
        _huge_header(port, mb, out)


def huge_headers(port: int, parallel: int = 4, mb: int = 64) -> dict[str, Any]:
    """``parallel`` connections at once, each sending ``mb`` MB headers again and again
    for ATTACK_S seconds (at least once)."""
    answers: list[str] = []
    until = time.monotonic() + ATTACK_S
    ts = [threading.Thread(target=_huge_headers_for, args=(port, mb, until, answers))
          for _ in range(parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    first = sorted(set(a.split(" in ")[0] for a in answers))
    slowest = max((float(a.split(" in ")[1].split()[0]) for a in answers), default=0.0)
    return {"headers_sent": len(answers), "answers": "/".join(first),
            "slowest_s": round(slowest, 1)}


def _endless(port: int, seconds: float, out: list[float]) -> None:
    s = _connect(port)
    if s is None:
        return
    s.sendall(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: " + KEY.encode()
              + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    t = time.monotonic()
    try:
        while time.monotonic() - t < seconds:
            s.sendall(b"1\r\n \r\n")
            time.sleep(0.05)
        out.append(float("inf"))  # still open at the end
    except OSError:
        out.append(time.monotonic() - t)
    s.close()


def endless_bodies(port: int, count: int = 20, seconds: float = 40.0) -> dict[str, Any]:
    held: list[float] = []
    ts = [threading.Thread(target=_endless, args=(port, seconds, held)) for _ in range(count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 10)
    cut = [h for h in held if h != float("inf")]
    return {"connections": count, "cut_by_server": len(cut),
            "held_max_s": round(max(held, default=0.0), 1)}


def _server(src: Path | None, data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOGCYCLE_API_KEY": KEY}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return subprocess.Popen([sys.executable, "-m", "logcycle", "serve", "--data", str(data),
                             "--port", str(port), "--log-level", "critical"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)



def _per_process() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return max(100, hard - 200)


def run_all(src: Path | None, tmp: Path) -> dict[str, Any]:
    """Every attack against one version (``src`` None: this checkout), one server each."""
    attacks: list[tuple[str, Any]] = [
        ("no attack", lambda p: (time.sleep(ATTACK_S), {})[1]),
        ("2,000 idle connections", lambda p: idle(p, 2000)),
        ("20,000 idle connections", lambda p: idle(p, 20_000)),
        ("2,000 slowloris connections", slowloris),
        ("4 x 64 MB headers at once", huge_headers),
        ("20 endless chunked bodies", endless_bodies),
    ]
    results: dict[str, Any] = {}
    for i, (name, attack) in enumerate(attacks):
        port = free_port()
        server = _server(src, tmp / f"data-{i}", port)
        try:
            wait_ready(port, 30)
            probe = Probe(port)
            t = threading.Thread(target=probe.run, daemon=True)
            t.start()
            detail = attack(port)
            probe.stop.set()
            t.join()
            results[name] = {"health": probe.summary(), "detail": detail,
                             "server_alive": server.poll() is None}
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return results


def table(now: dict[str, Any], before: dict[str, Any] | None) -> str:
    def cell(r: dict[str, Any]) -> str:
        h = r["health"]
        if h["p50_ms"] is None:
            return f"no answer ({h['failed']} failed)"
        fail = f", {h['failed']} failed" if h["failed"] else ""
        return f"{h['p50_ms']:.0f} / {h['max_ms']:.0f} ms{fail}"

    def did(r: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in r["detail"].items()) or "-"

    head = "| attack | /health p50 / max, this code | " + \
        ("before | " if before else "") + "what the server did | " + \
        ("before |" if before else "")
    lines = [head, "|" + " --- |" * (5 if before else 3)]
    for name, r in now.items():
        row = [name, cell(r)] + ([cell(before[name])] if before else []) + [did(r)]
        row += [did(before[name])] if before else []
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
