"""Alert rules in the store: add, list, replace, remove (the API and ``logcycle alerts``).

    alert_id = add(store, parse_rule(body), now_ms)
    [a["name"] for a in list_alerts(store)]
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from logcycle.alerts.rules import Rule, rule_json, shown
from logcycle.errors import Conflict, LogcycleError, NotFound
from logcycle.store import alertrules as sql
from logcycle.store.base import Store


def _row(rule: Rule, now: int) -> tuple[Any, ...]:
    # name, rule, every_s, next_run (due at once), state, state_since, value, mark,
    # last_run, last_error, deliveries, created, updated
    return (rule.name, rule_json(rule), rule.every_s, now, "ok", None, None, None, None, None,
            "[]", now, now)


def _taken(store: Store, name: str, but: int | None = None) -> bool:
    p = store.dialect.param
    _, rows = store.fetch(f"SELECT id FROM lc_alerts WHERE name = {p}", [name])
    return any(int(r[0]) != but for r in rows)


def add(store: Store, rule: Rule, now: int) -> int:
    if _taken(store, rule.name):
        raise Conflict(f"an alert named {rule.name!r} exists: choose another name, or PUT "
                       "/api/v1/alerts/{id} to change it", code="alert_exists")
    try:
        store.small_write(sql.insert_sql(store.dialect), _row(rule, now))
    except LogcycleError:
        if _taken(store, rule.name):  # the same name, added meanwhile by another process
            raise Conflict(f"an alert named {rule.name!r} exists",
                           code="alert_exists") from None
        raise
    p = store.dialect.param
    _, rows = store.fetch(f"SELECT id FROM lc_alerts WHERE name = {p}", [rule.name])
    return int(rows[0][0])


def replace(store: Store, alert_id: int, rule: Rule, now: int) -> None:
    if _taken(store, rule.name, but=alert_id):
        raise Conflict(f"another alert is named {rule.name!r}", code="alert_exists")
    if store.small_write(sql.replace_sql(store.dialect), (rule.name, rule_json(rule),
                                                          rule.every_s, now, now, alert_id)) == 0:
        raise NotFound(f"no alert {alert_id}")


def remove(store: Store, alert_id: int) -> None:
    if store.small_write(sql.delete_sql(store.dialect), (alert_id,)) == 0:
        raise NotFound(f"no alert {alert_id}")


def shape(row: tuple[Any, ...]) -> dict[str, Any]:
    """A stored alert as the API shows it: the rule (secrets hidden) and its state."""
    a = sql.as_dict(row)
    deliveries = orjson.loads(a["deliveries"])
    return {"id": a["id"], **shown(msgspec.json.decode(a["rule"], type=Rule)),
            "state": a["state"], "state_since": a["state_since"], "value": a["value"],
            "last_run": a["last_run"], "next_run": a["next_run"], "last_error": a["last_error"],
            "failed_deliveries": [d for d in deliveries if not d["ok"]][-5:],
            "deliveries": deliveries}


def list_alerts(store: Store, alert_id: int | None = None) -> list[dict[str, Any]]:
    where = "" if alert_id is None else f" WHERE id = {store.dialect.param}"
    _, rows = store.fetch(sql.select_sql(store.dialect, where),
                          [] if alert_id is None else [alert_id])
    return [shape(r) for r in rows]
