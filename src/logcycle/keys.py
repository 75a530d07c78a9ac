"""API keys: generated at random, stored only as HMAC-SHA256 under a server secret,
compared in constant time. The key itself is shown once, when it is created.

>>> secret = b"s" * 32
>>> key = new_key()
>>> key.startswith("lc_") and verify(secret, key, hash_key(secret, key))
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from logcycle.errors import Forbidden

SCOPES = ("ingest", "read", "admin")
# What each scope may do: admin may do everything.
GRANTS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "admin": frozenset({"ingest", "read", "admin"}),
}
# The only kind with a `src` column, so the only one a key limited to a prefix may write
# or read (query/scope.py applies it to reads, ingest/tasks.py to writes).
SOURCE_KIND = "general"


@dataclass(frozen=True, slots=True)
class Scope:
    """The events a key may see and write: all (``src_prefix`` None), or the ``general``
    events whose ``src`` starts with ``src_prefix`` (``keys create --src-prefix``).

    >>> Scope("dev/").kinds(("error", "general")), Scope("dev/").admits_src("prod/x")
    (('general',), False)
    """

    src_prefix: str | None = None

    @property
    def limited(self) -> bool:
        return self.src_prefix is not None

    def kinds(self, kinds: Iterable[str]) -> tuple[str, ...]:
        """Those of ``kinds`` this scope can see."""
        return tuple(k for k in kinds if not self.limited or k == SOURCE_KIND)

    def admits_src(self, src: object) -> bool:
        return self.src_prefix is None or (isinstance(src, str) and
                                           src.startswith(self.src_prefix))

    def require_all(self, what: str) -> None:
        """403 for a limited scope: ``what`` has no source, so only unlimited keys use it."""
        if self.src_prefix is not None:
            raise Forbidden(f"this key is limited to sources starting with "
                            f"{self.src_prefix!r}: {what} are not available to it",
                            code="src_prefix")


ALL = Scope()
SECRET_ENV = "LOGCYCLE_SECRET"  # noqa: S105  # the variable's name, not a secret
SECRET_FILE = "secret.key"  # noqa: S105  # a file name


def new_key() -> str:
    return "lc_" + secrets.token_urlsafe(32)


def hash_key(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def verify(secret: bytes, key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(secret, key), stored_hash)


def load_secret(data_dir: Path) -> bytes:
    """The HMAC secret: ``$LOGCYCLE_SECRET`` if set (share it between the nodes of one
    PostgreSQL store), else ``DATA/secret.key``, created on first use with mode 0600."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)
    return value


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    return scope
