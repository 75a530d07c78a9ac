"""``GET /api/v1/whoami``: what the caller's key may do, and the server's clock and week.

The web page signs in with it (a wrong key is a 401) and uses the answer to offer the
admin panel and to compute time ranges on the server's clock::

    {"key": "key-3", "scope": "read", "src_prefix": null, "read": true, "admin": false,
     "now": …,
     "timezone": "UTC", "week": 1403, "week_start": …, "previous_week_start": …,
     "next_rotation": …, "retention_weeks": 9}
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle import cycles
from logcycle.api.events import svc_of
from logcycle.api.http import JSON


async def whoami(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.identify(request)
    now = svc.clock.now_ms()
    tz = svc.settings.tz
    week = cycles.week_of(now, tz)
    return JSON({
        "key": principal.id, "scope": principal.scope, "src_prefix": principal.src_prefix,
        "read": principal.may("read"), "admin": principal.may("admin"),
        "now": now, "timezone": svc.settings.timezone, "week": week,
        "week_start": cycles.week_start_ms(week, tz),
        "previous_week_start": cycles.week_start_ms(week - 1, tz),
        "next_rotation": cycles.next_rotation_ms(now, tz),
        "retention_weeks": svc.settings.retention_weeks,
    }, headers={"Cache-Control": "no-store"})


routes = [Route("/api/v1/whoami", whoami, methods=["GET"])]
