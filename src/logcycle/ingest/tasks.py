"""The units of work the writer commits. Each becomes part of one group transaction
(in its own savepoint, so one failing task does not fail the others).

>>> EventBatch(events=[], idempotency_key=None, principal="k1", scope=ALL).size
1
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from logcycle.errors import Forbidden
from logcycle.ingest.decode import Prepared
from logcycle.keys import ALL, SOURCE_KIND, Scope
from logcycle.kinds import KINDS

__all__ = ["ALL", "DeclareEntity", "EventBatch", "IndexSearch", "Maintain", "RecordBatch",
           "Reindex", "WriteTask"]
_SRC_POS = [f.name for f in KINDS[SOURCE_KIND].data_fields].index("src")


@dataclass(slots=True)
class EventBatch:
    """Validated events; the result is their ids, in order.

    ``scope`` is the writing key's (Principal.scope): a batch holding an event the key may
    not write cannot be built (403), whichever protocol decoded it. This is the one check
    of ``--src-prefix`` on the write path."""

    events: list[Prepared]
    idempotency_key: str | None
    principal: str
    nul: bool = True  # values may hold NUL characters (decode.Batch.nul)
    _: KW_ONLY
    scope: Scope
    # Per event, an idempotency key of its own (an Elasticsearch document's _id), or None:
    # an event whose key is already stored (by an earlier batch of the same principal, or
    # earlier in this one) is not stored again, and its result is the stored event's id.
    keys: list[str | None] | None = None
    # Set by the store on each write: the positions of the events not stored again.
    replayed: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.scope.limited:
            check_scope(self.scope, self.events)

    @property
    def size(self) -> int:
        return max(1, len(self.events))

    @property
    def ids_needed(self) -> int:
        """Ids this batch takes: one per event, and one more per inline error."""
        return len(self.events) + sum(1 for e in self.events if e.error is not None)


def check_scope(scope: Scope, events: list[Prepared]) -> None:
    """403 naming the first event that ``scope`` may not write (none, for an unlimited
    scope)."""
    if not scope.limited:
        return
    for i, ev in enumerate(events):
        src = ev.values[_SRC_POS] if ev.kind.name == SOURCE_KIND else None
        if ev.kind.name != SOURCE_KIND or not scope.admits_src(src):
            raise Forbidden(f"event {i}: this key may only write {SOURCE_KIND} events whose "
                            f"src starts with {scope.src_prefix!r}", code="src_prefix")


@dataclass(slots=True)
class RecordBatch:
    """Records of a declared entity; the result is their ids."""

    entity: str
    records: list[dict[str, Any]]

    @property
    def size(self) -> int:
        return max(1, len(self.records))


@dataclass(slots=True)
class DeclareEntity:
    """Create (or check) an entity's permanent table; the result is its columns."""

    entity: str
    columns: dict[str, str] = field(default_factory=dict)
    size: int = 1


@dataclass(slots=True)
class Maintain:
    """Rotation and retention as of ``now_ms``; the result is a MaintenanceReport."""

    now_ms: int
    force: bool = False
    # The server's own runs (at start, at each turn): a store ahead of the clock is left
    # as it is (no Conflict, nothing emptied) and the result may be None.
    catch_up: bool = False
    size: int = 1


@dataclass(slots=True)
class Reindex:
    """Bring the indexes built behind the writer up to date; the result is rows indexed."""

    size: int = 1


@dataclass(slots=True)
class IndexSearch:
    """Add up to ``max_rows`` rows to the message search index; the result is rows indexed
    (0: the index is up to date, or the engine keeps it by itself)."""

    max_rows: int
    size: int = 1


WriteTask = EventBatch | RecordBatch | DeclareEntity | Maintain | Reindex | IndexSearch
