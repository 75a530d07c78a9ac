"""Who is calling: the API key of a request, checked against the hashed keys.

Keys are cached in memory (hash → key). Every request compares the store's
``keys_version()`` (a stat() of a small file on SQLite, a NOTIFY counter on PostgreSQL) and
reloads the keys first when it changed, so a key revoked with ``logcycle keys revoke`` by
another process fails from the next request on; the keys are reloaded every second anyway
(the fallback should a change notice be missed). A key the
cache does not know is looked up in the store at once (one indexed read, at most
``LOOKUPS_PER_S`` a second in all), so a key made by ``logcycle keys create`` works on
the very next request. Unknown keys count against the client address's failure budget
(api/throttle.py: 429 beyond it).

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

from logcycle.api.throttle import FailureThrottle, Network, client_address
from logcycle.errors import Forbidden, Unauthorized
from logcycle.ingest.protocols.sentry import ROUTE as SENTRY_ROUTE
from logcycle.ingest.protocols.sentry import sentry_key
from logcycle.keys import GRANTS, Scope, hash_key
from logcycle.store.base import Store

RELOAD_S = 1.0
LOOKUPS_PER_S = 50  # store lookups of keys the cache does not know, in all
ENV_KEY = "env-key"  # the principal id of LOGCYCLE_API_KEY


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
                 throttle: FailureThrottle | None = None,
                 proxies: tuple[Network, ...] = ()) -> None:
        self.store = store
        self.secret = secret
        self._boot = hash_key(secret, bootstrap_key) if bootstrap_key else None
        self._keys: dict[str, tuple[str, Principal]] = {}
        self._loaded = 0.0
        self._version: object = None
        self._lock = asyncio.Lock()
        self.throttle = throttle or FailureThrottle(limit=0, window_s=60)
        self.proxies = proxies
        self._lookups = (0.0, 0)  # (second, lookups in it)

    @property
    def env_key_active(self) -> bool:
        """Whether LOGCYCLE_API_KEY gave this server an admin key."""
        return self._boot is not None

    def reload(self) -> None:
        version = self.store.keys_version()  # before the read: a change during it reloads
        keys: dict[str, tuple[str, Principal]] = {}
        for row in self.store.list_keys():
            if row.revoked is None:
                keys[row.hash] = (row.hash, Principal(f"key-{row.id}", row.scope, row.src_prefix))
        self._keys = keys
        self._version = version
        self._loaded = time.monotonic()

    def _stale(self) -> bool:
        return (time.monotonic() - self._loaded >= RELOAD_S
                or self.store.keys_version() != self._version)

    async def _fresh(self) -> None:
        if not self._stale():
            return
        async with self._lock:
            if self._stale():
                await asyncio.get_running_loop().run_in_executor(None, self.reload)

    def key_of(self, request: Request) -> str | None:
        """The key as each client can send it: ``Authorization: <key>``, ``Bearer <key>``,
        HTTP Basic with the key as the password (Loki and Elasticsearch outputs), ``ApiKey
        <base64 of id:key>`` (Elasticsearch API keys), ``X-Seq-ApiKey: <key>`` (Seq), or
        ``X-Sentry-Auth: Sentry sentry_key=<key>, …`` (Sentry SDKs; on Sentry's ingest routes
        also ``?sentry_key=<key>``)."""
        header = request.headers.get("authorization")
        if not header:
            seq = request.headers.get("x-seq-apikey", "").strip()
            return seq or self._sentry_key_of(request)
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

    def _sentry_key_of(self, request: Request) -> str | None:
        key = sentry_key(request.headers.get("x-sentry-auth"))
        if key is None and SENTRY_ROUTE.match(request.url.path):
            key = request.query_params.get("sentry_key") or None
        return key

    def _lookup(self, digest: str) -> tuple[str, Principal] | None:
        """One key by its hash, from the store (a read thread); cached when valid."""
        p = self.store.dialect.param
        _, rows = self.store.fetch(f"SELECT id, hash, scope, src_prefix FROM lc_keys WHERE "
                                   f"hash = {p} AND revoked IS NULL", [digest])
        if not rows:
            return None
        key_id, hash_, scope, prefix = rows[0]
        found = (str(hash_), Principal(f"key-{key_id}", str(scope), prefix))
        self._keys = {**self._keys, found[0]: found}
        return found

    def _may_look_up(self) -> bool:
        second = time.monotonic() // 1
        start, n = self._lookups
        n = n + 1 if start == second else 1
        self._lookups = (second, n)
        return n <= LOOKUPS_PER_S

    async def identify(self, request: Request) -> Principal:
        """The caller's principal; Unauthorized without a valid key, TooManyFailures
        (429) when the client's address used up its failed authentications."""
        key = self.key_of(request)
        if key is None:
            raise Unauthorized("missing API key")
        address = client_address(request, self.proxies)
        self.throttle.check(address)
        try:
            return await self.principal_of(key)
        except Unauthorized:
            self.throttle.failed(address)
            raise

    async def principal_of(self, key: str) -> Principal:
        """The principal of ``key`` (also for listeners that log as a key holder, such as
        syslog); Unauthorized when it is not a valid key."""
        digest = hash_key(self.secret, key)
        if self._boot is not None and hmac.compare_digest(digest, self._boot):
            return Principal(ENV_KEY, "admin")
        await self._fresh()
        found = self._keys.get(digest)
        if found is None and self._may_look_up():
            found = await asyncio.get_running_loop().run_in_executor(None, self._lookup,
                                                                     digest)
        if found is None or not hmac.compare_digest(found[0], digest):
            raise Unauthorized("unknown API key")
        return found[1]

    async def require(self, request: Request, action: str) -> Principal:
        """The caller's principal if its scope grants ``action``; else 401 or 403."""
        principal = await self.identify(request)
        if not principal.may(action):
            raise Forbidden(f"this key's scope ({principal.scope}) does not allow {action}")
        return principal
