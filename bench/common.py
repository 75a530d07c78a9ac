"""Shared helpers of the benchmarks: synthetic events, a server subprocess, memory."""

from __future__ import annotations

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LOGCYCLE_API_KEY": KEY}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logcycle", "serve", "--data", str(data), "--port",
             str(self.port), "--log-level", "warning", *extra], env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
