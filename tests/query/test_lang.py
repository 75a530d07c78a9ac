"""The query language's parser and compiler, without a store (the API tests run the
queries on both stores: tests/api/test_query_language.py)."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcycle.errors import BadRequest
from logcycle.query import compile as qc
from logcycle.query import lang
from logcycle.store.schema import POSTGRES, SQLITE


@pytest.mark.parametrize("module", [lang, qc])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_precedence_and_implied_and() -> None:
    e = lang.parse("a b OR c -d").expr
    assert isinstance(e, lang.Or)
    first, second = e.items
    assert isinstance(first, lang.And) and [t.value for t in first.items  # type: ignore[union-attr]
                                            ] == ["a", "b"]
    assert isinstance(second, lang.And) and isinstance(second.items[1], lang.Not)


def test_words_are_not_keywords_in_lower_case_and_hyphens_inside_words() -> None:
    e = lang.parse("or and not-this").expr
    assert isinstance(e, lang.And)
    assert [t.value for t in e.items] == ["or", "and", "not-this"]  # type: ignore[union-attr]


def test_values_are_typed_by_their_field() -> None:
    t = lang.parse("duration_ms:>=2.5").expr
    assert t == lang.Term("duration_ms", ">=", 2.5, 14)
    t = lang.parse("instant:2026-11-23T15:00:00+01:00").expr
    assert isinstance(t, lang.Term) and t.value == 1795442400000
    t = lang.parse("instant:2026-11-23").expr  # no offset: UTC
    assert isinstance(t, lang.Term) and t.value == 1795392000000
    assert lang.parse('screen:"a*b"').expr == lang.Term("screen", "eq", "a*b", 7)  # quoted: literal
    assert lang.parse("screen:a*b").expr == lang.Term("screen", "like", "a*b", 7)


def test_sql_holds_no_value_of_the_query() -> None:
    q = lang.parse("screen:'x' attributes.k:\"; DROP\" attributes.n:>3 \"it's\"")
    for d in (SQLITE, POSTGRES):
        sql = qc.to_sql(q.expr, "screen", d)
        assert sql is False  # no message column: the bare phrase cannot match a screen
        sql = qc.to_sql(lang.parse("screen:'x' attributes.k:\"; DROP\"").expr, "screen", d)
        assert isinstance(sql, qc.Sql)
        assert "'x'" not in sql.text and "DROP" not in sql.text
        assert sql.text.count(d.param) == len(sql.params)


def test_the_message_pattern_is_taken_from_the_top_level_only() -> None:
    pattern, rest = qc.message_pattern(lang.parse("disk kind:error"))
    assert pattern is not None and pattern.like == "%disk%"
    assert rest == lang.Term("kind", "eq", "error", 10)
    pattern, rest = qc.message_pattern(lang.parse("disk OR full"))
    assert pattern is None and isinstance(rest, lang.Or)


def test_limits() -> None:
    with pytest.raises(BadRequest, match="longer than"):
        lang.parse("a" * (lang.MAX_LENGTH + 1))
    with pytest.raises(BadRequest, match="more than"):
        lang.parse(" ".join(["a"] * (lang.MAX_TERMS + 1)))
    with pytest.raises(BadRequest, match="nested deeper"):
        lang.parse("(" * 40 + "a" + ")" * 40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*'ab:*"()-, <>=.\\1', "OR", "AND", "NOT", "in(",
                                 "duration_ms:", "attributes.x:", "instant:"]),
                max_size=20).map("".join))
def test_any_text_parses_or_is_a_400(text: str) -> None:
    try:
        q = lang.parse(text)
    except BadRequest as exc:
        assert exc.errors[0].field == "query" and "position" in exc.message
        return
    for kind in ("screen", "general"):
        for d in (SQLITE, POSTGRES):
            sql = qc.to_sql(q.expr, kind, d)
            if isinstance(sql, qc.Sql):
                assert sql.text.count(d.param) == len(sql.params)
