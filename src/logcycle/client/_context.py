"""The request key of the code running now, kept in a context variable.

A web application sets it once per request; every log call of that request (in the same
thread or asyncio task) then carries it without passing it along::

    with request_context("9f1c..."):
        logger.log_error("payment failed", "Checkout")   # request_key="9f1c..."

>>> token = set_request_key("abc")
>>> current_request_key()
'abc'
>>> reset_request_key(token)
>>> current_request_key() is None
True
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

__all__ = [
    "current_request_key",
    "new_request_key",
    "request_context",
    "reset_request_key",
    "set_request_key",
]

REQUEST_KEY: ContextVar[str | None] = ContextVar("logcycle_request_key", default=None)


def current_request_key() -> str | None:
    """The request key set for the running context, or None."""
    return REQUEST_KEY.get()


def set_request_key(key: str | None) -> Token[str | None]:
    """Set the request key for the running context; give the token to `reset_request_key`."""
    return REQUEST_KEY.set(key)


def reset_request_key(token: Token[str | None]) -> None:
    """Restore the request key that was in force before `set_request_key` gave ``token``."""
    REQUEST_KEY.reset(token)


def new_request_key() -> str:
    """A fresh random request key (a UUID4 string), for code that has none of its own."""
    return str(uuid.uuid4())


@contextmanager
def request_context(key: str | None = None) -> Iterator[str]:
    """Carry ``key`` (a new one when None) on every log call inside the ``with`` block.

    >>> with request_context("r-1") as key:
    ...     current_request_key() == key == "r-1"
    True
    """
    key = new_request_key() if key is None else key
    token = REQUEST_KEY.set(key)
    try:
        yield key
    finally:
        REQUEST_KEY.reset(token)
