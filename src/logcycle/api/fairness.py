"""Read threads shared fairly between keys: each key runs at most ``per_key`` queries on
the read threads at once, and waits (in the event loop, holding no thread) for more.

So one key's 20 heavy searches occupy ``per_key`` threads, never all of them, and another
key's query starts on a free thread at once; with several busy keys, the executor's queue
holds at most ``per_key`` queries of each, so each waits behind a bounded number of the
others'. A key with more than ``MAX_WAITING`` queries waiting gets 503 + Retry-After.

    slots = ReadSlots(per_key=2)
    async with slots.slot("key-3"):
        ...  # run one query on the read threads
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from logcycle.errors import Overloaded

MAX_WAITING = 64


class ReadSlots:
    """Per-key semaphores, created on demand and dropped when idle (event loop only)."""

    def __init__(self, *, per_key: int) -> None:
        self.per_key = max(1, per_key)
        self._keys: dict[str, tuple[asyncio.Semaphore, int]] = {}  # key → (slots, users)

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        sem, users = self._keys.get(key, (None, 0))
        if sem is None:
            sem = asyncio.Semaphore(self.per_key)
        if users >= self.per_key + MAX_WAITING:
            raise Overloaded(f"this key has {users} queries running or waiting: retry "
                             "later, or run fewer at once", retry_after=2)
        self._keys[key] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            sem_now, left = self._keys[key]
            if left <= 1:
                del self._keys[key]
            else:
                self._keys[key] = (sem_now, left - 1)

    def running(self, key: str) -> int:
        """Queries of ``key`` running or waiting (for tests and status)."""
        return self._keys.get(key, (None, 0))[1]
