"""A WSGI middleware that gives every request a request key, for the whole response.

A WSGI server calls the application, then iterates the body it returned, then calls its
``close()``: code that runs while the body is produced (a streaming generator, a template
rendered lazily) or in ``close()`` belongs to the request too. A ``with request_context()``
around the call alone has ended by then, and the logs of that code would carry no key.
This middleware sets the key for the call, for each step of the body and for ``close()``,
and resets it in between, so a server thread that moves to another request never keeps
it::

    app = RequestKeyMiddleware(app)               # X-Request-Id if the client sent one
    # in the app and while its body is iterated: current_request_key() is the key;
    # environ["logcycle.request_key"] holds it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._context import REQUEST_KEY, new_request_key

__all__ = ["RequestKeyMiddleware"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_KEY = 200


class RequestKeyMiddleware:
    """Wrap a WSGI application: each request runs with a request key (the ``header``
    the client sent, when it is 1-200 printable characters, else a new UUID4)."""

    def __init__(self, app: WSGIApp, header: str = "X-Request-Id") -> None:
        self.app = app
        self.environ_key = "HTTP_" + header.upper().replace("-", "_")

    def key_for(self, environ: dict[str, Any]) -> str:
        sent = environ.get(self.environ_key)
        if isinstance(sent, str) and 0 < len(sent) <= MAX_KEY and sent.isprintable():
            return sent
        return new_request_key()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> _Body:
        key = self.key_for(environ)
        environ["logcycle.request_key"] = key
        token = REQUEST_KEY.set(key)
        try:
            body = self.app(environ, start_response)
        finally:
            REQUEST_KEY.reset(token)
        return _Body(body, key)


class _Body:
    """The application's body, produced and closed with the request key set."""

    def __init__(self, body: Iterable[bytes], key: str) -> None:
        self._body = body
        self._key = key

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._body)
        while True:
            token = REQUEST_KEY.set(self._key)
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                REQUEST_KEY.reset(token)
            yield chunk

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is None:
            return
        token = REQUEST_KEY.set(self._key)
        try:
            close()
        finally:
            REQUEST_KEY.reset(token)
