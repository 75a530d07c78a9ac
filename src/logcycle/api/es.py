"""Elasticsearch / OpenSearch bulk ingest under ``/es`` (point a shipper's Elasticsearch
output at ``http://host:5380/es``): ``POST|PUT /es/_bulk`` and ``/es/{index}/_bulk``,
``GET /es/`` (the version document and ``X-Elastic-Product`` that clients check), and the
few start-up probes shippers make (license, cluster health, templates, ILM policies).

Which fields hold the time and the message: the ``_time_field`` / ``_msg_field`` query
parameters (or headers ``Logcycle-Time-Field`` / ``Logcycle-Msg-Field``), then the
settings ``--es-time-field`` / ``--es-msg-field``, then the defaults of
:mod:`logcycle.ingest.protocols.es_bulk`. Other query parameters of Elasticsearch
(``refresh``, ``pipeline``, ``timeout``...) are accepted and have no effect.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle import __version__
from logcycle.api.errors import ES_PRODUCT
from logcycle.api.events import svc_of
from logcycle.api.http import JSON, read_body
from logcycle.api.shipping import clock_rule, request_key, store_items
from logcycle.errors import NotFound
from logcycle.ingest.protocols import es_bulk, rows

# The version shippers see: an 8.x that every current Beat, Logstash, Fluent Bit, Vector
# and client accepts (VictoriaLogs answers 8.9.0 for the same reason).
ES_VERSION = "8.11.0"
INFO = {
    "name": "logcycle", "cluster_name": "logcycle", "cluster_uuid": "logcycle",
    "version": {"number": ES_VERSION, "build_flavor": "default", "build_type": "docker",
                "lucene_version": "9.8.0", "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
                "logcycle_version": __version__},
    "tagline": "You Know, for Search",
}
LICENSE = {"status": "active", "type": "basic", "mode": "basic", "uid": "logcycle",
           "issue_date_in_millis": 0}
# Start-up probes (method, path pattern) and their answers: enough for Filebeat,
# Logstash, Vector and Fluentd to go on (templates and policies "exist"; PUTs succeed).
PROBES: list[tuple[str, re.Pattern[str], dict[str, Any]]] = [
    ("GET", re.compile(r"_license"), {"license": LICENSE}),
    ("GET", re.compile(r"_xpack"), {"build": {}, "features": {}, "license": LICENSE}),
    ("GET", re.compile(r"_cluster/health(/.*)?"), {"cluster_name": "logcycle",
                                                  "status": "green", "number_of_nodes": 1}),
    ("GET", re.compile(r"_nodes(/.*)?"), {"_nodes": {"total": 1, "successful": 1, "failed": 0},
                                         "cluster_name": "logcycle", "nodes": {}}),
    ("GET", re.compile(r"(_index_template|_template|_ilm/policy|_component_template)/[^/]+"),
     {}),
    ("PUT", re.compile(r"(_index_template|_template|_ilm/policy|_component_template|"
                       r"_data_stream)/[^/]+"), {"acknowledged": True}),
    ("GET", re.compile(r"_data_stream/[^/]+"), {"data_streams": []}),
]


class ES(JSON):
    """A JSON answer with the product header every Elasticsearch client checks."""

    def __init__(self, content: Any, status_code: int = 200) -> None:
        super().__init__(content, status_code=status_code, headers=ES_PRODUCT)

    def render(self, content: Any) -> bytes:
        return content if type(content) is bytes else super().render(content)  # JSON already


async def info(request: Request) -> Response:
    await svc_of(request).auth.identify(request)
    return ES(INFO)


async def probe(request: Request) -> Response:
    """The start-up calls of shippers that logcycle answers without doing anything."""
    await svc_of(request).auth.identify(request)
    path = request.path_params["probe"].strip("/")
    method = "GET" if request.method == "HEAD" else request.method
    for m, pattern, body in PROBES:
        if m == method and pattern.fullmatch(path):
            return ES(body)
    raise NotFound(f"logcycle answers only bulk ingest under /es: no {request.method} "
                   f"/es/{path[:80]}")


async def bulk(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.require(request, "ingest")
    svc.writer.check_capacity()
    started = svc.clock.now_ms()
    body = await read_body(request, svc.settings.max_body_bytes)
    q, h = request.query_params, request.headers
    fields = es_bulk.Fields.of(
        q.get("_time_field") or h.get("logcycle-time-field") or svc.settings.es_time_field,
        q.get("_msg_field") or h.get("logcycle-msg-field") or svc.settings.es_msg_field)
    clock = clock_rule(svc)
    req = await svc.offload.run(es_bulk.parse_bulk, body, request.path_params.get("index"),
                                fields, clock, rows.limit_of(svc.decoder, clock.now_ms))
    results = await store_items(svc, principal, req.items, keys=req.keys(),
                                idempotency_key=request_key(request, "es", None))
    return ES(es_bulk.answer_json(req, results, svc.clock.now_ms() - started))


routes = [
    Route("/es", info, methods=["GET"]),
    Route("/es/", info, methods=["GET"]),
    Route("/es/_bulk", bulk, methods=["POST", "PUT"]),
    Route("/es/{index}/_bulk", bulk, methods=["POST", "PUT"]),
    Route("/es/{probe:path}", probe, methods=["GET", "PUT"]),
]
