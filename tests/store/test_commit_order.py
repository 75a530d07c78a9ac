"""PostgreSQL writers overlap and still commit in id order (store/postgres.py): a group
waits for the group that reserved before it, so a reader that sees id N sees every id
below N that will ever be committed, across connections and processes."""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from logcycle.errors import StoreUnavailable
from logcycle.ingest.tasks import ALL, DeclareEntity, EventBatch, RecordBatch
from logcycle.store.base import Store
from logcycle.store.postgres import parse_url
from tests import pg
from tests.conftest import T0
from tests.store.test_contract import err, events, open_store, q

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> Iterator[str]:
    with pg.fresh_schema() as u:
        yield u


@pytest.fixture
def store(url: str, tmp_path: Path) -> Iterator[Store]:
    s = open_store(url, tmp_path)
    yield s
    s.close()


def session(url: str) -> psycopg.Connection[Any]:
    """A connection of its own in the store's schema (another process, as it were)."""
    conninfo, schema_name = parse_url(url)
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute(f'SET search_path TO "{schema_name}"')
    return conn


def wait_for_lock_waiter(url: str, event: str = "advisory", timeout: float = 10.0) -> None:
    """Until a logcycle connection waits on a lock of this kind (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(pg.PG_URL, autocommit=True) as admin:
        while time.monotonic() < deadline:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                "= 'logcycle-writer' AND wait_event_type = 'Lock' AND wait_event = "
                                "%s", (event,)).fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.01)
    raise AssertionError(f"no logcycle connection waited on a lock ({event})")


def background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


@pytest.mark.parametrize("ending", ["COMMIT", "ROLLBACK"])
def test_a_group_commits_only_after_the_group_that_reserved_before_it(
        store: Store, url: str, ending: str) -> None:
    earlier = session(url)
    try:
        earlier.execute("BEGIN")
        _, first, _ = earlier.execute("SELECT lc_reserve(3)").fetchone()[0]
        later, out = background(lambda: store.apply([EventBatch(events(err("later")), None,
                                                                "p", scope=ALL)], T0))
        wait_for_lock_waiter(url)
        assert later.is_alive()  # its COPY is done; its commit waits for the earlier group
        assert q(store, "SELECT count(*) FROM oslog_error") == [(0,)]
        earlier.execute(ending)
        later.join(10)
        assert not later.is_alive()
        ((ids,),) = out
        assert ids[0] == first + 3  # ids in the order of reservation
        assert q(store, "SELECT id, message FROM oslog_error") == [(ids[0], "later")]
    finally:
        earlier.close()


def test_the_same_idempotency_key_written_by_an_earlier_group_gives_its_ids(
        store: Store, url: str) -> None:
    """A retried batch reaches two writers at once: the later one waits for the earlier
    one's key, then answers with the earlier one's ids and rolls its own rows back."""
    earlier = session(url)
    try:
        earlier.execute("BEGIN")
        earlier.execute("SELECT lc_reserve(1)")
        earlier.execute("INSERT INTO lc_idempotency (key, principal, ids, created) VALUES "
                        "('K', 'p', '[777]', %s)", (T0,))
        later, out = background(lambda: store.apply(
            [EventBatch(events(err("twice")), "K", "p", scope=ALL),
             EventBatch(events(err("bystander")), None, "p", scope=ALL)], T0))
        wait_for_lock_waiter(url, "transactionid")
        earlier.execute("COMMIT")
        later.join(10)
        assert out[0][0] == [777]
        assert isinstance(out[0][1], list)  # the other batch of the group is kept
        assert q(store, "SELECT message FROM oslog_error") == [("bystander",)]
    finally:
        earlier.close()


def test_a_key_deadlock_between_two_groups_fails_one_whole_and_changes_nothing(
        store: Store, url: str) -> None:
    """The later group wrote the key first and waits for the earlier group's turn, which
    then writes the same key: PostgreSQL breaks the deadlock by failing one of them.
    Here the later group fails as a whole (503, retry) and nothing of it stays."""
    earlier = session(url)
    try:
        # PostgreSQL fails the session whose deadlock_timeout ends first; the later group
        # waits first, but on a loaded machine the earlier one's check could come first.
        earlier.execute("SET deadlock_timeout = '10s'")
        earlier.execute("BEGIN")
        earlier.execute("SELECT lc_reserve(1)")

        def later_group() -> Any:
            try:
                return store.apply([EventBatch(events(err("later")), "K", "p", scope=ALL)], T0)
            except StoreUnavailable as exc:
                return exc

        later, out = background(later_group)
        wait_for_lock_waiter(url)
        earlier.execute("INSERT INTO lc_idempotency (key, principal, ids, created) VALUES "
                        "('K', 'p', '[777]', %s)", (T0,))
        earlier.execute("COMMIT")
        later.join(10)
        assert isinstance(out[0], StoreUnavailable) and "retry" in out[0].message
        assert q(store, "SELECT count(*) FROM oslog_error") == [(0,)]
        assert store.apply([EventBatch(events(err("later")), "K", "p", scope=ALL)], T0) == [[777]]
    finally:
        earlier.close()


def test_a_record_group_has_the_store_to_itself_and_still_waits_its_turn(
        store: Store, url: str) -> None:
    """Records, entities and maintenance hold the store's lock for their whole
    transaction: no group reserves meanwhile, and they commit in their turn too."""
    store.apply([DeclareEntity("orders", {"amount": "integer"})], T0)
    earlier = session(url)
    try:
        earlier.execute("BEGIN")
        earlier.execute("SELECT lc_reserve(1)")
        rec, rec_out = background(lambda: store.apply([RecordBatch("orders", [{"amount": 1}])],
                                                      T0))
        wait_for_lock_waiter(url)
        other = session(url)
        try:
            other.execute("SET lock_timeout = 300")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT lc_reserve(1)")  # the record group holds the store
        finally:
            other.close()
        earlier.execute("COMMIT")
        rec.join(10)
        assert rec_out == [[[1]]]
    finally:
        earlier.close()


def test_overlapping_writers_never_reveal_an_id_below_one_already_seen(
        url: str, tmp_path: Path) -> None:
    """Four writers (two stores of two lanes, as two processes would) commit batches of
    random sizes while a reader polls the highest id and the count at or below it. A
    later look must find the same count below every highest id seen: nothing committed
    later may land under it."""
    stores = [open_store(url, tmp_path / str(i)) for i in range(2)]
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    problems: list[BaseException] = []

    def write(store: Store, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(25):
                n = rng.choice([1, 5, 50, 500, 2000])
                store.apply([EventBatch(events(*[err(f"e{i}") for i in range(n)]), None,
                                        "p", scope=ALL)], T0)
        except BaseException as exc:  # reported by the test
            problems.append(exc)

    def poll() -> None:
        with session(url) as conn:
            while not stop.is_set():
                row = conn.execute("SELECT max(id), count(*) FROM oslog_error").fetchone()
                if row and row[0] is not None:
                    seen.append((int(row[0]), int(row[1])))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    writers = [threading.Thread(target=write, args=(s, 10 * i + lane), daemon=True)
               for i, s in enumerate(stores) for lane in range(2)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(120)
    stop.set()
    poller.join(10)
    for s in stores:
        s.close()
    assert not problems
    assert len(seen) > 20
    with session(url) as conn:
        ids = sorted(r[0] for r in conn.execute("SELECT id FROM oslog_error").fetchall())
    assert len(ids) == len(set(ids))
    late = [(top, count, bisect.bisect_right(ids, top)) for top, count in seen
            if bisect.bisect_right(ids, top) != count]
    assert late == []
