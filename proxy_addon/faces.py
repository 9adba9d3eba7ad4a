"""What every face does around the engine, whatever carries the request: the size limit, and the
journal entry of an answered call.

The faces are the mitmproxy addon (the proxy face, and the base-URL face on the proxy's port,
`addon.py`), the base-URL face on a port of its own (`asgi_face.py`) and the in-process transport
(`inprocess.py`). Each asks the engine through `answer` and builds a call's `Entry` here, so `tail`,
the fixture and the control endpoints see the same record for a call however it came. No mitmproxy
here: the in-process path never imports it.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from typing import Callable, Iterable, Mapping

from .engine import Engine, OpenAIError, Reply, Request
from .engine.streams import StreamReply
from .journal import Entry, redact, redact_target
from .summaries import answer_of, answer_of_stream, prompt_of

logger = logging.getLogger(__name__)

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


def headers_of(fields: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw header fields as the engine reads them: lower-case names, repeats joined by ", ".

    From the raw fields (mitmproxy's `headers.fields`, httpx's `headers.raw`, ASGI's `scope["headers"]`):
    mitmproxy's `Headers.items()` looks every name up again, which cost about 100 µs for the SDK's 17
    headers, the largest share of the hook (bench/throughput.py)."""
    headers: dict[str, str] = {}
    for name, value in fields:
        key, text = name.decode("latin-1").lower(), value.decode("utf-8", "surrogateescape")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def wire_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """A reply's headers as raw fields, without `content-length` (the sender gives the body's own)."""
    return [(name.encode(), value.encode("utf-8", "surrogateescape")) for name, value in headers.items()
            if name.lower() != "content-length"]


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The body length a request's `content-length` gives, or None (none given, or not a number)."""
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return None


def misdirected(host_header: str | None, port: int) -> OpenAIError:
    """The 421 for a plain request to the fake's `port` whose `Host` is not one of the fake's addresses: refused,
    never forwarded (forwarding it made the fake proxy to itself in a loop; a DNS-rebinding page sends exactly this)."""
    return OpenAIError(
        421, f"openai-fake: this port serves the fake itself, and Host {host_header!r} is not one of its "
             f"addresses; use http://127.0.0.1:{port}/v1 (or localhost, [::1]), "
             f"or send the request through the proxy to an OpenAI host",
        code="misdirected_request", headers={"x-should-retry": "false"},
    )


def query_of(target: str) -> dict[str, str]:
    """A request target's query as a dict, the first value of a repeated name winning (as mitmproxy's
    `dict(request.query)`), blank values kept."""
    _, mark, query = target.partition("?")
    found: dict[str, str] = {}
    if mark:
        for name, value in urllib.parse.parse_qsl(query.split("#", 1)[0], keep_blank_values=True,
                                                  errors="surrogateescape"):
            found.setdefault(name, value)
    return found


def answer(engine: Engine, *, method: str, target: str, headers: Mapping[str, str], body: bytes, host: str,
           scheme: str = "https", port: int | None = None, max_request_size: int = MAX_REQUEST_SIZE,
           before: Callable[[], None] | None = None) -> tuple[Reply, Request | None, bytes]:
    """The engine's reply to one call, the `Request` it answered (None when it answered none: a body over
    `max_request_size`, a failure here) and the body to journal. `target`: the path with its query, as sent;
    `headers`: lower-case names; `scheme`, `host` and `port`: where the client sent it (the URLs an answer
    gives, an image's, must reach this face again). `before`: called just before the engine (the in-process
    face's own bookkeeping). The engine's `answer_listeners` (the metrics) are told of the reply and of the
    engine's time. Never raises: a failure is a logged 500."""
    try:
        if len(body) > max_request_size:  # a chunked body (no length given), or one read already
            return too_large(len(body), max_request_size).reply(), None, b""
        request = Request(method=method, path=target.split("?", 1)[0], headers=headers, body=body,
                          query=query_of(target) if "?" in target else {}, host=host, scheme=scheme, port=port)
        if before is not None:
            before()
        clock = time.perf_counter()
        reply = engine.handle(request)
        if engine.answer_listeners and not reply.forward:  # a forwarded call is counted when it is answered
            took = time.perf_counter() - clock
            for listener in engine.answer_listeners:
                listener(request, reply, took)
        return reply, request, body
    except Exception as e:  # the engine never raises; this guards the conversion itself
        logger.exception("openai-fake could not answer %s %s", method, redact_target(target))
        return OpenAIError(500, f"openai-fake internal error: {type(e).__name__}: {e}",
                           type="server_error").reply(), None, body


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


def refused(reply, fields: dict, started: float | None = None, hung_up: bool = False) -> Entry:
    """The record of a call refused before the engine saw it (misdirected, too large); `started`: its arrival,
    when its duration counts; `hung_up`: the client went away before the answer."""
    return Entry(time=time.time(), status=reply.status,
                 duration_ms=(time.time() - started) * 1000 if started is not None else 0.0,
                 error="client hung up" if hung_up else error_message(reply), **fields)


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
