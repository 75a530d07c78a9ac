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
from pathlib import Path

SCOPES = ("ingest", "read", "admin")
# What each scope may do: admin may do everything.
GRANTS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "admin": frozenset({"ingest", "read", "admin"}),
}
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
