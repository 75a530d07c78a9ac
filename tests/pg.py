"""PostgreSQL for the tests: each test gets a fresh schema, dropped afterwards.

The server is ``$LOGCYCLE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
When it cannot be reached, PostgreSQL tests skip with the reason, except with ``CI=true``,
where they fail: CI must run them.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_URL = os.environ.get("LOGCYCLE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@functools.cache
def _unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None: it can). Asked once per test session."""
    try:
        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split())
    return None


def require_pg() -> str:
    """The server URL, or skip (fail with CI=true) when it cannot be reached."""
    why = _unreachable()
    if why is not None:
        reason = (f"PostgreSQL at {PG_URL} is not reachable ({why}); set LOGCYCLE_TEST_PG "
                  "to a server where the tests may create schemas")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return PG_URL


def store_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={schema}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A store URL on a schema no one uses; the schema is dropped on exit."""
    require_pg()
    name = "lct_" + secrets.token_hex(6)
    try:
        yield store_url(name)
    finally:
        drop_schema(name)
