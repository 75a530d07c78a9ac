"""The alert rules table, ``lc_alerts``: a rule's JSON and its state (firing or ok, since
when, the last value, a watermark for the error-group conditions, recent deliveries).

A run is claimed by moving ``next_run`` forward with a compare-and-set: of several
processes that saw the same due rule, exactly one changes the row (the others update no
row), so each run is evaluated and notified once; a process that dies after claiming
only delays the rule to its next run.
"""

from __future__ import annotations

from typing import Any

from logcycle.store.schema import Dialect

COLUMNS = ("id", "name", "rule", "every_s", "next_run", "state", "state_since", "value",
           "mark", "last_run", "last_error", "deliveries", "created", "updated")


OUTBOX_COLUMNS = ("alert_id", "at", "target_no", "dest", "note", "target", "attempts",
                  "lease_until")


def ddl(d: Dialect) -> list[str]:
    b, t = d.bigint, d.text
    return [f"CREATE TABLE IF NOT EXISTS lc_alerts (id {b} PRIMARY KEY, name {t} NOT NULL "
            f"UNIQUE, rule {t} NOT NULL, every_s {b} NOT NULL, next_run {b} NOT NULL, "
            f"state {t} NOT NULL, state_since {b}, value {d.real}, mark {b}, last_run {b}, "
            f"last_error {t}, deliveries {t} NOT NULL, created {b} NOT NULL, "
            f"updated {b} NOT NULL)",
            # The outbox: one row per notification and target, written in the transaction
            # that stores the rule's new state, deleted once delivered (or given up).
            # ``dest`` names the target (a webhook URL, an address): sends to one go in
            # order, one at a time.
            f"CREATE TABLE IF NOT EXISTS lc_alert_outbox (alert_id {b} NOT NULL, at {b} NOT "
            f"NULL, target_no {b} NOT NULL, dest {t} NOT NULL, note {t} NOT NULL, "
            f"target {t} NOT NULL, attempts {b} NOT NULL, lease_until {b} NOT NULL, "
            "PRIMARY KEY (alert_id, at, target_no))",
            "CREATE INDEX IF NOT EXISTS lc_alert_outbox_dest ON lc_alert_outbox (dest, at)"]


def outbox_insert_sql(d: Dialect) -> str:
    """A pending notification (alert_id, at, target_no, dest, note, target): not leased."""
    return (f"INSERT INTO lc_alert_outbox ({', '.join(OUTBOX_COLUMNS)}) VALUES "
            f"({d.params(6)}, 0, 0)")


def outbox_heads_sql(d: Dialect) -> str:
    """The targets with something pending, the one waiting longest first (a limit)."""
    return (f"SELECT dest, min(at) FROM lc_alert_outbox GROUP BY dest ORDER BY 2, 1 "
            f"LIMIT {d.param}")


def outbox_head_sql(d: Dialect) -> str:
    """A target's oldest pending notification (dest): a rule's firing before its resolved."""
    return (f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM lc_alert_outbox WHERE dest = {d.param} "
            "ORDER BY at, alert_id, target_no LIMIT 1")


_KEY = "alert_id = {p} AND at = {p} AND target_no = {p}"


def outbox_claim_sql(d: Dialect) -> str:
    """Lease a pending notification (lease_until, key..., now): the key comes back when
    it is ours; a lease that ran out (its process died) may be taken again."""
    p = d.param
    return (f"UPDATE lc_alert_outbox SET lease_until = {p} WHERE {_KEY.format(p=p)} AND "
            f"lease_until <= {p} RETURNING alert_id")


def outbox_retry_sql(d: Dialect) -> str:
    """After a failed attempt (attempts, lease_until, key...)."""
    p = d.param
    return (f"UPDATE lc_alert_outbox SET attempts = {p}, lease_until = {p} "
            f"WHERE {_KEY.format(p=p)}")


def outbox_delete_sql(d: Dialect) -> str:
    return f"DELETE FROM lc_alert_outbox WHERE {_KEY.format(p=d.param)}"


def insert_sql(d: Dialect) -> str:
    return (f"INSERT INTO lc_alerts ({', '.join(COLUMNS)}) VALUES ((SELECT COALESCE(MAX(id), 0) "
            f"+ 1 FROM lc_alerts), {d.params(len(COLUMNS) - 1)})")


def select_sql(d: Dialect, where: str = "") -> str:
    return f"SELECT {', '.join(COLUMNS)} FROM lc_alerts{where} ORDER BY id"


def replace_sql(d: Dialect) -> str:
    """New rule for an id (name, rule, every_s, next_run, updated, id): the state starts over."""
    p = d.param
    return (f"UPDATE lc_alerts SET name = {p}, rule = {p}, every_s = {p}, next_run = {p}, "
            f"state = 'ok', state_since = NULL, value = NULL, mark = NULL, last_error = NULL, "
            f"updated = {p} WHERE id = {p}")


def delete_sql(d: Dialect) -> str:
    return f"DELETE FROM lc_alerts WHERE id = {d.param}"


def claim_sql(d: Dialect) -> str:
    """Take a due run (now, id, now): the id comes back when the run is ours. The row lock
    and the re-check of ``next_run`` give each run to one process, whoever else tries."""
    p = d.param
    return (f"UPDATE lc_alerts SET next_run = {p} + every_s * 1000 WHERE id = {p} AND "
            f"next_run <= {p} RETURNING id")


def save_sql(d: Dialect) -> str:
    """After a run (state, state_since, value, mark, last_run, last_error, id)."""
    p = d.param
    return (f"UPDATE lc_alerts SET state = {p}, state_since = {p}, value = {p}, mark = {p}, "
            f"last_run = {p}, last_error = {p} WHERE id = {p}")


def deliveries_sql(d: Dialect) -> str:
    p = d.param
    return f"UPDATE lc_alerts SET deliveries = {p} WHERE id = {p}"


def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(COLUMNS, row, strict=True))
