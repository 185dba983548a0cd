"""Webhook deliveries, as Intercom makes them: a ``notification_event`` per change, POSTed
as JSON to the app's endpoint URL and signed ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the
raw body, keyed with the app's client secret>``.

The sandbox delivers to a loopback URL only (it never reaches out of the machine), one
notification after the other, from a thread of its own so that no API answer waits for
the endpoint. ``flush()`` waits until everything queued has been sent.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import queue
import sys
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from intercom_connector.sandbox.store import Record

SIGNATURE_HEADER = "X-Hub-Signature"


def check_loopback_url(url: str) -> str:
    """``url`` when it is http(s) on a loopback address, without user info; ValueError
    otherwise (the message never repeats a password)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").strip("[]")
        parts.port  # noqa: B018  (a port that is no number is refused here, not when sending)
    except ValueError:
        raise ValueError("the webhook URL is not a valid URL") from None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if "@" in parts.netloc:
        raise ValueError("the webhook URL must not hold a user name or password (user:password@)")
    if parts.scheme not in ("http", "https") or not loopback:
        shown = url if len(url) <= 100 else url[:97] + "..."
        raise ValueError(
            f"the sandbox delivers webhooks to a loopback URL only (http://127.0.0.1:PORT/...), "
            f"not {shown!r}"
        )
    return url


def notification(app_id: str, topic: str, item: Record, now: int) -> Record:
    """One notification_event, as Intercom sends it."""
    return {
        "type": "notification_event",
        "app_id": app_id,
        "data": {"type": "notification_event_data", "item": item},
        "links": {},
        "id": f"notif_{uuid.uuid4()}",
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": now,
        "created_at": now,
        "self": None,
    }


def signature(body: bytes, secret: str) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """What became of one notification: the endpoint's HTTP status (0: unreachable)."""

    notification: Record
    status: int


class WebhookSender:
    """Sends notifications to one endpoint URL, in order, signed with ``secret``."""

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0) -> None:
        self.url = check_loopback_url(url)
        self._secret = secret
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)
        self._queue: queue.Queue[Record | None] = queue.Queue()
        self.deliveries: list[Delivery] = []
        self._thread = threading.Thread(target=self._run, daemon=True, name="sandbox-webhooks")
        self._thread.start()

    def send(self, notifications: list[Record]) -> None:
        for item in notifications:
            self._queue.put(item)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every notification queued so far has been delivered (or failed)."""
        done = threading.Event()
        self._queue.put({"__flush__": done})
        if not done.wait(timeout):
            raise TimeoutError("webhook deliveries still pending")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._http.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if "__flush__" in item:
                item["__flush__"].set()
                continue
            self.deliveries.append(Delivery(item, self._deliver(item)))

    def _deliver(self, item: Record) -> int:
        body = json.dumps(item).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Intercom-Webhooks (sandbox)",
            SIGNATURE_HEADER: signature(body, self._secret),
        }
        try:
            status = self._http.post(self.url, content=body, headers=headers).status_code
        except httpx.HTTPError as error:
            print(
                f"sandbox: webhook {item['topic']} to {self.url} failed: {error}", file=sys.stderr
            )
            return 0
        if status >= 300:
            print(f"sandbox: webhook {item['topic']} answered {status}", file=sys.stderr)
        return status
