"""What a ``query`` selects, as the store reads it: the one place that turns the text of
a ``query`` (an alert rule's, ``GET /api/v1/errors?query=``) into an
:class:`~logcycle.query.filters.EventFilter`: the query language of docs/query.md.

>>> selection("kind:error module_name:shop").query.fields()
('kind', 'module_name')
>>> selection(None).query is None
True
"""

from __future__ import annotations

from logcycle.kinds import KIND_NAMES
from logcycle.query.compile import check_fields
from logcycle.query.filters import EventFilter
from logcycle.query.lang import parse


def selection(query: str | None, *, kinds: tuple[str, ...] = KIND_NAMES) -> EventFilter:
    """The filter of ``query`` over ``kinds`` (None or blank: everything); a 400 naming
    the ``query`` parameter, the position and the problem when it is not one."""
    if query is None or not query.strip():
        return EventFilter(kinds=kinds)
    q = parse(query)
    check_fields(q, kinds)
    return EventFilter(kinds=kinds, query=q)
