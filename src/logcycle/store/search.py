"""Message search, engine-neutral: what a query asks for and how the shared SQL is built.

A search reads the ``message`` column of one kind's cycle tables. Each cycle is read
through one or more *arms* (an arm is ``FROM … WHERE …`` with its parameters): an engine
without a search index has one arm per cycle that scans with ``LIKE``; the SQLite store
has two, the rows its FTS5 trigram index covers and the tail it does not cover yet (see
:mod:`logcycle.store.sqlite_search`). Rows ordered by ``id`` are read arm by arm and stop
as soon as the page is full; other orders sort all arms in one compound query.

    q = MessageQuery(kind="general", cycles=(3, 2), columns=("id", "message"),
                     pattern=MessagePattern("%disk%", ("disk",)), limit=25)
    result = store.search_messages(q)
    result.rows, result.total
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from logcycle.kinds import KINDS
from logcycle.store import schema


def escape_like(text: str) -> str:
    """``text`` as literal characters of a ``LIKE`` pattern whose escape is ``\\``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class MessagePattern:
    """A case-insensitive ``LIKE`` pattern (escape character ``\\``) and the literal runs
    a message must contain for it to match (what a trigram index can look up)."""

    like: str
    literals: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageQuery:
    """One page of a search over the cycle tables of ``kind``.

    ``where`` is a conjunction of fixed SQL fragments over the table's columns (with the
    dialect's placeholders), its values in ``params``; user input never reaches it as
    text. ``cycles`` are read in the order given (newest first for a descending order).
    ``below_id`` keeps ids below it (keyset pages). ``count`` asks for the total.
    """

    kind: str
    cycles: tuple[int, ...]
    columns: tuple[str, ...]
    pattern: MessagePattern | None = None
    where: tuple[str, ...] = ()
    params: tuple[Any, ...] = ()
    order_column: str = "id"
    descending: bool = True
    limit: int = 25
    offset: int = 0
    below_id: int | None = None
    count: bool = False

    def __post_init__(self) -> None:
        cols = KINDS[self.kind].columns
        bad = [c for c in (*self.columns, self.order_column) if c not in cols]
        if bad or "message" not in cols:
            raise ValueError(f"kind {self.kind!r} has no column {bad[:1] or 'message'}")
        if "id" not in self.columns or self.order_column not in self.columns:
            raise ValueError("the columns must hold id and the order column")


@dataclass(frozen=True, slots=True)
class MessageResult:
    rows: list[tuple[Any, ...]]
    total: int | None


@dataclass(frozen=True, slots=True)
class Arm:
    """``FROM … WHERE …`` of one part of one cycle, with its parameters. ``id_order`` is
    the expression that orders it by id (``rowid`` of an index may be cheaper). ``count``,
    when given, counts its matches more cheaply than ``count(*)`` over ``from_where``
    (SQLite's message blocks, store/sqlite_counts.py)."""

    from_where: str
    params: tuple[Any, ...]
    table: str
    id_order: str
    count: Callable[[], int] | None = None


def base_conditions(q: MessageQuery, p: str) -> tuple[list[str], list[Any]]:
    """The query's own conditions, for any arm."""
    clauses = list(q.where)
    params: list[Any] = list(q.params)
    if q.below_id is not None:
        clauses.append(f"id < {p}")
        params.append(q.below_id)
    return clauses, params


def scan_arm(q: MessageQuery, cycle: int, p: str, like: str, *,
             above_id: int | None = None) -> Arm:
    """The arm that filters every row of the cycle (with ids above ``above_id``): all of
    it for an engine without a message index, the tail not indexed yet for SQLite."""
    table = schema.table(q.kind, cycle)
    clauses, params = base_conditions(q, p)
    if above_id is not None:
        clauses.append(f"id > {p}")
        params.append(above_id)
    if q.pattern is not None:
        clauses.append(f"message {like} {p} ESCAPE '\\'")
        params.append(q.pattern.like)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return Arm(f"FROM {table}{where}", tuple(params), table, "id")


Fetch = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]


def _select(q: MessageQuery, arm: Arm) -> str:
    return "SELECT " + ", ".join(f"{arm.table}.{c}" for c in q.columns) + " " + arm.from_where


def _count(fetch: Fetch, arm: Arm) -> int:
    if arm.count is not None:
        return arm.count()
    _, rows = fetch(f"SELECT count(*) {arm.from_where}", arm.params)
    return int(rows[0][0])


# A page asked with its total fetches up to this many matches beyond it, so that an arm
# with few matches (the tail not indexed yet, a rare word's candidates) is counted from
# the same read instead of a second scan.
SPILL = 200
INLINE_SKIP = 1000  # deeper offsets count first and skip with OFFSET


def page_by_id(q: MessageQuery, arms: Sequence[Arm], fetch: Fetch, p: str) -> MessageResult:
    """Rows in id order, arm after arm: the arms hold disjoint id ranges, given in the
    order of the page. An arm is counted only when the total is asked for or the offset
    may skip it whole; one with at most ``SPILL`` matches past the page is counted from
    the page's own read."""
    direction = "DESC" if q.descending else "ASC"
    rows: list[tuple[Any, ...]] = []
    total = 0 if q.count else None
    skip, need = q.offset, q.limit
    for arm in arms:
        order = f"ORDER BY {arm.id_order} {direction}"
        if total is not None and skip <= INLINE_SKIP:
            cap = skip + need + SPILL
            _, got = fetch(f"{_select(q, arm)} {order} LIMIT {p}", (*arm.params, cap))
            n = len(got) if len(got) < cap else _count(fetch, arm)
            total += n
            taken = got[skip:skip + need]
            rows.extend(taken)
            skip, need = max(0, skip - n), need - len(taken)
            continue
        if q.count or skip > 0:
            n = _count(fetch, arm)
            if total is not None:
                total += n
            if skip >= n:
                skip -= n
                continue
        if need > 0:
            sql = f"{_select(q, arm)} {order} LIMIT {p} OFFSET {p}"
            _, got = fetch(sql, (*arm.params, need, skip))
            skip = 0
            rows.extend(got)
            need -= len(got)
        elif total is None:
            break
    return MessageResult(rows, total)


def page_sorted(q: MessageQuery, arms: Sequence[Arm], fetch: Fetch, p: str) -> MessageResult:
    """Rows sorted on another column (ties by id): one compound query over every arm."""
    if not arms:
        return MessageResult([], 0 if q.count else None)
    direction = "DESC" if q.descending else "ASC"
    union = " UNION ALL ".join(_select(q, a) for a in arms)
    params = [v for a in arms for v in a.params]
    sql = (f"SELECT * FROM ({union}) AS found ORDER BY {q.order_column} {direction}, "
           f"id {direction} LIMIT {p} OFFSET {p}")
    _, rows = fetch(sql, (*params, q.limit, q.offset))
    total = sum(_count(fetch, a) for a in arms) if q.count else None
    return MessageResult(rows, total)


def build_newest_first(conn: Any, kinds: Sequence[str], max_rows: int,
                       index_cycle: Callable[[Any, str, int, int], int]) -> int:
    """Index up to ``max_rows`` rows above the watermarks, newest week first, with the
    engine's ``index_cycle(conn, kind, cycle, rows)``; the number indexed (0: up to date).
    Runs on the writer thread, inside the writer's transaction."""
    done = 0
    order = conn.execute("SELECT cycle FROM lc_cycles WHERE week IS NOT NULL "
                         "ORDER BY week DESC").fetchall()
    for kind in kinds:
        for (cycle,) in order:
            if done >= max_rows:
                return done
            done += index_cycle(conn, kind, int(cycle), max_rows - done)
    return done
