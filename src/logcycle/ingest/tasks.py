"""The units of work the writer commits. Each becomes part of one group transaction
(in its own savepoint, so one failing task does not fail the others).

>>> EventBatch(events=[], idempotency_key=None, principal="k1").size
1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from logcycle.ingest.decode import Prepared


@dataclass(slots=True)
class EventBatch:
    """Validated events; the result is their ids, in order."""

    events: list[Prepared]
    idempotency_key: str | None
    principal: str
    nul: bool = True  # values may hold NUL characters (decode.Batch.nul)

    @property
    def size(self) -> int:
        return max(1, len(self.events))

    @property
    def ids_needed(self) -> int:
        """Ids this batch takes: one per event, and one more per inline error."""
        return len(self.events) + sum(1 for e in self.events if e.error is not None)


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
