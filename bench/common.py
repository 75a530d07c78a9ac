"""Shared helpers of the benchmarks: synthetic events, a server subprocess, memory."""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

KEY = "bench-admin-key"
MODULES = ["shop", "billing", "auth", "search", "catalog", "mobile_api", "reports"]
ACTIONS = ["Checkout", "Login", "RenderPage", "SyncOrders", "ExportCsv", "GetPrice"]
WORDS = ("request processed for customer order payment timeout retry cache miss user "
         "session invalid token refreshed upstream latency database query slow index "
         "scan").split()


def message(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 22)))


def event(rng: random.Random, instant: int) -> dict[str, Any]:
    """A ~400-byte general event with a request key: the common case of a log line."""
    return {"kind": "general", "instant": instant, "message": message(rng),
            "message_type": rng.choice(["Information", "Debug", "Error"]),
            "module_name": rng.choice(MODULES), "action_name": rng.choice(ACTIONS),
            "request_key": str(uuid.UUID(int=rng.getrandbits(128))),
            "client_ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "duration_ms": round(rng.random() * 500, 2)}


def wait_ready(port: int, timeout_s: float = 60) -> None:
    """Until ``GET /health`` on 127.0.0.1:``port`` answers 200 (RuntimeError after
    ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``logcycle serve`` as a subprocess. ``src``: run the package from that source
    tree (another checkout's ``src``, to measure old against new code in one run);
    ``env``: more environment variables."""

    def __init__(self, data: Path, *extra: str, src: str = "",
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LOGCYCLE_API_KEY": KEY, **(env or {})}
        if src:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logcycle", "serve", "--data", str(data), "--port",
             str(self.port), "--log-level", "warning", *extra], env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:  # noqa: S310
                    if r.status == 200 and self._workers_ready():
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def _workers_ready(self) -> bool:
        """Whether the protocol workers (code that has them) have started: their start-up
        (a forkserver importing the adapters, ~0.5 s of CPU) is not part of a run."""
        req = urllib.request.Request(self.url + "/api/v1/status",  # noqa: S310
                                     headers={"Authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310
            workers = json.loads(r.read()).get("protocol_workers")
        return workers is None or workers["workers"] == 0 or bool(workers["ready"])

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class CpuMeter:
    """CPU seconds by group of processes between start() and stop(), and the machine's
    idle share, from /proc: where the cores went during a measured phase.

        meter = CpuMeter(); meter.start(); ...; meter.stop(); print(meter.summary())

    Groups: ``server`` (the process ``server_pid`` and its descendants: logcycle serve and
    its workers), ``postgres`` (every PostgreSQL process), ``other`` (the rest, clients
    included). A process that ended between the two readings is missed, so run it across
    processes that live through the phase."""

    def __init__(self, server_pid: int, pg_url: str = "") -> None:
        self.server_pid = server_pid
        self.pg_url = pg_url  # when set, PostgreSQL backends are split by application_name
        self.tick = os.sysconf("SC_CLK_TCK")
        self._start: dict[int, tuple[str, float]] = {}
        self._machine0 = (0.0, 0.0)
        self.seconds: dict[str, float] = {}
        self.idle_share = 0.0
        self.wall = 0.0

    def _procs(self) -> dict[int, tuple[str, float]]:
        seen: dict[int, tuple[str, int, float]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / self.tick
            seen[int(entry.name)] = ("postgres" if comm == "postgres" else "other",
                                     int(fields[1]), cpu)
        out = {}
        for pid, (group, _, cpu) in seen.items():
            chain = pid
            while chain > 1 and chain != self.server_pid:
                chain = seen[chain][1] if chain in seen else 0
            out[pid] = ("server" if chain == self.server_pid else group, cpu)
        return out

    def _machine(self) -> tuple[float, float]:
        parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(parts) / self.tick, (parts[3] + parts[4]) / self.tick  # total, idle+iowait

    def start(self) -> None:
        self._start = self._procs()
        self._machine0 = self._machine()
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._t0
        total0, idle0 = self._machine0
        total1, idle1 = self._machine()
        self.idle_share = (idle1 - idle0) / max(total1 - total0, 1e-9)
        self.seconds = {}
        apps: dict[int, str] = {}
        if self.pg_url:
            import psycopg
            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                apps = {int(pid): str(app) for pid, app in conn.execute(
                    "SELECT pid, application_name FROM pg_stat_activity").fetchall() if app}
        for pid, (group, cpu) in self._procs().items():
            if group == "postgres" and pid in apps:
                group = f"postgres ({apps[pid]})"
            before = self._start.get(pid)
            used = cpu - (before[1] if before is not None else 0.0)
            self.seconds[group] = self.seconds.get(group, 0.0) + used

    def summary(self) -> str:
        cores = ", ".join(f"{g} {s / self.wall:.2f}" for g, s in sorted(self.seconds.items()))
        return f"cores used: {cores}; machine idle {self.idle_share:.0%}"
