"""A parsed query (:mod:`logcycle.query.lang`) as SQL over one kind's table: fixed
fragments, column names from :mod:`logcycle.kinds`, every value a bound parameter.

A term on a field the kind does not have is false for that kind (so ``-user_id:ada``
is true there); constant parts fold away, and a query that is false for a kind skips
that kind's tables altogether.

    >>> from logcycle.store.schema import SQLITE
    >>> q = lang.parse("duration_ms:>500 -screen:Login")
    >>> to_sql(q.expr, "screen", SQLITE)
    Sql(text='(duration_ms > ? AND NOT COALESCE((screen = ?), FALSE))', params=(500.0, 'Login'))
    >>> to_sql(q.expr, "error", SQLITE)
    False
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from logcycle.kinds import KINDS, FieldType
from logcycle.query import lang
from logcycle.query.wildcards import substring_pattern, wildcard_pattern
from logcycle.store.schema import SQLITE, Dialect
from logcycle.store.search import MessagePattern, escape_like


@dataclass(frozen=True, slots=True)
class Sql:
    """A boolean SQL expression and its parameters, in placeholder order."""

    text: str
    params: tuple[Any, ...]


Compiled = Sql | bool
Expr = lang.Expr
# The store's index of top-level attributes for the table being read: (key, value as
# text) → a WHERE fragment and its parameters, or None (Store.attribute_condition).
Index = Callable[[str, str], "tuple[str, list[Any]] | None"]
_INTEGER = {"id", "error_id"}
_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<="}


def to_sql(e: lang.Expr, kind: str, d: Dialect, index: Index | None = None) -> Compiled:
    """``e`` for the rows of ``kind``: SQL, or True/False when it does not depend on them.
    ``index`` (for one table) serves ``attributes.<key>:value`` where it can."""
    if isinstance(e, lang.Term):
        return _term(e, kind, d, index)
    if isinstance(e, lang.Not):
        inner = to_sql(e.item, kind, d, index)
        if isinstance(inner, bool):
            return not inner
        # A term on a NULL column is NULL, and NOT NULL is NULL: "not ada" must keep the
        # rows without a user.
        return Sql(f"NOT COALESCE(({inner.text}), FALSE)", inner.params)
    parts = [to_sql(item, kind, d, index) for item in e.items]
    absorbing = isinstance(e, lang.Or)  # True absorbs an OR, False an AND
    if absorbing in parts:
        return absorbing
    sqls = [p for p in parts if isinstance(p, Sql)]
    if not sqls:
        return not absorbing
    if len(sqls) == 1:
        return sqls[0]
    joiner = " OR " if absorbing else " AND "
    return Sql("(" + joiner.join(s.text for s in sqls) + ")",
               tuple(v for s in sqls for v in s.params))


def possible(q: lang.Query, kind: str) -> bool:
    """False when no row of ``kind`` can match ``q`` (its tables need not be read)."""
    return to_sql(q.expr, kind, SQLITE) is not False


def check_fields(q: lang.Query, kinds: Iterable[str]) -> None:
    """A 400 naming the first field of ``q`` that none of ``kinds`` has, and theirs."""
    kinds = tuple(kinds)
    have = {c for k in kinds for c in KINDS[k].columns} | {"kind"}
    for t in q.terms():
        if t.field is None:
            continue
        path = lang.field_path(t.field)
        root = t.field if path is None else path[0]
        if root not in have:
            fields = [*sorted(have - {"attributes"}), "attributes.<path>"]
            raise lang.query_error(q.text, t.pos, f"no kind of {', '.join(kinds)} has the "
                                   f"field {t.field!r}", f"; fields: {', '.join(fields)}")


def message_pattern(q: lang.Query) -> tuple[MessagePattern | None, lang.Expr | None]:
    """The first bare word or phrase that every match must contain (one at the top of
    the query, outside OR and NOT) as a pattern for the store's message search, and the
    rest of the query (None: nothing else)."""
    items = q.expr.items if isinstance(q.expr, lang.And) else (q.expr,)
    for i, item in enumerate(items):
        if isinstance(item, lang.Term) and item.field is None:
            pattern = _pattern(item)
            if pattern is None:
                continue
            rest = items[:i] + items[i + 1:]
            if not rest:
                return pattern, None
            return pattern, rest[0] if len(rest) == 1 else lang.And(rest)
    return None, q.expr


def _pattern(t: lang.Term) -> MessagePattern | None:
    value = str(t.value)
    return substring_pattern(value) if t.op == "phrase" else wildcard_pattern(value)


def _term(t: lang.Term, kind: str, d: Dialect, index: Index | None) -> Compiled:
    columns = KINDS[kind].columns
    if t.field is None:
        if "message" not in columns:
            return False
        pattern = _pattern(t)
        if pattern is None:  # "*": any message
            return True
        return Sql(f"message {d.like} {d.param} ESCAPE '\\'", (pattern.like,))
    if t.field == "kind":
        return _kind_term(t, kind)
    path = lang.field_path(t.field)
    if path is None or path[0] not in columns:
        return False
    root, keys = path
    if keys:
        if index is not None and root == "attributes" and len(keys) == 1 and t.op == "eq":
            found = index(keys[0], _json_text(t.value))
            if found is not None:
                return Sql(found[0], tuple(found[1]))
        return _json_term(t, root, keys, d)
    return _column_term(t, root, d)


def _kind_term(t: lang.Term, kind: str) -> bool:
    if t.op == "present":
        return True
    if t.op == "like":  # `*` only: fnmatch's other specials are taken literally
        pattern = str(t.value).replace("[", "[[]").replace("?", "[?]")
        return fnmatch.fnmatchcase(kind, pattern)
    return t.value == kind


def _like_value(raw: str) -> str:
    """A ``*`` pattern spanning the whole value, as LIKE (escape ``\\``)."""
    esc = escape_like(raw)
    return esc.replace("*", "%")


def _column_term(t: lang.Term, column: str, d: Dialect) -> Sql:
    p = d.param
    if t.op == "present":
        return Sql(f"{column} IS NOT NULL", ())
    if t.op == "like":
        return Sql(f"{column} {d.like} {p} ESCAPE '\\'", (_like_value(str(t.value)),))
    value = t.value
    ftype = lang.field_type(column)
    if isinstance(value, float) and (column in _INTEGER or ftype is FieldType.INSTANT):
        if not value.is_integer():  # no integer equals it; compare as a number
            return Sql(f"{column} {_OPS.get(t.op, '=')} {p}", (value,))
        value = int(value)
    return Sql(f"{column} {_OPS.get(t.op, '=')} {p}", (value,))


def _json_term(t: lang.Term, column: str, path: list[str], d: Dialect) -> Sql:
    """A term on a value inside a JSON column: as text for ``=`` and ``*`` patterns, as a
    number (only where the value is a JSON number) for comparisons."""
    p = d.param
    if d.name == "sqlite":
        where: Any = "$." + ".".join(f'"{part}"' for part in path)
        typ = f"json_type({column}, {p})"
        text = (f"CASE {typ} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                f"ELSE CAST(json_extract({column}, {p}) AS TEXT) END")
        number = f"CASE WHEN {typ} IN ('integer', 'real') THEN json_extract({column}, {p}) END"
    else:
        where = path
        typ = f"jsonb_typeof(CAST({column} AS jsonb) #> CAST({p} AS text[]))"
        text = f"(CAST({column} AS jsonb) #>> CAST({p} AS text[]))"
        number = (f"CASE WHEN {typ} = 'number' THEN CAST(CAST({column} AS jsonb) #>> "
                  f"CAST({p} AS text[]) AS DOUBLE PRECISION) END")
    if t.op == "present":
        return _with_path(f"COALESCE({typ}, 'null') <> 'null'", p, where)
    if t.op == "like":
        return _with_path(f"{text} {d.like} {p} ESCAPE '\\'", p, where,
                          _like_value(str(t.value)))
    if t.op in _OPS:
        return _with_path(f"{number} {_OPS[t.op]} {p}", p, where, t.value)
    return _with_path(f"{text} = {p}", p, where, _json_text(t.value))


def _with_path(sql: str, p: str, path: Any, *values: Any) -> Sql:
    """``sql`` whose placeholders are the path, as often as it needs it, then ``values``."""
    n = sql.count(p) - len(values)
    return Sql(sql, (*([path] * n), *values))


def _json_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def where_for(q: lang.Expr | None, kind: str, d: Dialect,
              index: Index | None = None) -> tuple[list[str], list[Any]]:
    """The clauses (zero or one) that ``q`` adds to a query of ``kind``'s table. Callers
    skip kinds where :func:`possible` is False; a False here reads nothing."""
    if q is None:
        return [], []
    sql = to_sql(q, kind, d, index)
    if sql is True:
        return [], []
    if sql is False:
        return ["1 = 0"], []
    return [sql.text], list(sql.params)
