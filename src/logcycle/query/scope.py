"""What one caller may read: the single place where a key's ``--src-prefix`` limits reads.

Query functions never get the store itself. They get a :class:`Reader`, which the service
builds from the caller's principal (``await svc.read(principal, fn, ...)`` calls
``fn(reader, ...)``), and every read of an event table goes through
:meth:`Reader.select` or :meth:`Reader.search`, which add the scope's conditions to the
SQL. A query function (or a route added later) cannot read events around it: it has no
other handle on the tables.

A key limited to a prefix sees only ``general`` events whose ``src`` starts with the
prefix (the only events it may write); the other kinds have no ``src`` and are not
visible to it at all. Store-wide data (records, entities, status) is refused to it.

    reader = Reader(store, Scope(src_prefix="dev/"))
    names, rows = reader.select("general", 3, "*", ["id < ?"], [10], tail="LIMIT 5")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from logcycle.cycles import CYCLES
from logcycle.keys import Scope
from logcycle.kinds import KINDS
from logcycle.store import schema
from logcycle.store.base import Rows, Store
from logcycle.store.schema import Dialect
from logcycle.store.search import MessageQuery, MessageResult

__all__ = ["Reader", "Scope", "scope_clauses", "store_wide"]

T = TypeVar("T")


def store_wide(reader: Reader, what: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(store, *args)`` for data that has no source (``what``: error groups, alert
    rules): refused (403) to a key limited to a source prefix.

        await svc.read(principal, store_wide, "alert rules", registry.list_alerts)
    """
    return fn(reader.store_wide(what), *args)


def scope_clauses(scope: Scope, p: str) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (bound parameters) keeping a table's rows in ``scope``.
    ``substr`` counts characters and compares exactly on both engines (``LIKE`` would
    ignore case in SQLite, and a range would depend on PostgreSQL's collation)."""
    if scope.src_prefix is None:
        return [], []
    return [f"substr(src, 1, CAST({p} AS INTEGER)) = {p}"], \
        [len(scope.src_prefix), scope.src_prefix]


class Reader:
    """The store as one caller may read it: event tables only through the scope."""

    def __init__(self, store: Store, scope: Scope) -> None:
        self._store = store
        self.scope = scope
        self.dialect: Dialect = store.dialect

    def held(self) -> dict[int, int | None]:
        return self._store.held()

    def kinds(self, kinds: Iterable[str] = KINDS) -> tuple[str, ...]:
        return self.scope.kinds(kinds)

    def select(self, kind: str, cycle: int, columns: str, where: Sequence[str],
               params: Sequence[Any], *, tail: str = "", tail_params: Sequence[Any] = (),
               head_params: Sequence[Any] = (), alias: str = "") -> Rows:
        """``SELECT columns FROM oslog_<kind>_<cycle> [AS alias] WHERE where AND <scope>
        tail``; parameters in that order. No rows (and no query) for a kind out of scope."""
        if not self.kinds((kind,)):
            return [], []
        extra, extra_params = scope_clauses(self.scope, self.dialect.param)
        # Each condition in parentheses: one holding OR cannot loosen the scope's.
        conds = " AND ".join(f"({c})" for c in (*where, *extra))
        if alias and not alias.isidentifier():
            raise ValueError(f"not an alias: {alias!r}")
        sql = (f"SELECT {columns} FROM {schema.table(kind, cycle % CYCLES)}"
               + (f" AS {alias}" if alias else "")
               + (f" WHERE {conds}" if conds else "") + (f" {tail}" if tail else ""))
        return self._store.fetch(sql, [*head_params, *params, *extra_params, *tail_params])

    def side(self, kind: str, sql: str, params: Sequence[Any]) -> Rows:
        """A query of a table kept beside ``kind``'s events (its duration summaries,
        store/summary.py), which hold no source: no rows for a kind out of scope."""
        if not self.kinds((kind,)) or self.scope.limited:
            return [], []
        return self._store.fetch(sql, params)

    def search(self, q: MessageQuery) -> MessageResult:
        """The store's message search, limited to the scope."""
        if not self.kinds((q.kind,)):
            return MessageResult([], 0 if q.count else None)
        extra, extra_params = scope_clauses(self.scope, self.dialect.param)
        where = tuple(f"({c})" for c in (*q.where, *extra))
        return self._store.search_messages(replace(q, where=where,
                                                   params=(*q.params, *extra_params)))

    def request_key_condition(self, kind: str, cycle: int, request_key: str) -> \
            tuple[str, list[Any]]:
        return self._store.request_key_condition(kind, cycle, request_key)

    def attribute_condition(self, kind: str, cycle: int, key: str, value: str) -> \
            tuple[str, list[Any]] | None:
        return self._store.attribute_condition(kind, cycle, key, value)

    def newest_id(self, weeks: Sequence[int]) -> int:
        """The largest id committed in ``weeks`` over every kind: a number, no event,
        whatever the scope (a live tail polls it to know when to read)."""
        parts = [f"SELECT max(id) AS m FROM {schema.table(kind, week % CYCLES)}"
                 for week in weeks for kind in KINDS]
        if not parts:
            return 0
        _, rows = self._store.fetch(f"SELECT max(m) FROM ({' UNION ALL '.join(parts)}) "
                                    "AS newest", [])
        return int(rows[0][0] or 0)

    def store_wide(self, what: str) -> Store:
        """The whole store, for data that has no source (records, entities, status):
        refused to a key limited to a source prefix."""
        self.scope.require_all(what)
        return self._store
