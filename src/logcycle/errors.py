"""The server's exceptions. One root; each carries the HTTP status it maps to.

    LogcycleError                       500
    ├── BadRequest                      400  (field errors in .errors)
    │   ├── TooLarge                    413
    │   └── Unwritable                  400  (the store refused this request's data)
    ├── Unauthorized                    401
    ├── Forbidden                       403
    ├── NotFound                        404
    ├── Conflict                        409
    ├── Overloaded                      503  (+ Retry-After)
    └── StoreUnavailable                503  (the database cannot take writes or answer)
        └── StorageFull                 507

Errors of sqlite3 / psycopg are translated where they enter (``raise StoreUnavailable(...)
from exc``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: ``index`` is the event's position in its batch (None: not a batch)."""

    field: str
    message: str
    index: int | None = None
    code: str = "invalid"


class LogcycleError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None,
                 errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.errors = errors or []


class BadRequest(LogcycleError):
    status = 400
    code = "bad_request"


class TooLarge(BadRequest):
    status = 413
    code = "too_large"


class Unwritable(BadRequest):
    """The database refused what one request asked it to write (a value or a name it cannot
    hold): the writer retried its group without it, so only this request fails, and it
    would fail the same way if sent again."""

    code = "unwritable"


class Unauthorized(LogcycleError):
    status = 401
    code = "unauthorized"


class Forbidden(LogcycleError):
    status = 403
    code = "forbidden"


class NotFound(LogcycleError):
    status = 404
    code = "not_found"


class Conflict(LogcycleError):
    status = 409
    code = "conflict"


class Overloaded(LogcycleError):
    status = 503
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(LogcycleError):
    status = 503
    code = "store_unavailable"
    retry_after = 5


class StorageFull(StoreUnavailable):
    status = 507
    code = "storage_full"
