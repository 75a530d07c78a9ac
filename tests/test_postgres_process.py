"""Several real server processes on one PostgreSQL store: kill -9 of one while clients
write through both, `serve --workers N`, and the refusals of `serve` that say what to do."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests import pg
from tests.conftest import ADMIN, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg.fresh_schema() as url:
        yield url


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    conninfo, schema = url.split("?schema=")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return conn.execute(query).fetchall()  # type: ignore[arg-type]  # literals only


class Shipper:
    """Client threads that send batches of unique messages, each batch with its own
    Idempotency-Key, and retry a batch (on any server) until it is acknowledged."""

    def __init__(self, urls: list[str], threads: int = 4) -> None:
        self.urls = urls
        self.acked: dict[str, list[int]] = {}
        self.stop = threading.Event()
        self._n = itertools.count()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        choices = itertools.cycle(self.urls[i % len(self.urls):] + self.urls[:i % len(self.urls)])
        with httpx.Client(headers={"Authorization": ADMIN}, timeout=10) as c:
            while not self.stop.is_set():
                batch = f"b{next(self._n)}"
                body = [{"kind": "general", "instant": 1_700_000_000_000,
                         "message": f"{batch}-{j}"} for j in range(50)]
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    url = next(choices)
                    try:
                        r = c.post(url + "/api/v1/events", json=body,
                                   headers={"Idempotency-Key": batch})
                    except httpx.HTTPError:
                        continue  # that server is gone: the same batch goes to another
                    if r.status_code == 200:
                        with self._lock:
                            self.acked[batch] = r.json()["ids"]
                        break
                    time.sleep(0.05)

    def __enter__(self) -> Shipper:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.acked.values())

    def wait_for(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.count() >= n, f"only {self.count()} events acknowledged"


def listed_ids(url: str) -> list[int]:
    """Every general event's id, by the native API's keyset pages."""
    out: list[int] = []
    after = None
    with httpx.Client(headers={"Authorization": ADMIN}, timeout=30) as c:
        while True:
            params: dict[str, Any] = {"limit": 1000, "kind": "general"}
            if after:
                params["after"] = after
            body = c.get(url + "/api/v1/events", params=params).json()
            out.extend(e["id"] for e in body["events"])
            after = body["next"]
            if not after:
                return out


def check_stored_once(store_url: str, server_url: str, shipper: Shipper) -> None:
    ids = [i for v in shipper.acked.values() for i in v]
    assert len(ids) == len(set(ids))
    listed = listed_ids(server_url)
    assert len(listed) == len(set(listed)) and listed == sorted(listed, reverse=True)
    assert set(ids) <= set(listed)
    assert sql(store_url, "SELECT message FROM oslog_general GROUP BY message "
                          "HAVING count(*) > 1") == []
    stored = dict(sql(store_url, "SELECT message, id FROM oslog_general"))
    for batch, batch_ids in shipper.acked.items():
        assert [stored[f"{batch}-{j}"] for j in range(50)] == batch_ids


def test_kill_9_of_one_of_two_servers(pg_url: str, server_factory: Any,
                                      tmp_path: Path) -> None:
    a: ServerProcess = server_factory("--store", pg_url, data=tmp_path / "a").start()
    b: ServerProcess = server_factory("--store", pg_url, data=tmp_path / "b").start()
    with Shipper([a.url, b.url]) as shipper:
        shipper.wait_for(3000)
        a.kill()
        before = shipper.count()
        shipper.wait_for(before + 2000)
    check_stored_once(pg_url, b.url, shipper)
    b.stop()


def worker_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(p) for p in children
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def test_workers_share_the_port_and_a_killed_worker_comes_back(
        pg_url: str, server_factory: Any) -> None:
    s: ServerProcess = server_factory("--store", pg_url, "--workers", "2").start()
    assert s.proc is not None
    deadline = time.monotonic() + 20
    while len(worker_pids(s.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    first = worker_pids(s.proc.pid)
    assert len(first) == 2
    with Shipper([s.url]) as shipper:
        shipper.wait_for(2000)
        subprocess.run(["kill", "-9", str(first[0])], check=True)
        before = shipper.count()
        shipper.wait_for(before + 2000)
    deadline = time.monotonic() + 20
    while len(worker_pids(s.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    now = worker_pids(s.proc.pid)
    assert len(now) == 2 and first[0] not in now
    check_stored_once(pg_url, s.url, shipper)
    s.stop()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logcycle", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_serve_refusals_say_what_to_do(pg_url: str, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    r = run_cli("serve", "--data", data, "--workers", "2")
    assert r.returncode == 1 and "needs a PostgreSQL store" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("serve", "--data", data, "--store", pg_url, "--write-lanes", "9")
    assert r.returncode == 1 and "--write-lanes must be 0 to 8, got 9" in r.stderr
    r = run_cli("serve", "--data", data, "--store", "postgresql://postgres@127.0.0.1:1/test")
    assert r.returncode == 1 and "cannot connect to PostgreSQL" in r.stderr
    assert "check that it runs" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("keys", "list", "--data", data, "--store", pg_url)  # creates the schema
    assert r.returncode == 0, r.stderr
    sql(pg_url, "UPDATE lc_meta SET value = 999 WHERE name = 'schema_version' RETURNING 1")
    r = run_cli("serve", "--data", data, "--store", pg_url)
    assert r.returncode == 1 and "upgrade logcycle" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_keys_and_maintain_commands_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    common = ("--data", str(tmp_path / "data"), "--store", pg_url)
    r = run_cli("keys", "create", "--scope", "read", "--name", "reader", *common)
    assert r.returncode == 0, r.stderr
    listing = run_cli("keys", "list", *common).stdout
    assert "reader" in listing and r.stdout.split()[-1] not in listing
    assert run_cli("keys", "revoke", "1", *common).returncode == 0
    r = run_cli("maintain", "--now", "2026-11-28T00:00:00Z", *common)
    assert r.returncode == 0 and "current cycle 4" in r.stdout
    assert sql(pg_url, "SELECT week FROM lc_cycles WHERE cycle = 4") == [(1404,)]
