"""logcycle's Python client: log without waiting, lose nothing you can keep, say what you
dropped. Standard library only.

    from logcycle.client import Logger, LogcycleHandler

    logger = Logger("http://127.0.0.1:5380", "my-ingest-key", spool_dir="/var/spool/app")
    logger.log_error("payment failed", "Checkout", detail="...")
    logging.getLogger().addHandler(LogcycleHandler(logger))
    print(logger.stats())

See docs/client.md.
"""

from __future__ import annotations

from ._context import (
    current_request_key,
    new_request_key,
    request_context,
    reset_request_key,
    set_request_key,
)
from ._handler import LogcycleHandler
from ._logger import Logger
from ._stats import DROP_REASONS, ClientStats
from ._wsgi import RequestKeyMiddleware
from .errors import ConfigError, InvalidEventError, LogcycleClientError

__all__ = [
    "DROP_REASONS",
    "ClientStats",
    "ConfigError",
    "InvalidEventError",
    "LogcycleClientError",
    "LogcycleHandler",
    "Logger",
    "RequestKeyMiddleware",
    "current_request_key",
    "new_request_key",
    "request_context",
    "reset_request_key",
    "set_request_key",
]
