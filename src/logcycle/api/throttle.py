"""Failed authentications throttled per client address, and logged in aggregate.

An address that sent ``limit`` unknown keys within ``window_s`` gets ``429`` with
``Retry-After`` (until its window ends) on every request that carries a key, before the
key is even looked at: guessing keys costs a minute per ``limit`` guesses. Requests without
a key are not counted (they learn nothing). Behind a reverse proxy every client has the
proxy's address: list the proxy in ``--trusted-proxies`` and the address is taken from
``X-Forwarded-For`` instead (the rightmost entry that is not a trusted proxy); the header
of any other peer is ignored, so it cannot be used to dodge the throttle.

Failures are logged once per window, never once per attempt::

    auth: 2085 failed authentications in the last 60 s from 1 address (127.0.0.1: 2085); 1 throttled

    throttle = FailureThrottle(limit=20, window_s=60)
    throttle.check("10.0.0.7")       # raises TooManyFailures when over the limit
    throttle.failed("10.0.0.7")
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable

from starlette.requests import Request

from logcycle.errors import LogcycleError

log = logging.getLogger("logcycle.auth")
MAX_TRACKED = 10_000  # addresses remembered at once (the oldest are forgotten first)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TooManyFailures(LogcycleError):
    status = 429
    code = "too_many_failed_authentications"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FailureThrottle:
    """Counts failures per address in fixed windows of ``window_s`` (event loop only)."""

    def __init__(self, *, limit: int, window_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._now = monotonic
        self._windows: dict[str, tuple[float, int]] = {}  # address → (window start, failures)
        self._log_start = monotonic()
        self._logged: dict[str, int] = {}
        self._throttled = 0

    def check(self, address: str) -> None:
        """Raise TooManyFailures if ``address`` used up its failures in this window."""
        if self.limit <= 0:
            return
        now = self._now()
        start, count = self._windows.get(address, (now, 0))
        if count >= self.limit and now - start < self.window_s:
            self._throttled += 1
            self._flush(now)
            wait = max(1, math.ceil(self.window_s - (now - start)))
            raise TooManyFailures(f"too many failed authentications from {address}: retry "
                                  f"in {wait} s", retry_after=wait)

    def failed(self, address: str) -> None:
        now = self._now()
        self._flush(now)
        if self.limit > 0:
            start, count = self._windows.pop(address, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            self._windows[address] = (start, count + 1)  # re-inserted: the newest
            while len(self._windows) > MAX_TRACKED:
                del self._windows[next(iter(self._windows))]
        # Bounded too: past MAX_TRACKED addresses in one window, the rest count as "others".
        key = address if address in self._logged or len(self._logged) < MAX_TRACKED \
            else "others"
        self._logged[key] = self._logged.get(key, 0) + 1

    def _flush(self, now: float) -> None:
        """One log line per window, at the first failure after it ended."""
        if now - self._log_start < self.window_s:
            return
        if self._logged:
            total = sum(self._logged.values())
            top = sorted(self._logged.items(), key=lambda kv: -kv[1])[:3]
            log.warning("auth: %d failed authentications in the last %d s from %d address%s "
                        "(%s); %d requests throttled", total, round(now - self._log_start),
                        len(self._logged), "" if len(self._logged) == 1 else "es",
                        ", ".join(f"{a}: {n}" for a, n in top), self._throttled)
        self._log_start, self._logged, self._throttled = now, {}, 0


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` → networks; ValueError naming a bad entry."""
    nets: list[Network] = []
    for item in (t.strip() for t in text.split(",")):
        if item:
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"trusted proxy {item!r} is not an address or a network "
                                 "(e.g. 10.0.0.1 or 10.0.0.0/8)") from None
    return tuple(nets)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(request: Request, proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer's, or when the peer is a trusted proxy, the
    rightmost address of ``X-Forwarded-For`` that is not a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, proxies):
            return hop[:64]
    return peer
