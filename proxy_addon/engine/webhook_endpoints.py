"""Where webhooks go: the endpoints a profile declares (`profile.webhook(...)`) and those registered while
the fake runs (the control API's `POST /_fake/webhooks`), the events each wants, and the outbox the
sender (`proxy_addon/webhooks.py`, which does the I/O) takes them from. Pure: no sockets.

    endpoint = make("http://127.0.0.1:8123/hook", secret="whsec_...", events=["batch.*"], id="we_1", source="control")
    endpoint.wants("batch.completed")     # True

A URL is `https://` anywhere, or plain `http://` on this machine only (a local receiver under test; the
real API demands HTTPS). A secret is in the Standard Webhooks form, `whsec_<base64>`; one is made when
none is given. `events` are glob patterns over the API's event types (`batch.*`, `response.completed`);
a pattern that matches no event type the API sends is refused, so a typo is an error, not silence.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import fnmatch
import functools
import ipaddress
import secrets
import time
import typing
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

from . import stores

#: Endpoints registered at run time, as records (`Endpoint.record()`); the profile's are the profile's.
STORE = stores.WEBHOOK_ENDPOINTS
#: Events waiting for the sender: `{"id": "evt_...", "type", "created_at", "data": {...}}` (`lifecycle.emit`).
OUTBOX = stores.WEBHOOK_OUTBOX


@functools.lru_cache(maxsize=1)
def event_models() -> dict[str, Any]:
    """Every event type the API sends a webhook for, with the SDK's model of its event (None when the SDK
    has none: it lists `video.completed` among the types an endpoint subscribes to, without a model)."""
    import openai.types.webhooks as webhooks
    from openai.types.webhooks import webhook_create_params

    found: dict[str, Any] = {}
    for name, model in vars(webhooks).items():
        if name.endswith("WebhookEvent") and hasattr(model, "model_fields") and "type" in model.model_fields:
            for value in typing.get_args(model.model_fields["type"].annotation):
                found[value] = model
    listed, = typing.get_args(typing.get_type_hints(webhook_create_params.WebhookCreateParams)["event_types"])
    for value in typing.get_args(listed):
        found.setdefault(value, None)
    return dict(sorted(found.items()))


def event_types() -> tuple[str, ...]:
    """Every event type the API sends a webhook for (`event_models`)."""
    return tuple(event_models())


def check_type(event_type: str) -> None:
    """ValueError for an event type the API never sends (a typo in the fake's own code)."""
    if event_type not in event_types():
        raise ValueError(f"{event_type!r} is not a webhook event type of the API; see openai.types.webhooks")


@dataclass(frozen=True)
class Endpoint:
    """One place webhooks go: its URL, its signing secret, the events it wants (None: all), and who set it:
    "profile", "control" (the control API) or "api" (a program, through the SDK's `webhooks.create`).

    An endpoint a program made through the API gets deliveries only on this machine (`deliverable`): the
    fake sends nothing off it but to URLs its user set. After `webhooks.rotate_secret(...,
    keep_old_secret_active_for_24_hours=True)` the previous secret signs too, until `previous_until`."""

    id: str
    url: str
    secret: str = field(repr=False)
    events: tuple[str, ...] | None = None
    source: str = "control"
    created_at: int = 0
    previous_secret: str | None = field(default=None, repr=False)
    previous_until: float = 0.0

    def wants(self, event_type: str) -> bool:
        """Whether an event of this type goes to this endpoint."""
        return self.events is None or any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.events)

    @property
    def deliverable(self) -> bool:
        """Whether the fake sends to it: any URL its user set; a program's own only on this machine."""
        return self.source != "api" or _loopback(urlsplit(self.url).hostname or "")

    def signing_secrets(self, now: float | None = None) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and a rotated-out one still active."""
        now = time.time() if now is None else now
        return [self.secret] + ([self.previous_secret] if self.previous_secret and now < self.previous_until else [])

    def record(self) -> dict:
        """The endpoint as the state keeps it, and as the control API shows it (the secret included: it is
        the user's own, and they need it to check the signatures)."""
        return {"id": self.id, "object": "webhook_endpoint", "url": self.url, "secret": self.secret,
                "events": None if self.events is None else list(self.events), "source": self.source,
                "created_at": self.created_at}

    @classmethod
    def of(cls, record: dict) -> "Endpoint":
        events = record.get("events")
        return cls(record["id"], record["url"], record["secret"], None if events is None else tuple(events),
                   record.get("source", "control"), record.get("created_at", 0), record.get("previous_secret"),
                   record.get("previous_until", 0.0))


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: Any) -> str:
    """`url` if webhooks may go there: `https://` anywhere, `http://` only on loopback; else ValueError."""
    if not isinstance(url, str) or not url.strip():
        raise TypeError(f"webhook url must be a URL string, not {url!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as e:
        raise ValueError(f"webhook url {url!r} is not a URL: {e}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"webhook url {url!r} must be http(s)://host/...")
    if parts.scheme == "http" and not _loopback(host):
        raise ValueError(f"webhook url {url!r}: plain http:// is accepted only on this machine (127.0.0.1, ::1, "
                         f"localhost); use https:// for another host, as the real API demands")
    return url


def _loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secret(secret: Any) -> str:
    """`secret` if it is `whsec_<base64>` of at least one byte (what the SDK's `unwrap` decodes); else ValueError."""
    if not isinstance(secret, str):
        raise TypeError(f"webhook secret must be a string 'whsec_<base64>', not {type(secret).__name__}")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True) if secret.startswith("whsec_") else b""
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError("webhook secret must be 'whsec_' followed by base64 (padded, as the SDK's unwrap decodes "
                         "it), e.g. 'whsec_" + base64.b64encode(b"my-secret-key-12").decode() + "'; leave it out to get one made")
    return secret


def check_events(events: Any) -> tuple[str, ...] | None:
    """The event patterns as a tuple (None: every event); ValueError for one that matches no event type."""
    if events is None:
        return None
    if isinstance(events, str) or not isinstance(events, Iterable):
        raise TypeError(f"webhook events must be a list of event types or patterns (['batch.*']), not {events!r}")
    patterns = tuple(events)
    known = event_types()
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(f"webhook events must be strings such as 'batch.completed' or 'batch.*', not {pattern!r}")
        if not any(fnmatch.fnmatchcase(t, pattern) for t in known):
            near = difflib.get_close_matches(pattern, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(near)}?" if near else f"; the API's event types: {', '.join(known)}"
            raise ValueError(f"webhook events: {pattern!r} matches no event type the API sends{hint}")
    if not patterns:
        raise ValueError("webhook events: an empty list would send nothing; leave it out for every event")
    return patterns


def make(url: Any, secret: Any = None, events: Any = None, *, id: str, source: str) -> Endpoint:
    """A checked endpoint (a secret made when none is given)."""
    return Endpoint(id, check_url(url), new_secret() if secret is None else check_secret(secret), check_events(events),
                    source, int(time.time()))


def endpoints(profile: Any, state: Any) -> list[Endpoint]:
    """Every endpoint: the profile's, then those registered at run time, oldest first."""
    return [*getattr(profile, "webhook_endpoints", ()), *(Endpoint.of(r) for r in state.all(STORE))]


def wanting(profile: Any, state: Any, event_type: str) -> list[Endpoint]:
    """The endpoints an event of this type goes to."""
    return [e for e in endpoints(profile, state) if e.deliverable and e.wants(event_type)]


def take(profile: Any, state: Any) -> list[tuple[dict, list[Endpoint]]]:
    """The events waiting in the outbox, each with the endpoints it goes to now, taken out of it (an
    endpoint removed meanwhile gets nothing). An event with a `"to"` (`webhooks.test`'s sample) goes to
    that endpoint alone."""
    with state.lock:
        events = state.all(OUTBOX)
        if not events:
            return []
        known = [e for e in endpoints(profile, state) if e.deliverable]
        for event in events:
            state.delete(OUTBOX, event["id"])
    return [(event, [e for e in known if (e.id == event["to"] if event.get("to") else e.wants(event["type"]))])
            for event in events]
