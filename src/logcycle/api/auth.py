"""Who is calling: the API key of a request, checked against the hashed keys.

Keys are cached in memory (hash → key) and reloaded at most every second, so a key made
or revoked with ``logcycle keys`` while the server runs takes effect within a second.

    principal = await auth.require(request, "read")
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass

from starlette.requests import Request

from logcycle.errors import Forbidden, Unauthorized
from logcycle.keys import GRANTS, Scope, hash_key
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

    @property
    def sources(self) -> Scope:
        """The events this key may read and write (all, or its ``src`` prefix's)."""
        return Scope(self.src_prefix)


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
        header = request.headers.get("authorization")
        if not header:
            return None
        value = header.strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        return value or None

    async def identify(self, request: Request) -> Principal:
        """The caller's principal; Unauthorized without a valid key."""
        key = self.key_of(request)
        if key is None:
            raise Unauthorized("missing API key")
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
