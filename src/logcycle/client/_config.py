"""The options of a Logger, checked once when it is made.

>>> Config.make("http://127.0.0.1:5380/", "k").endpoint("events")
'/api/v1/events'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigError

MAX_SERVER_BATCH = 10_000  # the server's limit of events per request
MAX_BODY_BYTES = 8 * 1024 * 1024  # the server's limit of one request body


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a Logger and its worker need to know; see Logger for each option."""

    scheme: str
    host: str
    port: int
    prefix: str  # path before /api/v1, without a trailing slash ("" or "/logcycle")
    api_key: str
    flush_interval: float = 1.0
    max_batch: int = 1000
    max_queue: int = 100_000
    timeout: float = 10.0
    gzip: bool = True
    strict: bool = False
    spool_dir: str | None = None
    spool_fsync: bool = True
    spool_max_bytes: int = 256 * 1024 * 1024
    retry_base: float = 0.5
    retry_max: float = 30.0
    shutdown_timeout: float = 5.0

    @classmethod
    def make(cls, url: str, api_key: str, **options: object) -> Config:
        """A checked Config for a base ``url`` such as ``http://127.0.0.1:5380``."""
        if not isinstance(url, str):
            raise ConfigError(f"url must be a str, not {type(url).__name__}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url must be http(s)://host[:port][/prefix], not {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ConfigError(f"bad port in url {url!r}") from exc
        if not isinstance(api_key, str) or not api_key or "\n" in api_key:
            raise ConfigError("api_key must be a non-empty str on one line")
        config = cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), api_key,
                     **options)  # type: ignore[arg-type]
        config.check()
        return config

    def check(self) -> None:
        """Raise ConfigError for an option out of range."""
        _positive("flush_interval", self.flush_interval)
        _positive("timeout", self.timeout)
        _positive("retry_base", self.retry_base)
        _positive("retry_max", self.retry_max)
        _positive("shutdown_timeout", self.shutdown_timeout, zero=True)
        if not 1 <= self.max_batch <= MAX_SERVER_BATCH:
            raise ConfigError(f"max_batch must be 1..{MAX_SERVER_BATCH}, not {self.max_batch}")
        if self.max_queue < 1:
            raise ConfigError(f"max_queue must be at least 1, not {self.max_queue}")
        if self.spool_max_bytes < 1:
            raise ConfigError("spool_max_bytes must be positive")

    def endpoint(self, name: str) -> str:
        """The request path of ``/api/v1/<name>`` under this server's prefix."""
        return f"{self.prefix}/api/v1/{name}"

    @property
    def base_url(self) -> str:
        """The server's base URL, for messages."""
        return f"{self.scheme}://{self.host}:{self.port}{self.prefix}"


def _positive(name: str, value: float, *, zero: bool = False) -> None:
    ok = isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):
        raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
