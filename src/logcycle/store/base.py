"""The store: a small Protocol with one implementation per engine (SQLite, PostgreSQL).

The writer thread calls :meth:`Store.apply` with a group of tasks and commits them in one
transaction; queries call :meth:`Store.fetch` from the read threads. The same contract
tests (tests/store/) run against every implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from logcycle.ingest.tasks import WriteTask
from logcycle.store.schema import Dialect
from logcycle.store.search import MessageQuery, MessageResult


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What a maintenance run did: the week it brought the store to, the tables it emptied."""

    week: int
    current_cycle: int
    previous_cycle: int
    emptied: tuple[int, ...]
    held: dict[int, int | None]
    rotated: bool


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """``refused``: why no write is acknowledged any more (None: writes are taken);
    ``warnings``: what fails behind the writes (they are still taken)."""

    refused: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        return [p for p in (self.refused, *self.warnings) if p]


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: int
    hash: str
    scope: str
    name: str | None
    src_prefix: str | None
    created: int
    revoked: int | None


Rows = tuple[list[str], list[tuple[Any, ...]]]


class Store(Protocol):
    dialect: Dialect
    url: str
    # Writer threads that may call apply() at once (1: the writer thread only).
    write_lanes: int

    def open(self, now_ms: int, *, maintain: bool = True) -> MaintenanceReport | None:
        """Create or check the schema and catch up rotation; returns what maintenance did."""
        ...

    def apply(self, tasks: Sequence[WriteTask], now_ms: int) -> list[Any]:
        """Commit ``tasks`` in one transaction (writer threads only, at most
        ``write_lanes`` at once). Each result is the
        task's answer or the LogcycleError that failed it alone; a failure of the whole
        transaction raises."""
        ...

    def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        """Run one read-only query; column names and rows. Any thread."""
        ...

    def request_key_condition(self, kind: str, cycle: int, request_key: str) -> \
            tuple[str, list[Any]]:
        """A WHERE fragment (and its parameters) selecting one request's rows of
        ``oslog_<kind>_<cycle>``, using whatever index the engine keeps for it."""
        ...

    def attribute_condition(self, kind: str, cycle: int, key: str, value: str) -> \
            tuple[str, list[Any]] | None:
        """A WHERE fragment (and its parameters) selecting the rows of
        ``oslog_<kind>_<cycle>`` whose ``attributes.<key>`` equals ``value`` as the query
        language compares it, through an index the engine keeps (SQLite: built behind the
        writer, store/sqlite_fields.py); None when it keeps none for it."""
        ...

    def search_messages(self, query: MessageQuery) -> MessageResult:
        """One page of the rows of ``query.kind`` whose ``message`` matches
        ``query.pattern`` (case-insensitive LIKE, exact) and ``query.where``, in the
        query's order, and the total when asked. Each engine reads with its own index:
        SQLite an FTS5 trigram index built behind the writer plus a scan of the rows not
        indexed yet (store/sqlite_search.py), PostgreSQL pg_trgm under ILIKE. Read threads."""
        ...

    @property
    def has_deferred_indexes(self) -> bool:
        """True if the writer must run Reindex tasks to keep lookups fast."""
        ...

    def search_index_lag(self) -> tuple[int, float]:
        """How far the message index trails the newest row of the current week: (rows
        not indexed yet, seconds of ingest from the oldest of them to the newest row).
        Read threads."""
        ...

    def search_index_behind(self) -> float | None:
        """The lag in seconds when it passed ``search_index_max_lag_s`` (None: within
        it), as the indexer last measured it; cheap, for the write path."""
        ...

    def held(self) -> dict[int, int | None]:
        """The week each cycle's tables hold (None: empty)."""
        ...

    def entities(self) -> dict[str, dict[str, str]]:
        """Declared record entities and their typed columns."""
        ...

    def table_sizes(self) -> dict[str, int]:
        """Row count of each ``oslog_<kind>_<n>`` table that holds rows."""
        ...

    def add_key(self, hash_: str, scope: str, name: str | None, src_prefix: str | None,
                now_ms: int) -> int: ...

    def list_keys(self) -> list[KeyRow]: ...

    def small_write(self, sql: str, params: tuple[Any, ...]) -> int:
        """One statement (error-group status, alert rules and state) in a short
        transaction of its own, from any thread; the number of rows it changed."""
        ...

    def small_writes(self, sql: str, rows: list[tuple[Any, ...]], *,
                     returning: bool = False) -> list[tuple[Any, ...]]:
        """``sql`` once per row of parameters, in one short transaction of its own (any
        thread); with ``returning``, what the statements returned."""
        ...

    def small_transaction(self, steps: Sequence[tuple[str, tuple[Any, ...]]], *,
                          returning: bool = False) -> list[tuple[Any, ...]]:
        """Each (statement, parameters) in order in one short transaction of its own, all
        or none (an alert's new state and its pending notifications); with
        ``returning``, what the statements returned."""
        ...

    def revoke_key(self, key_id: int, now_ms: int) -> bool: ...

    def keys_version(self) -> object:
        """A value that changes whenever a key is added or revoked, by this process or
        another (``logcycle keys``): compared on every request, so it must be cheap."""
        ...

    def health(self) -> StoreHealth:
        """Why the store refuses writes (its files were deleted) and what fails behind it
        (checkpoints), in words for /health and /api/v1/status."""
        ...

    def close(self) -> None: ...
