"""What the shippers' routes (es.py, loki.py, seq.py) and the syslog listeners share:
validate translated items one by one and write the valid ones through the same writer as
``POST /api/v1/events``, with the same key checks.

    results = await store_items(svc, principal, items)   # per item: an id or an error text
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request

from logcycle.api.auth import Principal
from logcycle.api.events import idempotency_key
from logcycle.errors import FieldError, Forbidden
from logcycle.ingest.decode import Partial, Prepared
from logcycle.ingest.protocols import rows
from logcycle.ingest.protocols.common import ClockRule, Item, Replayed, encode_each
from logcycle.ingest.tasks import EventBatch, check_scope
from logcycle.keys import Scope
from logcycle.service import Service


def clock_rule(svc: Service) -> ClockRule:
    """The accepted event times of a request received now."""
    return ClockRule(now_ms=svc.clock.now_ms(), max_future_ms=svc.settings.max_future_ms)


async def store_items(svc: Service, principal: Principal, items: list[Item], *,
                      src_per_item: bool = False, keys: list[str | None] | None = None,
                      idempotency_key: str | None = None) -> list[int | str]:
    """Validate each native event of ``items`` on its own, commit the valid ones in one
    batch and answer, per item, the new event's id or why it was rejected (the error text
    of the adapter, or the field error of the decoder). Returns after the commit.

    ``keys`` (per item, or None) are idempotency keys of single events: an item whose key
    is stored already answers its stored id as a :class:`Replayed`. ``idempotency_key``
    is the request's (the ``Idempotency-Key`` header, or a key made from the body): a
    request whose key is stored answers the ids it was first given.

    A key limited to a ``src`` prefix fails the request with 403, as on the native route;
    with ``src_per_item`` (syslog: nobody to answer) only the events of other sources are
    rejected."""
    items, positions, partial = _validated(svc, items)
    if src_per_item and principal.src_prefix is not None:
        _reject_other_sources(principal.src_prefix, partial)
    results: list[int | str] = [it if isinstance(it, str) else "" for it in items]
    if partial.events:
        batch = EventBatch(partial.events, idempotency_key, principal.id, partial.nul,
                           scope=principal.sources,
                           keys=None if keys is None else
                           [keys[positions[j]] for j in partial.indexes])
        ids = await svc.writer.submit(batch)
        for n, (j, event_id) in enumerate(zip(partial.indexes, ids, strict=True)):
            results[positions[j]] = Replayed(event_id) if n in batch.replayed else event_id
    for err in partial.rejected:
        if err.index is not None:
            results[positions[err.index]] = f"{err.field}: {err.message}"
    return results


def _validated(svc: Service, items: list[Item]) -> tuple[list[Item], list[int], Partial]:
    """``protocols.validate`` of the events among ``items`` (its plain events straight to
    rows: :mod:`logcycle.ingest.protocols.rows`): (the items, the position in
    them of each validated event, the result). The adapters' dicts are written as JSON in
    one call; when that fails (an event JSON cannot hold, or dicts and bytes mixed), each
    is written apart and one that cannot be becomes its own rejection (``encode_each``)."""
    try:
        return _validate_events(svc, items)
    except TypeError:
        if all(isinstance(it, bytes | str) for it in items):
            raise
    return _validate_events(svc, encode_each(items))


def _validate_events(svc: Service, items: list[Item]) \
        -> tuple[list[Item], list[int], Partial]:
    positions = [i for i, it in enumerate(items) if not isinstance(it, str)]
    events: Any = [items[i] for i in positions]
    return items, positions, rows.validated(svc.decoder, events, now_ms=svc.clock.now_ms())


def request_key(request: Request, protocol: str, body: bytes | None) -> str | None:
    """The idempotency key of a shipper's request: its ``Idempotency-Key`` header (as on
    ``POST /api/v1/events``), else, given ``body`` (a protocol whose every record carries
    its own time, so that two identical bodies are one request sent twice), a hash of the
    body. Keys of different protocols never meet (nor the native API's: ``\x1f`` is not
    printable)."""
    header = idempotency_key(request)
    if header is not None:
        return f"{protocol}\x1f{header}"
    if body is None:
        return None
    return f"{protocol}\x1fbody\x1f{hashlib.blake2b(body, digest_size=16).hexdigest()}"


def _reject_other_sources(prefix: str, partial: Partial) -> None:
    keep: list[tuple[int, Prepared]] = []
    for index, event in zip(partial.indexes, partial.events, strict=True):
        try:
            check_scope(Scope(prefix), [event])
            keep.append((index, event))
        except Forbidden as exc:
            partial.rejected.append(FieldError("src", exc.message.removeprefix("event 0: "),
                                               index))
    partial.indexes = [i for i, _ in keep]
    partial.events = [e for _, e in keep]


def rejected(results: list[int | str]) -> list[tuple[int, str]]:
    """The (position, reason) of each rejected item."""
    return [(i, r) for i, r in enumerate(results) if isinstance(r, str)]
