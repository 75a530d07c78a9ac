"""Who is calling: the API key of a request, checked against the hashed keys.

Keys are cached in memory (hash → key) and reloaded at most every second, so a key made
or revoked with ``logcycle keys`` while the server runs takes effect within a second.

    principal = await auth.require(request, "read")
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import time
from dataclasses import dataclass

from starlette.requests import Request

from logcycle.errors import Forbidden, Unauthorized
from logcycle.keys import GRANTS, hash_key
from logcycle.store.base import Store

RELOAD_S = 1.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The key behind a request: ``id`` is a label safe to log (never the key)."""

    id: str
    scope: str
    src_prefix: str | None = None

    def may(self, action: str) -> bool:
        return action in GRANTS[self.scope]


def _b64_text(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return None


def _basic_key(credentials: str) -> str:
    """HTTP Basic: the password is the key (the user name is free: a tenant, a label);
    with no password, the user name is."""
    text = _b64_text(credentials)
    if text is None:
        return ""
    user, _, password = text.partition(":")
    return password or user


def _api_key(value: str) -> str:
    """``ApiKey`` as Elasticsearch clients send it, base64 of ``id:key``: the key is the
    part after the colon (the id is a free label); base64 of the key alone, or the key
    itself not encoded, also work."""
    text = _b64_text(value)
    if text is None or not text.isprintable():
        return value
    return text.partition(":")[2] if ":" in text else text


class Auth:
    def __init__(self, store: Store, secret: bytes, *, bootstrap_key: str | None,
                 read_executor: object | None = None) -> None:
        self.store = store
        self.secret = secret
        self._boot = hash_key(secret, bootstrap_key) if bootstrap_key else None
        self._keys: dict[str, tuple[str, Principal]] = {}
        self._loaded = 0.0
        self._lock = asyncio.Lock()

    def reload(self) -> None:
        keys: dict[str, tuple[str, Principal]] = {}
        for row in self.store.list_keys():
            if row.revoked is None:
                keys[row.hash] = (row.hash, Principal(f"key-{row.id}", row.scope, row.src_prefix))
        self._keys = keys
        self._loaded = time.monotonic()

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded < RELOAD_S:
            return
        async with self._lock:
            if time.monotonic() - self._loaded >= RELOAD_S:
                await asyncio.get_running_loop().run_in_executor(None, self.reload)

    def key_of(self, request: Request) -> str | None:
        """The key as each client can send it: ``Authorization: <key>``, ``Bearer <key>``,
        HTTP Basic with the key as the password (Loki and Elasticsearch outputs), ``ApiKey
        <base64 of id:key>`` (Elasticsearch API keys), or ``X-Seq-ApiKey: <key>`` (Seq)."""
        header = request.headers.get("authorization")
        if not header:
            seq = request.headers.get("x-seq-apikey", "").strip()
            return seq or None
        value = header.strip()
        scheme, _, rest = value.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            value = rest.strip()
        elif scheme == "basic":
            value = _basic_key(rest.strip())
        elif scheme == "apikey":
            value = _api_key(rest.strip())
        return value or None

    async def identify(self, request: Request) -> Principal:
        """The caller's principal; Unauthorized without a valid key."""
        key = self.key_of(request)
        if key is None:
            raise Unauthorized("missing API key")
        return await self.principal_of(key)

    async def principal_of(self, key: str) -> Principal:
        """The principal of ``key`` (also for listeners that log as a key holder, such as
        syslog); Unauthorized when it is not a valid key."""
        digest = hash_key(self.secret, key)
        if self._boot is not None and hmac.compare_digest(digest, self._boot):
            return Principal("env-key", "admin")
        await self._fresh()
        found = self._keys.get(digest)
        if found is None or not hmac.compare_digest(found[0], digest):
            raise Unauthorized("unknown API key")
        return found[1]

    async def require(self, request: Request, action: str) -> Principal:
        """The caller's principal if its scope grants ``action``; else 401 or 403."""
        principal = await self.identify(request)
        if not principal.may(action):
            raise Forbidden(f"this key's scope ({principal.scope}) does not allow {action}")
        return principal
