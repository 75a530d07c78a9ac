"""The alert scheduler: every second, each due rule is claimed (store/alertrules.py: one
process wins each run), measured (conditions.py), and notified only when its state
changes: ``ok`` → ``firing`` sends ``firing``, ``firing`` → ``ok`` sends ``resolved``.
The state lives in the store, so it survives restarts and is shared by every process;
the notifications are written to the outbox in the same transaction as the new states,
and sent from there (delivery.py): a kill between the two loses nothing.

The clock is injected: tests call :meth:`Scheduler.tick` after moving a ManualClock.

    s = Scheduler(store, clock, notifier, tz=UTC, public_url="http://127.0.0.1:5380")
    s.tick()
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import msgspec
import orjson

from logcycle.alerts import conditions
from logcycle.alerts.delivery import MAX_OUTBOX, Notifier, Result, outbox_rows
from logcycle.alerts.notify import Note
from logcycle.alerts.rules import NewGroup, Regressed, Rule, targets
from logcycle.clock import Clock
from logcycle.errors import LogcycleError
from logcycle.store import alertrules as sql
from logcycle.store import faults
from logcycle.store.base import Store

log = logging.getLogger("logcycle.alerts")
TICK_S = 1.0
KEEP_DELIVERIES = 20


class Scheduler:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier, *, tz: ZoneInfo,
                 public_url: str) -> None:
        self.store, self.clock, self.notifier = store, clock, notifier
        self.tz = tz
        self.public_url = public_url.rstrip("/")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deliveries = threading.Lock()
        self.runs = 0

    def start(self) -> None:
        self.notifier.start()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="logcycle-alerts")
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(30)
            self._thread = None
        self.notifier.stop()

    def _loop(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick()
            except LogcycleError as exc:
                log.warning("alert evaluation failed: %s", exc.message)
            except Exception:  # a bug in one run must not stop the scheduler
                log.exception("alert evaluation failed")

    def tick(self) -> int:
        """Run every due rule this process can claim; the number run."""
        now = self.clock.now_ms()
        d = self.store.dialect
        _, rows = self.store.fetch(sql.select_sql(d, f" WHERE next_run <= {d.param}"), [now])
        if not rows:
            return 0
        claims = [(now, int(r[0]), now) for r in rows]
        mine = {int(r[0]) for r in self.store.small_writes(sql.claim_sql(d), claims,
                                                           returning=True)}
        saves: list[tuple[Any, ...]] = []
        notes: list[tuple[Note, Rule]] = []
        lows: dict[tuple[int, int], int] = {}  # window bounds shared by the rules of a tick
        for row in rows:
            a = sql.as_dict(row)
            if a["id"] in mine:
                self._run(a, now, lows, saves, notes)
        outbox = self._outbox(notes)
        if saves or outbox:  # the new states and their notifications: all or none
            self.store.small_transaction([*((sql.save_sql(d), s) for s in saves),
                                          *((sql.outbox_insert_sql(d), r) for r in outbox)])
        if outbox:
            faults.kill_point("alert-saved")  # test-only: a kill -9 between saving and sending
            self.notifier.poke()
        self.runs += len(mine)
        return len(mine)

    def _outbox(self, notes: list[tuple[Note, Rule]]) -> list[tuple[Any, ...]]:
        """The outbox rows of this tick's notifications, unless the outbox is full (a
        target down for long, rules that flap): then each is recorded as dropped."""
        rows = [r for note, rule in notes for r in outbox_rows(note, rule.notify)]
        if not rows:
            return []
        _, n = self.store.fetch("SELECT count(*) FROM lc_alert_outbox", ())
        if int(n[0][0]) + len(rows) <= MAX_OUTBOX:
            return rows
        for note, rule in notes:
            for t in targets(rule):
                self.record(note.alert_id, self.notifier.result(
                    note, t, False, 0, f"dropped: {MAX_OUTBOX:,} notifications are waiting"))
        return []

    def _run(self, a: dict[str, Any], now: int, lows: dict[tuple[int, int], int],
             saves: list[tuple[Any, ...]], notes: list[tuple[Note, Rule]]) -> None:
        rule = msgspec.json.decode(a["rule"], type=Rule)
        if not rule.enabled:
            return
        try:
            m = conditions.measure(self.store, rule, now, a["mark"], self.tz, lows)
        except LogcycleError as exc:
            saves.append((a["state"], a["state_since"], a["value"], a["mark"], now,
                          exc.message, a["id"]))
            return
        state = "firing" if m.firing else "ok"
        since = a["state_since"] if state == a["state"] else now
        mark = m.mark if m.mark is not None else a["mark"]
        saves.append((state, since, m.value, mark, now, None, a["id"]))
        if state != a["state"]:
            started = now if state == "firing" else int(a["state_since"] or now)
            notes.append((Note(int(a["id"]), rule.name,
                               "firing" if state == "firing" else "resolved", m.value,
                               m.threshold, rule.query, msgspec.to_builtins(rule.condition),
                               started, now, link(self.public_url, rule, now), m.groups), rule))

    def record(self, alert_id: int, result: Result) -> None:
        """Keep a delivery's outcome with its rule (the last KEEP_DELIVERIES)."""
        with self._deliveries:
            p = self.store.dialect.param
            _, rows = self.store.fetch(f"SELECT deliveries FROM lc_alerts WHERE id = {p}",
                                       [alert_id])
            if not rows:
                return
            kept = [*orjson.loads(rows[0][0]), result][-KEEP_DELIVERIES:]
            self.store.small_write(sql.deliveries_sql(self.store.dialect),
                                   (orjson.dumps(kept).decode(), alert_id))


def link(public_url: str, rule: Rule, now: int) -> str:
    """The page showing what the rule counts, in the fragment the page reads
    (web/static/search.js, errors.js): the Errors view with the status of the groups
    it fires on, else the search of the rule's query over its window."""
    base = public_url.rstrip("/")
    if isinstance(rule.condition, NewGroup | Regressed):
        p = ({"status": "regressed", "order": "last_seen"}
             if isinstance(rule.condition, Regressed)
             else {"status": "unresolved", "order": "first_seen"})
        return f"{base}/#errors?{urlencode(p, quote_via=quote)}"
    window = getattr(rule.condition, "window_s", 300) * 1000
    q = {"q": rule.query} if rule.query and rule.query.strip() else {}
    params = urlencode({**q, "start": now - window + 1, "end": now}, quote_via=quote)
    return f"{base}/#search?{params}"
