"""The webhook sender: the one thing the fake sends, and only to the URLs its user set.

The engine keeps the events the API would send webhooks for in its outbox (`lifecycle.emit`; where they
go is `engine/webhook_endpoints.py`). The running fake takes them from there at each tick and POSTs each
to every endpoint that wants it, as the API does (and as Standard Webhooks says), so that the SDK's own
`client.webhooks.unwrap(body, headers, secret=...)` verifies it:

    POST /hook HTTP/1.1
    content-type: application/json
    user-agent: OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)
    webhook-id: wh_...                       (one per event and endpoint, the same on every retry)
    webhook-timestamp: 1750287078            (this attempt's)
    webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{timestamp}.{body}" with the secret's bytes>

    {"id": "evt_...", "object": "event", "created_at": 1750287018, "type": "batch.completed", "data": {"id": "batch_..."}}

A delivery that gets no 2xx within the profile's `webhook_timeout` is retried after each of its
`webhook_backoff` waits (compressed: the real API retries for up to 72 hours), then given up. Every attempt
is a journal record of kind "webhook" (url, event type, attempt, status, outcome, error; never the
secret). Deliveries run as tasks on the fake's event loop, with httpx2 (openai's own HTTP client): they
never block it, and a slow receiver delays no other.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from .codec import to_json
from .engine import Engine
from .engine.webhook_endpoints import Endpoint, take
from .journal import Entry, Journal, redact_target

__all__ = ["USER_AGENT", "Delivery", "Sender", "body_of", "signature"]

logger = logging.getLogger(__name__)

#: What the API's webhook requests say they are.
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"


def body_of(event: dict) -> bytes:
    """An event as the API sends it: `{"id", "object": "event", "created_at", "type", "data"}`."""
    return to_json({"id": event["id"], "object": "event", "created_at": event["created_at"], "type": event["type"],
                    "data": event["data"]})


def signature(secret: str | list[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,<base64 HMAC-SHA256>` (Standard Webhooks, as the API signs), one
    per secret, space-separated (a secret rotated out but still active signs too)."""
    from standardwebhooks.webhooks import Webhook

    at = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return " ".join(Webhook(s).sign(webhook_id, at, body.decode()) for s in ([secret] if isinstance(secret, str) else secret))


@dataclass
class Delivery:
    """One event on its way to one endpoint: the same body and `webhook-id` on every attempt."""

    event: dict
    endpoint: Endpoint
    body: bytes
    webhook_id: str
    attempt: int = 0

    @property
    def subject(self) -> str:
        """What the event is about, for the journal: the object's id (or the call's, for a call event)."""
        data = self.event.get("data") or {}
        return str(data.get("id") or data.get("call_id") or data.get("session_id") or "")


class Sender:
    """Takes the engine's webhook events and delivers them; `pump()` once per tick, `aclose()` at the end."""

    def __init__(self, engine: Engine, journal: Journal, program_endpoints: bool = True) -> None:
        """`program_endpoints`: send to the endpoints programs made through the API (`webhooks.create`, on
        this machine's addresses only). The runner says False when it listens beyond loopback: a client
        elsewhere must not make the fake POST to the host's own services."""
        self.engine = engine
        self.journal = journal
        self.program_endpoints = program_endpoints
        self._tasks: set[asyncio.Task] = set()
        self._client = None

    def take(self) -> list[Delivery]:
        """The deliveries the outbox holds now, taken out of it (blocking: call it off the event loop)."""
        out = []
        for event, endpoints in take(self.engine.profile, self.engine.state):
            body = body_of(event)
            out += [Delivery(event, endpoint, body, "wh_" + secrets.token_hex(16)) for endpoint in endpoints
                    if self.program_endpoints or endpoint.source != "api"]
        return out

    def start(self, deliveries: list[Delivery]) -> None:
        """Send each delivery in a task of its own (call on the event loop)."""
        for delivery in deliveries:
            task = asyncio.get_running_loop().create_task(self.deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        """Deliveries under way (sending, or waiting to retry)."""
        return len(self._tasks)

    async def deliver(self, delivery: Delivery) -> bool:
        """Send one delivery, retrying after each of the profile's `webhook_backoff` waits; whether it was
        answered 2xx. Every attempt is journaled."""
        profile = self.engine.profile  # the waits and the timeout of the profile active when it started
        backoff, timeout = profile.webhook_backoff, profile.webhook_timeout
        while True:
            delivery.attempt += 1
            ok = await self._attempt(delivery, timeout, None if delivery.attempt > len(backoff) else backoff[delivery.attempt - 1])
            if ok:
                return True
            if delivery.attempt > len(backoff):
                return False
            await asyncio.sleep(backoff[delivery.attempt - 1])

    async def _attempt(self, delivery: Delivery, timeout: float, retry_in: float | None) -> bool:
        import httpx2

        endpoint = delivery.endpoint
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(endpoint.signing_secrets(timestamp), delivery.webhook_id, timestamp, delivery.body),
        }
        status, error = 0, None
        started, clock = time.time(), time.perf_counter()
        try:
            async with asyncio.timeout(timeout):  # the whole exchange, not each read
                async with self._http().stream("POST", endpoint.url, content=delivery.body, headers=headers,
                                               timeout=timeout) as reply:
                    status = reply.status_code  # its body is not read: nothing in it matters
        except (TimeoutError, httpx2.TimeoutException):
            error = f"no answer within {timeout:g} s"
        except httpx2.HTTPError as e:
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        ok = 200 <= status < 300
        if ok:
            outcome = "delivered"
        elif retry_in is None:
            outcome = "gave up"
        else:
            outcome = f"retrying in {retry_in:g} s"
        self.journal.record(Entry(
            time=started, kind="webhook", request_id=delivery.webhook_id, method="POST", host=_netloc(endpoint.url),
            path=_shown(endpoint.url), status=status, duration_ms=(time.perf_counter() - clock) * 1000,
            event=delivery.event["type"], attempt=delivery.attempt, outcome=outcome, note=delivery.subject,
            error=error if error is not None else (None if ok else f"answered {status}"),
        ))
        return ok

    def _http(self):
        import httpx2

        if self._client is None:
            # trust_env=False: the fake's own process may have HTTPS_PROXY set (pointing at itself, in tests);
            # a delivery goes straight to the user's URL. The default SSL context still honours
            # SSL_CERT_FILE / SSL_CERT_DIR, as OpenSSL does.
            self._client = httpx2.AsyncClient(trust_env=False, verify=ssl.create_default_context(),
                                              follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        """Stop: deliveries under way are dropped (a stopped fake sends nothing), the client closed."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _netloc(url: str) -> str:
    """host:port of a URL, without any user:password."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _shown(url: str) -> str:
    """The URL as the journal shows it: no user:password, and key-carrying query values redacted."""
    parts = urlsplit(url)
    return redact_target(urlunsplit((parts.scheme, _netloc(url), parts.path or "/", parts.query, "")))
