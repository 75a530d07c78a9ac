"""What a ``query`` selects, as the store reads it: the one place that turns the text of
a ``query`` (an alert rule's, ``GET /api/v1/errors?query=``) into an
:class:`~logcycle.query.filters.EventFilter`.

Until the query language lands (issue 14) a query is the filters of
``GET /api/v1/events`` written as a query string:

>>> selection("kind=error&module=shop&q=payment").module_name
'shop'
>>> selection(None).kinds[:2]
('screen', 'integration')
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from logcycle.errors import BadRequest
from logcycle.query.filters import EventFilter

MAX_QUERY = 4096


def selection(query: str | None, *, field: str = "query") -> EventFilter:
    """The filter of ``query`` (None or empty: everything); a 400 naming ``field`` and
    the problem when it is not one."""
    if not query:
        return EventFilter()
    if len(query) > MAX_QUERY:
        raise BadRequest(f"{field} is longer than {MAX_QUERY} characters",
                         code="invalid_parameter")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BadRequest(f"{field}: not a query (filters as in GET /api/v1/events, for "
                         "example kind=error&module=shop)", code="invalid_parameter") from None
    # The filters are the native API's (api/events.py imports the service, which imports
    # the alerts that call this): imported here, when first used.
    from logcycle.api.events import FILTER_PARAMS, parse_filter
    from logcycle.api.http import check_params

    params = dict(pairs)
    if len(params) != len(pairs):
        raise BadRequest(f"{field}: a filter is given twice", code="invalid_parameter")
    try:
        check_params(params, (*FILTER_PARAMS,))
        return parse_filter(params)
    except BadRequest as exc:
        raise BadRequest(f"{field}: {exc.message}", code="invalid_parameter") from None
