"""Realistic synthetic logs, written straight into a store as if received over time: for
the web page's benchmark (bench/web.py) and its screenshots (bench/screenshots.py).

A request is a top-level event (a screen, an exposed integration, a mobile request or a
cyclic job) and its drill events (general logs, consumed integrations, extensions,
request events, and now and then an error with a stack trace); devices add general logs
on RPC sources (``src``/``stream``). Batches are applied at increasing insert instants
over ``span_ms`` ending at ``now_ms``, so histograms and time ranges have something to show.

    seed(Path("data"), events=100_000, span_ms=7 * 86_400_000, now_ms=now)
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import orjson

from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, IndexSearch, Reindex
from logcycle.settings import Settings
from logcycle.store.factory import make_store

MODULES = ["shop", "billing", "auth", "search", "catalog", "mobile_api", "reports"]
SCREENS = ["Checkout", "Cart", "Login", "ProductList", "ProductDetail", "Orders", "Profile"]
ENDPOINTS = ["/api/orders", "/api/payments/charge", "/api/stock", "/soap/InvoiceService",
             "/api/customers/lookup"]
USERS = 50_000
WORDS = ("request processed for customer order payment timeout retry cache miss user session "
         "invalid token refreshed upstream latency database query slow index scan").split()
FAILURES = [("payment refused by the acquirer", "PaymentError: HTTP 402 from /api/payments/charge"),
            ("timeout calling the stock service", "TimeoutError: no answer after 5000 ms"),
            ("null reference in CartTotal", "NullReferenceException: Object reference not set"),
            ("database deadlock, transaction rolled back", "DeadlockError: victim of deadlock")]


def _stack(rng: random.Random, head: str) -> str:
    frames = [f"  at {rng.choice(MODULES)}.{rng.choice(SCREENS)}Action.Run() "
              f"line {rng.randint(10, 900)}" for _ in range(rng.randint(3, 7))]
    return "\n".join([head, *frames])


def _top(rng: random.Random, key: str, t: int, module: str) -> dict[str, Any]:
    roll = rng.random()
    common = {"instant": t, "request_key": key, "module_name": module}
    if roll < 0.6:
        return {"kind": "screen", **common, "duration_ms": rng.randint(40, 1500),
                "screen": rng.choice(SCREENS), "user_id": f"u{rng.randint(1, 5000)}",
                "action_name": rng.choice(["Load", "Save", "Submit", "Refresh"])}
    if roll < 0.8:
        return {"kind": "integration", **common, "duration_ms": rng.randint(20, 2500),
                "is_expose": True, "endpoint": rng.choice(ENDPOINTS), "type": "REST",
                "action": rng.choice(["GET", "POST"])}
    if roll < 0.93:
        return {"kind": "mobile_request", **common, "duration_ms": rng.randint(50, 3000),
                "endpoint": rng.choice(ENDPOINTS), "screen": rng.choice(SCREENS)}
    return {"kind": "cyclic_job", **common, "duration_ms": rng.randint(500, 60_000),
            "cyclic_job_name": rng.choice(["SyncOrders", "PurgeCarts", "SendReminders"])}


def _drill(rng: random.Random, key: str, t: int, module: str) -> dict[str, Any]:
    roll = rng.random()
    common = {"instant": t, "request_key": key, "module_name": module}
    if roll < 0.55:
        return {"kind": "general", **common,
                "message": " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))),
                "message_type": rng.choice(["Information", "Information", "Debug"]),
                "duration_ms": rng.randint(0, 200)}
    if roll < 0.75:
        return {"kind": "integration", **common, "duration_ms": rng.randint(5, 900),
                "is_expose": False, "endpoint": rng.choice(ENDPOINTS), "type": "REST",
                "action": rng.choice(["GET", "POST"])}
    if roll < 0.88:
        return {"kind": "extension", **common, "duration_ms": rng.randint(1, 300),
                "extension_name": rng.choice(["PdfLib", "Crypto", "ImageTools"]),
                "action_name": rng.choice(["Render", "Sign", "Resize"])}
    return {"kind": "request_event", **common, "request_event_name": "QueryExecuted",
            "module_key": module, "application_key": "app-1", "application_name": "Store",
            "request_event_details": {"rows": rng.randint(0, 500), "ms": rng.randint(1, 90)}}


def request(rng: random.Random, t: int) -> list[dict[str, Any]]:
    """One request's events: the top-level event first, drill events after it."""
    key = str(uuid.UUID(int=rng.getrandbits(128)))
    module = rng.choice(MODULES)
    events = [_top(rng, key, t, module)]
    offset = 0
    for _ in range(rng.randint(2, 6)):
        offset += rng.randint(1, 120)
        events.append(_drill(rng, key, t + offset, module))
    # The user of the request, one of USERS, in attributes (bench/query.py's selective
    # filter); drawn from the key, so the other draws, and the other benchmarks' data,
    # stay as they were.
    events[0]["attributes"] = {"user_id": f"user-{int(key[:8], 16) % USERS}"}
    if rng.random() < 0.08:
        message, head = rng.choice(FAILURES)
        events.append({"kind": "error", "instant": t + offset + 1, "request_key": key,
                       "module_name": module, "message": message, "detail": _stack(rng, head),
                       "action_name": events[0].get("action_name")})
    return [{k: v for k, v in e.items() if v is not None} for e in events]


def device_log(rng: random.Random, t: int) -> dict[str, Any]:
    return {"kind": "general", "instant": t, "src": f"device/{rng.randint(1, 40)}",
            "stream": rng.choice(["console", "console", "kernel"]),
            "message": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))),
            "message_type": rng.choice(["Information", "Debug", "Error"])}


def events_at(rng: random.Random, t: int, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        out.extend(request(rng, t - rng.randint(0, 2000)) if rng.random() < 0.85
                   else [device_log(rng, t - rng.randint(0, 2000))])
    return out[:n]


def seed(data: Path, *, events: int, span_ms: int, now_ms: int, batch: int = 500,
         extra: list[dict[str, Any]] | None = None, rng_seed: int = 1,
         store_url: str = "") -> int:
    """Write ``events`` events (plus ``extra`` at the end) into the store in ``data`` (or
    at ``store_url``); returns how many were written."""
    rng = random.Random(rng_seed)
    store = make_store(Settings(data=data, **({"store": store_url} if store_url else {})))
    start = now_ms - span_ms
    store.open(start)
    decoder = BatchDecoder(max_future_ms=10 * 86_400_000, max_batch=100_000)
    batches = max(1, events // batch)
    written = 0
    for i in range(batches):
        t = start + span_ms * (i + 1) // batches - rng.randint(0, 3000)
        evs = events_at(rng, t, batch if i < batches - 1 else events - written)
        if i == batches - 1 and extra:
            evs += extra
        prepared = decoder.decode_json(orjson.dumps(evs), now_ms=t)
        store.apply([EventBatch(prepared.events, None, "demo", scope=ALL)], t)
        written += len(evs)
    if store.has_deferred_indexes:  # the summaries fold a bounded step at a time
        store.apply([Reindex()], now_ms)
        while getattr(store, "reindex_behind", False):
            store.apply([Reindex()], now_ms)
    while store.apply([IndexSearch(1_000_000)], now_ms)[0]:  # the message index, built now
        pass
    store.close()
    return written
