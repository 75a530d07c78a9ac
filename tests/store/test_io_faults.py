"""I/O errors of the disk other than a full one: whichever statement of a write
transaction fails, nothing of it is acknowledged unless it is stored, the API answers 503
with the store's message and a Retry-After, and the next write works by itself.

The fault is injected where SQLite would raise it: the store's own write connection
raises ``sqlite3.OperationalError`` (SQLITE_IOERR_WRITE) at a chosen statement.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.ingest.tasks import IndexSearch, Reindex
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store import faults
from logcycle.store.base import Store
from logcycle.store.factory import make_store
from logcycle.store.sqlite import SQLiteStore
from tests import pg
from tests.conftest import ADMIN, T0, error_event


def io_error() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("disk I/O error")
    exc.sqlite_errorcode = sqlite3.SQLITE_IOERR_WRITE  # type: ignore[attr-defined]
    exc.sqlite_errorname = "SQLITE_IOERR_WRITE"  # type: ignore[attr-defined]
    return exc


class FlakyConnection:
    """The store's write connection; statements starting with ``fail_on`` raise an I/O
    error (``after``: once they have run, as an fsync failing after the write)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.fail_on: str | None = None
        self.after = False
        self.hits = 0

    def _run(self, method: str, sql: str, *args: Any) -> Any:
        hit = self.fail_on is not None and sql.lstrip().startswith(self.fail_on)
        if hit and not self.after:
            self.hits += 1
            raise io_error()
        result = getattr(self.conn, method)(sql, *args)
        if hit:
            self.hits += 1
            raise io_error()
        return result

    def execute(self, sql: str, *args: Any) -> Any:
        return self._run("execute", sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._run("executemany", sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


class FlakyDiskStore(SQLiteStore):
    """The real SQLite store writing through a FlakyConnection."""

    flaky: FlakyConnection

    def open(self, now_ms: int, *, maintain: bool = True) -> Any:
        report = super().open(now_ms, maintain=maintain)
        assert self._writer is not None
        self.flaky = FlakyConnection(self._writer)
        return report

    def _wconn(self) -> Any:
        return self.flaky


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[TestClient, FlakyDiskStore, Service]]:
    settings = Settings(data=tmp_path / "data")
    store = FlakyDiskStore(settings.store_url, tz=settings.tz, retention_weeks=9)
    svc = Service(settings, clock=ManualClock(T0), store=store, bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        yield c, store, svc
    svc.close()


def rows(store: Store) -> set[tuple[str, int, str]]:
    """(kind, id, message) of every stored event that has a message."""
    out: set[tuple[str, int, str]] = set()
    for kind in ("general", "error"):
        for c in range(10):
            _, got = store.fetch(f"SELECT id, message FROM oslog_{kind}_{c}", ())
            out |= {(kind, int(i), str(m)) for i, m in got}
    return out


def mixed_batch(tag: str) -> list[dict[str, Any]]:
    # general rows are inserted first, then error rows: a fault on the second insert
    # leaves the first one written inside the transaction, to be rolled back.
    return [{"kind": "general", "instant": T0, "message": f"{tag} general"},
            error_event(0, message=f"{tag} error")]


@pytest.mark.parametrize(("fail_on", "after"), [
    ("INSERT INTO oslog_error", False),  # mid-transaction, after other rows were written
    ("COMMIT", False),  # the commit itself
    ("INSERT INTO lc_idempotency", False),  # the idempotency record, last before COMMIT
])
def test_a_failed_write_stores_nothing_answers_503_and_recovers(
        flaky: tuple[TestClient, FlakyDiskStore, Service], fail_on: str, after: bool) -> None:
    c, store, svc = flaky
    store.flaky.fail_on, store.flaky.after = fail_on, after
    r = c.post("/api/v1/events", json=mixed_batch("lost"), headers={"Idempotency-Key": "k1"})
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"].isdigit()
    message = r.json()["error"]["message"]
    assert "cannot take writes" in message and "disk I/O error" in message
    assert store.flaky.hits >= 1
    assert rows(store) == set()
    assert svc.ready and svc.writer.failures >= 1
    store.flaky.fail_on = None  # the disk works again: no restart, no operator
    r = c.post("/api/v1/events", json=mixed_batch("lost"), headers={"Idempotency-Key": "k1"})
    assert r.status_code == 200, r.text
    general_id, error_id = r.json()["ids"]
    assert rows(store) == {("general", general_id, "lost general"),
                           ("error", error_id, "lost error")}


def test_a_commit_whose_answer_failed_is_stored_once_on_retry(
        flaky: tuple[TestClient, FlakyDiskStore, Service]) -> None:
    """An fsync error after the data reached the file: the batch may be stored though the
    answer was a 503. The client's retry with the same Idempotency-Key stores nothing more
    and gets the ids of the stored events."""
    c, store, _ = flaky
    store.flaky.fail_on, store.flaky.after = "COMMIT", True
    r = c.post("/api/v1/events", json=mixed_batch("once"), headers={"Idempotency-Key": "k2"})
    assert r.status_code == 503
    stored = rows(store)
    store.flaky.fail_on = None
    r = c.post("/api/v1/events", json=mixed_batch("once"), headers={"Idempotency-Key": "k2"})
    assert r.status_code == 200
    assert rows(store) == stored == {("general", r.json()["ids"][0], "once general"),
                                     ("error", r.json()["ids"][1], "once error")}


def test_the_fault_file_knob_fails_writes_while_it_exists(tmp_path: Path,
                                                          settings: Settings) -> None:
    """LOGCYCLE_FAULT_FILE (store/faults.py), on every store: ``ioerr`` stores nothing,
    ``ioerr-after-commit`` stores and fails the answer; both recover when it is removed."""
    trigger = tmp_path / "fault"
    store = faults.wrap(make_store(settings), {faults.FILE_ENV: str(trigger)})
    svc = Service(settings, clock=ManualClock(T0), store=store, bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        def post(key: str) -> Any:
            return c.post("/api/v1/events", json=[error_event(1, message=key)],
                          headers={"Idempotency-Key": key})

        def count() -> int:
            return len(c.get("/api/v1/events", params={"limit": 1000}).json()["events"])

        trigger.write_text("ioerr\n")
        r = post("a")
        assert r.status_code == 503 and "disk I/O error" in r.json()["error"]["message"]
        assert count() == 0
        trigger.write_text("ioerr-after-commit")
        assert post("b").status_code == 503
        assert count() == 1
        trigger.unlink()
        a, b = post("a"), post("b")
        assert a.status_code == b.status_code == 200
        assert count() == 2  # b's retry did not store it again
        listed = c.get("/api/v1/events").json()["events"]
        assert {e["id"] for e in listed} == {a.json()["ids"][0], b.json()["ids"][0]}
    svc.close()


@pytest.mark.postgres
def test_postgresql_connections_cut_under_the_server_come_back(tmp_path: Path) -> None:
    """PostgreSQL restarted or failed over: every connection of the store is cut. Writes
    and reads answer 503 or succeed on a new connection; nothing acknowledged is lost."""
    with pg.fresh_schema() as url:
        svc = Service(Settings(data=tmp_path / "data", store=url), clock=ManualClock(T0),
                      bootstrap_key=ADMIN)
        with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
            acked = c.post("/api/v1/events", json=[error_event(0)]).json()["ids"]
            assert c.get("/api/v1/events").status_code == 200  # a read connection exists
            store: Any = svc.store
            pids = [conn.info.backend_pid for conn in [*store._writers, *store._readers]]
            with psycopg.connect(pg.PG_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
                              (pids,))
            # Each cut connection fails at most one call (the writer's, each reader's,
            # the key cache's): then a new connection is made.
            for i in range(1, 11):
                r = c.post("/api/v1/events", json=[error_event(i)])
                if r.status_code == 200:
                    acked += r.json()["ids"]
                    break
                assert r.status_code == 503 and "retry" in r.json()["error"]["message"]
            assert r.status_code == 200
            for _ in range(10):
                r = c.get("/api/v1/events", params={"limit": 100})
                if r.status_code == 200:
                    break
                assert r.status_code == 503
            assert r.status_code == 200
            assert {e["id"] for e in r.json()["events"]} == set(acked)
        svc.close()


class BuggyBackgroundSteps:
    """The real store, whose index steps behind the writer raise what no one expected."""

    def __init__(self, inner: Store) -> None:
        self.inner, self.dialect, self.url = inner, inner.dialect, inner.url
        self.raised = 0

    def apply(self, tasks: Any, now_ms: int) -> list[Any]:
        if any(isinstance(t, IndexSearch | Reindex) for t in tasks):
            self.raised += 1
            raise RuntimeError("a bug in a step behind the writer")
        return list(self.inner.apply(tasks, now_ms))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_bug_behind_the_writer_does_not_stop_the_writer(tmp_path: Path) -> None:
    """Before: the exception ended the writer thread, and every later write waited for an
    answer forever."""
    settings = Settings(data=tmp_path / "data")
    store = BuggyBackgroundSteps(make_store(settings))
    svc = Service(settings, clock=ManualClock(T0), store=store,  # type: ignore[arg-type]
                  bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        for i in range(3):
            r = c.post("/api/v1/events", json=[error_event(i)])
            assert r.status_code == 200
            svc.clock.advance(2000)  # type: ignore[attr-defined]  # reindex is due again
            deadline = time.monotonic() + 5
            while store.raised <= i and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)
            assert svc.ready, "the writer thread died"  # else the next POST would hang
        assert store.raised >= 3
        assert len(c.get("/api/v1/events").json()["events"]) == 3
    svc.close()
