"""What an alert notification says and how one attempt sends it: webhooks (JSON, Slack
or Teams bodies, signed with HMAC-SHA256 when the target has a secret) and e-mail over
SMTP. Retries, the outbox and the threads are delivery.py's.

    post_webhook(Webhook(webhook="http://127.0.0.1:9000/hook"), note, timeout_s=10)
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from logcycle.alerts.rules import Email, Target, Webhook

SIGNATURE_HEADER = "X-Logcycle-Signature"
TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Note:
    """What one notification says."""

    alert_id: int
    alert: str
    state: str  # firing | resolved
    value: float
    threshold: float | None
    query: str | None
    condition: dict[str, Any]
    started_at: int  # epoch ms the rule started firing
    at: int  # epoch ms of this notification
    link: str
    groups: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        return {"alert": self.alert, "alert_id": self.alert_id, "state": self.state,
                "value": self.value, "threshold": self.threshold, "query": self.query,
                "condition": self.condition, "started_at": self.started_at, "at": self.at,
                "link": self.link, "groups": list(self.groups)}

    def text(self) -> str:
        verb = "is firing" if self.state == "firing" else "resolved"
        limit = "" if self.threshold is None else f" (threshold {self.threshold:g})"
        return f"logcycle alert {self.alert!r} {verb}: value {self.value:g}{limit}. {self.link}"


def webhook_body(note: Note, fmt: str) -> bytes:
    """The JSON body for a webhook of format ``json``, ``slack`` or ``teams``."""
    if fmt == "slack":
        return orjson.dumps({"text": note.text()})
    if fmt == "teams":
        color = "D70000" if note.state == "firing" else "2DC72D"
        return orjson.dumps({
            "@type": "MessageCard", "@context": "https://schema.org/extensions",
            "summary": f"{note.alert} {note.state}", "themeColor": color,
            "title": f"logcycle: {note.alert} {note.state}", "text": note.text(),
            "potentialAction": [{"@type": "OpenUri", "name": "Open in logcycle",
                                 "targets": [{"os": "default", "uri": note.link}]}]})
    return orjson.dumps(note.body())


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class DeliveryError(Exception):
    pass


def post_webhook(target: Webhook, note: Note, *, timeout_s: float = TIMEOUT_S) -> None:
    body = webhook_body(note, target.format)
    headers = {"Content-Type": "application/json", "User-Agent": "logcycle-alerts"}
    if target.secret:
        headers[SIGNATURE_HEADER] = signature(target.secret, body)
    req = urllib.request.Request(target.webhook, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:  # noqa: S310  # http(s) only
            r.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def send_mail(smtp_url: str, sender: str, target: Email, note: Note, *,
              timeout_s: float = TIMEOUT_S) -> None:
    if not smtp_url:
        raise DeliveryError("no mail server: start the server with --smtp-url")
    u = urlsplit(smtp_url)
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, target.email
    msg["Subject"] = f"[logcycle] {note.alert} {note.state}"
    msg.set_content(note.text() + "\n\n" + orjson.dumps(note.body(),
                                                        option=orjson.OPT_INDENT_2).decode())
    try:
        cls = smtplib.SMTP_SSL if u.scheme == "smtps" else smtplib.SMTP
        with cls(u.hostname or "localhost", u.port or (465 if u.scheme == "smtps" else 25),
                 timeout=timeout_s) as smtp:
            if u.scheme != "smtps":
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
            if u.username:
                smtp.login(unquote(u.username), unquote(u.password or ""))
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def where(target: Target) -> str:
    if isinstance(target, Webhook):
        u = urlsplit(target.webhook)
        return f"webhook {u.scheme}://{u.hostname}{':' + str(u.port) if u.port else ''}{u.path}"
    return f"email {target.email}"
