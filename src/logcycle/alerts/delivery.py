"""Delivering alert notifications at least once, none holding up another.

The scheduler writes each notification, one row per target, into the outbox table
(``lc_alert_outbox``, store/alertrules.py) in the same transaction as the rule's new
state; only then is anything sent. The :class:`Notifier` takes rows from the outbox:

- a row is **leased** (a compare-and-set on ``lease_until``) before it is sent, so of
  several processes on one store one sends it; a process that dies holding a lease
  leaves the row to be taken again when the lease runs out, and a row it wrote but never
  leased (killed right after the commit) is taken at once by whichever process runs next;
- a row is deleted once delivered or after its last attempt (the outcome goes to
  ``on_result``: the rule's ``deliveries``); hence **at least once**: a process killed
  between a successful send and the delete sends that notification again later;
- sends run on a small pool of threads (``WORKERS``), **one at a time per target**
  (a webhook URL, an address), oldest first: a target that hangs holds one thread for at
  most the timeout, and its back-off is a scheduled retry, not a sleeping thread, so the
  other targets go on being served (each pass looks at the oldest row of every target,
  so a backlog for one hides no other); a rule's ``resolved`` never overtakes its
  ``firing``.

    n = Notifier(store, smtp_url="smtp://mail:25", on_result=print, now_ms=clock.now_ms)
    n.start(); n.poke(); n.wait_idle(5)
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from logcycle.alerts.notify import DeliveryError, Note, post_webhook, send_mail, where
from logcycle.alerts.rules import Email, Target, Webhook
from logcycle.errors import LogcycleError
from logcycle.store import alertrules as sql
from logcycle.store.base import Store

log = logging.getLogger("logcycle.alerts")
ATTEMPTS = 4
TIMEOUT_S = 10.0
WORKERS = 4
SCAN_LIMIT = 200  # targets looked at per scan: the one waiting longest first
POLL_S = 2.0  # a look at the outbox at least this often (rows of processes that died)
MAX_OUTBOX = 10_000  # pending rows beyond which new notifications are dropped (and said so)

Result = dict[str, Any]
Key = tuple[int, int, int]  # (alert_id, at, target_no)


def _typed(t: dict[str, str]) -> Target:
    return msgspec.convert(t, Webhook) if "webhook" in t else msgspec.convert(t, Email)


def outbox_rows(note: Note, notify: list[dict[str, str]]) -> list[tuple[Any, ...]]:
    """The outbox rows of ``note`` for a rule's ``notify`` list (outbox_insert_sql)."""
    body = orjson.dumps(dataclasses.asdict(note)).decode()
    return [(note.alert_id, note.at, i, where(_typed(t)), body, orjson.dumps(t).decode())
            for i, t in enumerate(notify)]


@dataclass(slots=True)
class Job:
    key: Key
    note: Note
    target: Target
    attempts: int

    @property
    def dest(self) -> str:
        return where(self.target)


def _job(row: tuple[Any, ...]) -> Job:
    alert_id, at, no, _, note, target, attempts, _ = row
    n = orjson.loads(note)
    n["groups"] = tuple(n.get("groups") or ())
    return Job((int(alert_id), int(at), int(no)), Note(**n), _typed(orjson.loads(target)),
               int(attempts))


class Notifier:
    def __init__(self, store: Store, *, smtp_url: str = "",
                 smtp_from: str = "logcycle@localhost",
                 on_result: Callable[[int, Result], None], backoff_s: float = 1.0,
                 now_ms: Callable[[], int], workers: int = WORKERS) -> None:
        self.store = store
        self.smtp_url, self.smtp_from = smtp_url, smtp_from
        self.on_result = on_result
        self.backoff_s = backoff_s
        self.timeout_s = TIMEOUT_S
        self.now_ms = now_ms
        self.workers = workers
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy: set[str] = set()  # targets with a send running or a retry waiting
        self._retries: list[tuple[float, int, Job]] = []  # (monotonic due, n, job): a heap
        self._running = 0
        self._n = 0
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # -- life -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            with self._lock:  # what a previous run left is in the outbox, leased or not
                self._busy.clear()
                self._retries.clear()
                self._running = 0
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="logcycle-notify")
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="logcycle-outbox")
            self._thread.start()

    def stop(self) -> None:
        """Stop taking rows; sends under way finish (or time out) on their own, and rows
        not delivered stay in the outbox for the next start."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(30)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def poke(self) -> None:
        """New rows are in the outbox: look now."""
        self._wake.set()

    def lease_ms(self) -> int:
        """How long a lease lasts: longer than one attempt and the wait before the next."""
        return int((2 * self.timeout_s + 2 ** ATTEMPTS * self.backoff_s) * 1000) + 30_000

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the outbox is empty and no send runs (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                quiet = self._running == 0 and not self._retries
            if quiet and not self.store.fetch("SELECT 1 FROM lc_alert_outbox LIMIT 1", ())[1]:
                return True
            self._wake.set()
            time.sleep(0.02)
        return False

    # -- the dispatcher -------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._due_retries()
                self._scan()
            except LogcycleError as exc:
                log.warning("alert outbox: %s", exc.message)
            except Exception:  # a bug in one pass must not stop the deliveries
                log.exception("alert outbox failed")
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        with self._lock:
            if self._retries:
                return max(0.0, min(POLL_S, self._retries[0][0] - time.monotonic()))
        return POLL_S

    def _due_retries(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._retries or self._retries[0][0] > now or \
                        self._running >= self.workers:
                    return
                _, _, job = heapq.heappop(self._retries)
                self._running += 1
            self._submit(job)

    def _scan(self) -> None:
        """Start the oldest pending notification of each target that is free, as long as
        threads are free: a target with a backlog never hides the others."""
        d = self.store.dialect
        _, heads = self.store.fetch(sql.outbox_heads_sql(d), [SCAN_LIMIT])
        now = self.now_ms()
        for dest, _ in heads:
            with self._lock:
                if self._running >= self.workers:
                    return
                if dest in self._busy:  # sending, or waiting for a retry
                    continue
            _, rows = self.store.fetch(sql.outbox_head_sql(d), [dest])
            if not rows or int(rows[0][-1]) > now:
                continue  # sent meanwhile, or leased by another process: it goes first
            job = _job(rows[0])
            if not self.store.small_writes(sql.outbox_claim_sql(d),
                                           [(now + self.lease_ms(), *job.key, now)],
                                           returning=True):
                continue
            with self._lock:
                self._busy.add(dest)
                self._running += 1
            self._submit(job)

    def _submit(self, job: Job) -> None:
        pool = self._pool
        if pool is None:
            with self._lock:
                self._running -= 1
                self._busy.discard(job.dest)
            return
        try:
            pool.submit(self._attempt, job)
        except RuntimeError:  # shut down meanwhile: the row stays leased, then retried
            with self._lock:
                self._running -= 1
                self._busy.discard(job.dest)

    # -- one attempt ----------------------------------------------------------------------
    def _attempt(self, job: Job) -> None:
        done = True
        try:
            done = self._try(job)
        except Exception:  # a bug in one delivery must not stop the others
            log.exception("alert delivery failed")
        finally:
            with self._lock:
                self._running -= 1
                if done:
                    self._busy.discard(job.dest)
            self._wake.set()

    def _try(self, job: Job) -> bool:
        """One send; True when the row is finished with (delivered or given up)."""
        d = self.store.dialect
        job.attempts += 1
        try:
            self.send(job.note, job.target)
            error = ""
        except DeliveryError as exc:
            error = str(exc)
            log.warning("alert %r: delivery to %s failed (attempt %d): %s", job.note.alert,
                        job.dest, job.attempts, error)
        if error and job.attempts < ATTEMPTS:
            self.store.small_write(sql.outbox_retry_sql(d), (
                job.attempts, self.now_ms() + self.lease_ms(), *job.key))
            with self._lock:
                self._n += 1
                due = time.monotonic() + self.backoff_s * 2 ** (job.attempts - 1)
                heapq.heappush(self._retries, (due, self._n, job))
            return False
        self.store.small_write(sql.outbox_delete_sql(d), job.key)
        self.on_result(job.note.alert_id, self.result(job.note, job.target, not error,
                                                      job.attempts, error))
        return True

    def send(self, note: Note, target: Target) -> None:
        """One attempt at one target; DeliveryError when it failed."""
        if isinstance(target, Webhook):
            post_webhook(target, note, timeout_s=self.timeout_s)
        else:
            send_mail(self.smtp_url, self.smtp_from, target, note, timeout_s=self.timeout_s)

    def result(self, note: Note, target: Target, ok: bool, attempts: int,
               error: str) -> Result:
        return {"at": self.now_ms(), "state": note.state, "target": where(target), "ok": ok,
                "attempts": attempts, "error": error or None}
