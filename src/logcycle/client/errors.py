"""The client's one exception tree.

Logging calls never raise into the application; these exceptions reach the caller only
where it asked for them (``Logger(..., strict=True)``) or for a misconfigured ``Logger``::

    LogcycleClientError
     ├── InvalidEventError   (also a ValueError) a log call with bad arguments, strict mode only
     └── ConfigError         (also a ValueError) a bad option given to Logger(...)

>>> issubclass(InvalidEventError, ValueError)
True
"""

from __future__ import annotations

__all__ = ["ConfigError", "InvalidEventError", "LogcycleClientError"]


class LogcycleClientError(Exception):
    """Root of every exception raised by ``logcycle.client``."""


class InvalidEventError(LogcycleClientError, ValueError):
    """A log call whose arguments can never make a valid event (strict mode only)."""


class ConfigError(LogcycleClientError, ValueError):
    """An option given to ``Logger(...)`` is out of range or malformed."""
