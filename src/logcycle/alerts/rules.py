"""An alert rule as it is sent, stored and shown (docs/alerts.md), validated with msgspec:

>>> r = parse_rule(b'{"name": "5xx", "query": "kind:error", '
...                b'"condition": {"type": "count", "above": 10, "window_s": 300}}')
>>> r.every_s, type(r.condition).__name__
(30, 'Count')
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from logcycle.errors import BadRequest
from logcycle.query.selection import selection
from logcycle.query.stats import parse_metrics

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Window = Annotated[int, msgspec.Meta(ge=1, le=7 * 86400)]


class Count(msgspec.Struct, tag="count", tag_field="type", forbid_unknown_fields=True):
    above: Annotated[float, msgspec.Meta(ge=0)]
    window_s: Window = 300


class NewGroup(msgspec.Struct, tag="new_error_group", tag_field="type",
               forbid_unknown_fields=True):
    pass


class Regressed(msgspec.Struct, tag="regressed_error_group", tag_field="type",
                forbid_unknown_fields=True):
    pass


class Stat(msgspec.Struct, tag="stat", tag_field="type", forbid_unknown_fields=True):
    metric: Annotated[str, msgspec.Meta(max_length=40)]
    above: float
    window_s: Window = 300


Condition = Count | NewGroup | Regressed | Stat


class Webhook(msgspec.Struct, forbid_unknown_fields=True):
    webhook: Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=2000)]
    secret: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    format: Literal["json", "slack", "teams"] = "json"


class Email(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s,;]+@[^@\s,;]+$", max_length=320)]


Target = Webhook | Email


class Rule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    condition: Condition
    query: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    every_s: Annotated[int, msgspec.Meta(ge=1, le=86400)] = 30
    # Each a Webhook or an Email, told apart by its key (checked by parse_rule).
    notify: Annotated[list[dict[str, str]], msgspec.Meta(max_length=20)] = []
    enabled: bool = True


_DECODER = msgspec.json.Decoder(Rule)


def targets(rule: Rule) -> list[Target]:
    """The rule's notification targets, typed."""
    out: list[Target] = []
    for t in rule.notify:
        out.append(msgspec.convert(t, Webhook) if "webhook" in t else msgspec.convert(t, Email))
    return out


def parse_rule(body: bytes) -> Rule:
    """A validated rule, or a 400 naming the field."""
    try:
        rule = _DECODER.decode(body)
        for i, t in enumerate(rule.notify):
            if ("webhook" in t) == ("email" in t):
                raise BadRequest(f"notify[{i}]: a target is {{\"webhook\": URL, ...}} or "
                                 "{\"email\": ADDRESS}", code="invalid_rule")
            try:
                msgspec.convert(t, Webhook if "webhook" in t else Email)
            except msgspec.ValidationError as exc:
                raise BadRequest(f"invalid rule: notify[{i}]: {exc}",
                                 code="invalid_rule") from None
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid rule: {exc}", code="invalid_rule") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}", code="invalid_json") from None
    selection(rule.query)  # a 400 now, not at every evaluation
    if isinstance(rule.condition, Stat):
        metric = stats_metric(rule.condition.metric)
        try:
            metrics = parse_metrics(metric)
        except BadRequest as exc:
            raise BadRequest(f"condition.metric: {exc.message.removeprefix('metrics: ')}",
                             code="invalid_rule") from None
        if len(metrics) != 1:
            raise BadRequest("condition.metric: one metric", code="invalid_rule")
    return rule


def stats_metric(metric: str) -> str:
    """A rule's metric as ``GET /api/v1/stats?metrics=`` names it (``count()`` was the
    first spelling of ``count``)."""
    return "count" if metric.strip() == "count()" else metric.strip()


def rule_json(rule: Rule) -> str:
    return msgspec.json.encode(rule).decode()


def shown(rule: Rule) -> dict[str, object]:
    """The rule as the API shows it: secrets are never echoed."""
    out: dict[str, object] = msgspec.to_builtins(rule)
    out["notify"] = [{**t, "secret": "***"} if t.get("secret") else t for t in rule.notify]
    return out
