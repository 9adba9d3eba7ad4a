"""What the builders share: a request answered by a fake of its own (a fresh state, openai-responses'
defaults, no key or field checks), and partials made whole."""

from __future__ import annotations

import secrets
import time
from typing import Any

from proxy_addon.codec import from_json, to_json


def body_of(request: Any) -> dict:
    """The JSON body of an httpx2/httpx `Request` (or the engine's), without its stream flags."""
    raw = getattr(request, "body", None)
    if raw is None:
        raw = request.content if hasattr(request, "content") else request.read()
    body = from_json(raw) if raw else {}
    if not isinstance(body, dict):
        raise ValueError(f"the request's body is not a JSON object: {raw[:80]!r}")
    body.pop("stream", None)
    body.pop("stream_options", None)
    return body


def answered(method: str, path: str, body: dict) -> dict:
    """What the fake answers `method path` with `body`, on a state of its own."""
    from proxy_addon.engine import Engine, Request
    from proxy_addon.profile import Profile

    from ..._mock import seed_profile

    engine = Engine(seed_profile(Profile(require_api_key=False, validate_requests=False)))
    reply = engine.handle(Request(method, path, {"content-type": "application/json"}, to_json(body)))
    data = from_json(reply.body)
    if reply.status >= 400:
        raise ValueError(f"cannot build from this request: {method} {path} answers {reply.status}: "
                         f"{(data.get('error') or {}).get('message')}")
    return data


def fresh_id(prefix: str) -> str:
    """A new random id with the API's prefix: an object built here never takes the id of one the fake made."""
    return prefix + secrets.token_hex(12)


def made(model: Any, data: dict, extra: Any = None, *, prefix: str | None = None) -> Any:
    """`data` with a fresh id (`prefix`) and `extra` laid over it, as the SDK `model`."""
    from proxy_addon.engine.bodies import merge

    if prefix is not None:
        data["id"] = fresh_id(prefix)
    return model.model_validate(merge(data, dict(extra)) if extra else data)


def whole(model: Any, partial: dict, prefix: str, obj: str) -> Any:
    """A partial made a valid `model`: `id`, `created_at` and `object` filled in, then the fields the type
    requires and the partial lacks (the first `Literal`, "", 0, [] ...); the partial's own fields are checked."""
    from proxy_addon.engine.instances import instance

    base = instance(model, {})
    base.update({"id": fresh_id(prefix), "created_at": int(time.time()), "object": obj})
    base.update(partial)
    return model.model_validate(base)
