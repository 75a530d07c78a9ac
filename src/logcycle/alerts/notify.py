"""Deliveries of alert notifications: webhooks (JSON, Slack or Teams bodies, signed with
HMAC-SHA256 when the target has a secret, retried with back-off) and e-mail over SMTP.

A delivery runs on the notifier's own thread, from a bounded queue, so a slow receiver
never holds up the evaluation of other rules; each result (ok or the error, attempts) is
handed to ``on_result`` (the scheduler records it in the rule's ``deliveries``).

    n = Notifier(smtp_url="smtp://mail:25", on_result=print)
    n.start(); n.send(note, targets); n.wait_idle(5)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from logcycle.alerts.rules import Email, Target, Webhook

log = logging.getLogger("logcycle.alerts")
SIGNATURE_HEADER = "X-Logcycle-Signature"
ATTEMPTS = 4
TIMEOUT_S = 10.0
MAX_QUEUE = 1000


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


def post_webhook(target: Webhook, note: Note) -> None:
    body = webhook_body(note, target.format)
    headers = {"Content-Type": "application/json", "User-Agent": "logcycle-alerts"}
    if target.secret:
        headers[SIGNATURE_HEADER] = signature(target.secret, body)
    req = urllib.request.Request(target.webhook, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:  # noqa: S310  # http(s) only
            r.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def send_mail(smtp_url: str, sender: str, target: Email, note: Note) -> None:
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
                 timeout=TIMEOUT_S) as smtp:
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


Result = dict[str, Any]


class Notifier:
    def __init__(self, *, smtp_url: str = "", smtp_from: str = "logcycle@localhost",
                 on_result: Callable[[int, Result], None], backoff_s: float = 1.0,
                 now_ms: Callable[[], int]) -> None:
        self.smtp_url, self.smtp_from = smtp_url, smtp_from
        self.on_result = on_result
        self.backoff_s = backoff_s
        self.now_ms = now_ms
        self._q: queue.Queue[tuple[Note, Target] | None] = queue.Queue(MAX_QUEUE)
        self._busy = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="logcycle-notify")
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(30)
            self._thread = None

    def send(self, note: Note, targets: list[Target]) -> None:
        for t in targets:
            try:
                with self._lock:
                    self._busy += 1
                self._q.put_nowait((note, t))
            except queue.Full:
                with self._lock:
                    self._busy -= 1
                self.on_result(note.alert_id, self._result(note, t, False, 0,
                                                           "dropped: the delivery queue is full"))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued delivery is done (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._busy == 0:
                    return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while (item := self._q.get()) is not None:
            try:
                self.deliver(*item)
            except Exception:  # a bug in one delivery must not stop the others
                log.exception("alert delivery failed")
            finally:
                with self._lock:
                    self._busy -= 1

    def deliver(self, note: Note, target: Target) -> None:
        """Send with retries (back-off 1, 2, 4 times ``backoff_s``); report the outcome."""
        error = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if isinstance(target, Webhook):
                    post_webhook(target, note)
                else:
                    send_mail(self.smtp_url, self.smtp_from, target, note)
                self.on_result(note.alert_id, self._result(note, target, True, attempt, ""))
                return
            except DeliveryError as exc:
                error = str(exc)
                log.warning("alert %r: delivery to %s failed (attempt %d): %s", note.alert,
                            _where(target), attempt, error)
            if attempt < ATTEMPTS:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        self.on_result(note.alert_id, self._result(note, target, False, ATTEMPTS, error))

    def _result(self, note: Note, target: Target, ok: bool, attempts: int, error: str) -> Result:
        return {"at": self.now_ms(), "state": note.state, "target": _where(target), "ok": ok,
                "attempts": attempts, "error": error or None}


def _where(target: Target) -> str:
    if isinstance(target, Webhook):
        u = urlsplit(target.webhook)
        return f"webhook {u.scheme}://{u.hostname}{':' + str(u.port) if u.port else ''}{u.path}"
    return f"email {target.email}"
