"""What every face does around the engine, whatever carries the request: the size limit, and the
journal entry of an answered call.

The faces are the mitmproxy addon (the proxy and the base-URL face, `addon.py`) and the
in-process transport (`inprocess.py`). Both build a call's `Entry` here, so `tail`, the fixture
and the control endpoints see the same record for a call however it came. No mitmproxy here:
the in-process path never imports it.
"""

from __future__ import annotations

import json
import re
import time

from .engine import OpenAIError, Request
from .engine.streams import StreamReply
from .journal import Entry, redact, redact_target
from .summaries import answer_of, answer_of_stream, prompt_of

#: Requests to the fake larger than this get the API's 413 (`run --max-request-size`).
MAX_REQUEST_SIZE = 64 * 1024 * 1024
#: The faces, as the journal names them (`Entry.face`).
PROXY, BASE_URL, MISDIRECTED, IN_PROCESS = "proxy", "base-url", "misdirected", "in-process"


def too_large(size: int, limit: int) -> OpenAIError:
    """The API's 413 for a body of `size` bytes over the fake's `limit`."""
    return OpenAIError(
        413, f"Request too large: the body is {size} bytes, over openai-fake's limit of {limit} bytes "
             f"(`openai-fake run --max-request-size`).",
        code="request_too_large", headers={"x-should-retry": "false"},
    )


def entry_fields(*, method: str, host: str, target: str, headers: dict[str, str], reply, body: bytes,
                 request: Request | None, face: str) -> dict:
    """The fields of a call's journal entry that are known once it is answered; keys redacted, in the
    headers (`Authorization`, Azure's `api-key`) and in the query (`?api_key=...`). `target` is the
    request's path with its query; `headers` have lower-case names."""
    model = request.model if request is not None else None
    key = redact(headers.get("authorization") or headers.get("api-key") or _query_key(target))
    return dict(
        request_id=reply.headers.get("x-request-id", ""),
        method=shared(method),
        host=shared(host),
        path=shared(redact_target(target)),
        rule=reply.rule,
        model=shared(model) if model is not None else None,
        face=face,
        key=shared(key) if key else None,
        body=body,
        prompt=_prompt(request),
    )


def answered(reply, started: float, fields: dict) -> Entry:
    """The record of a call answered in one piece (a stream sent whole included); `started`: its arrival."""
    return Entry(
        time=time.time(), status=reply.status, duration_ms=(time.time() - started) * 1000,
        error=error_message(reply) if reply.status >= 400 else None,
        answer=None if reply.status >= 400 else answer_of_stream(reply.events) if isinstance(reply, StreamReply)
        else answer_of(reply.body, reply.headers.get("content-type", ""), reply.payload),
        **fields,
    )


def stream_started(reply: StreamReply, started: float, fields: dict) -> Entry:
    """The record of a stream that has begun (kind "stream", so `tail` shows it in progress)."""
    return Entry(time=time.time(), status=reply.status, duration_ms=(time.time() - started) * 1000,
                 kind="stream", **fields)


def stream_ended(reply: StreamReply, started: float, fields: dict, how: str, chunks: int) -> Entry:
    """The call's record once its stream has ended: `how` it ended ("completed", "error", "cut",
    "aborted") and the content deltas written."""
    return Entry(
        time=time.time(), status=reply.status, duration_ms=(time.time() - started) * 1000,
        chunks=chunks, outcome=how, error="client hung up" if how == "aborted" else None,
        answer=answer_of_stream(reply.events, chunks), **fields,
    )


_SHARED: dict[str, str] = {}


def shared(text: str) -> str:
    """One copy of a string that recurs from call to call (method, host, path, model, redacted key), so that
    the journal's entries share it. A bounded table, not `sys.intern`: Python 3.12 never frees interned strings."""
    return _SHARED.setdefault(text, text) if len(_SHARED) < 4096 else _SHARED.get(text, text)


_QUERY_KEY = re.compile(r"[?&](?:api[-_]?key|key)=([^&#]*)", re.IGNORECASE)


def _query_key(target: str) -> str | None:
    found = _QUERY_KEY.search(target) if "?" in target else None
    return found.group(1) if found else None


def _prompt(request: Request | None) -> str | None:
    try:
        return prompt_of(request.json) if request is not None else None
    except ValueError:  # not JSON (multipart uploads)
        return None


def error_message(reply) -> str | None:
    """The `error.message` of an error reply, if its body has one."""
    try:
        payload = reply.payload if reply.payload is not None else json.loads(reply.body)
        return payload["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None
