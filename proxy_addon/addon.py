"""The mitmproxy face of the fake: flow -> engine -> flow.

OpenAI hosts (`api.openai.com` and `*.api.openai.com`) are answered by the
engine and never reach the real server: the request hook always sets a
response, and `server_connect` refuses any upstream connection to them should
one ever be attempted. Requests addressed to the proxy itself
(`http://127.0.0.1:PORT/v1/...`) are the base-URL face and get the same
engine; there, and only there, `/_fake/...` are the control endpoints
(`control.py`). Everything else is left to mitmproxy, which tunnels it untouched
because the runner sets `allow_hosts` to the OpenAI hosts only.

A streamed reply goes through the relay (see `relay.py`): the flow is pointed
at the relay's loopback port and its response is streamed. Without a relay
(in unit tests) the events are sent in one piece.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

from mitmproxy import ctx, exceptions, http
from mitmproxy.net.http import status_codes
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from .control import PREFIX as CONTROL_PREFIX, Control
from .engine import Engine, OpenAIError, Request
from .engine.streams import StreamReply
from .journal import Entry, Journal, redact
from .profile import ProfileError, load
from .relay import TOKEN_HEADER, Outcome, Relay
from .summaries import answer_of, answer_of_stream, prompt_of

logger = logging.getLogger(__name__)

# A trailing dot (the fully qualified `api.openai.com.`) is the same host and must not slip through.
OPENAI_HOST = re.compile(r"^(?:[a-z0-9-]+\.)*api\.openai\.com\.?$", re.IGNORECASE)
#: For mitmproxy's `allow_hosts`: intercept these, tunnel the rest.
ALLOW_HOSTS = [r"^(?:[a-z0-9-]+\.)*api\.openai\.com\.?(?::\d+)?$"]
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0", "::"}


class OpenAIFake:
    """Answers OpenAI API requests from the engine, after the profile's latency."""

    def __init__(self, engine: Engine | None = None, journal: Journal | None = None, relay: Relay | None = None,
                 control: Control | None = None) -> None:
        self.engine = engine or Engine()
        self.journal = journal or Journal()
        self.relay = relay
        #: Answers `/_fake/...` on the base-URL face (loopback clients only unless it allows remote ones).
        self.control = control or Control(self.engine, self.journal)

    def load(self, loader) -> None:
        loader.add_option(
            "openai_fake_profile", str, "",
            "Profile to answer with: a shipped name (default, flaky, slow), a .py file or a dotted module. "
            "Empty keeps the profile the fake was started with.",
        )

    def configure(self, updated) -> None:
        if "openai_fake_profile" in updated and ctx.options.openai_fake_profile:
            try:
                self.engine.profile = load(ctx.options.openai_fake_profile)
            except ProfileError as e:
                raise exceptions.OptionsError(str(e)) from e

    def server_connect(self, data: ServerConnectionHookData) -> None:
        address = data.server.address
        if address and OPENAI_HOST.match(address[0]):
            data.server.error = "openai-fake never connects to the real OpenAI API"

    def _face(self, flow: http.HTTPFlow) -> str | None:
        """"proxy" for an OpenAI host, "base-url" for the proxy's own address, None for anything else."""
        host = flow.request.host
        if OPENAI_HOST.match(host):
            return "proxy"
        sockname = flow.client_conn.sockname
        if sockname and flow.request.port == sockname[1] and (host in _LOOPBACK_NAMES or host == sockname[0]):
            return "base-url"
        return None

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        face = self._face(flow)
        if face is None:
            return
        if face == "base-url" and flow.request.path.split("?", 1)[0].startswith(CONTROL_PREFIX):
            self._control(flow)  # not an API call: not journaled as one
            return
        req = flow.request
        started = _arrival(req)
        headers = _headers(req)
        # Read once (mitmproxy decodes them on every read); shared, as the journal keeps 10,000 calls in memory.
        method, target = _shared(req.method), _shared(req.path)
        host = _shared(req.host)  # the target the request names (`pretty_host` re-parses the Host header: ~20 µs)
        body = b""
        try:
            body = req.get_content(strict=False) or b""
            request = Request(
                method=method,
                path=target.split("?", 1)[0],
                headers=headers,
                body=body,
                query=dict(req.query) if "?" in target else {},
                host=host,
            )
            reply = self.engine.handle(request)
        except Exception as e:  # the engine never raises; this guards the conversion itself
            logger.exception("openai-fake could not answer %s %s", req.method, req.path)
            request = None
            reply = OpenAIError(500, f"openai-fake internal error: {type(e).__name__}: {e}", type="server_error").reply()
        # Latency counts from the request's arrival: time spent queued behind other calls is part of it.
        wait = reply.delay - (time.time() - started)
        if wait > 0:
            await asyncio.sleep(wait)
        model = request.model if request is not None else None
        key = redact(headers.get("authorization"))
        entry = dict(
            request_id=reply.headers.get("x-request-id", ""),
            method=method,
            host=host,
            path=target,
            rule=reply.rule,
            model=_shared(model) if isinstance(model, str) else model,
            face=face,
            key=_shared(key) if key else None,
            body=body,
            prompt=_prompt(request),
        )
        if isinstance(reply, StreamReply):
            if self.relay is not None and self.relay.port is not None and flow.live:
                self._relay(flow, reply, entry, started)
                return
            reply.body = b"".join(e.data for e in reply.events)  # no relay: the whole stream at once
        flow.response = _response(reply.status, reply.body, reply.headers)
        self.journal.record(Entry(
            time=time.time(), status=reply.status, duration_ms=(time.time() - started) * 1000,
            error=_error_message(reply) if reply.status >= 400 else None,
            answer=answer_of(reply.body, reply.headers.get("content-type", ""), reply.payload) if reply.status < 400 else None,
            **entry,
        ))

    def _control(self, flow: http.HTTPFlow) -> None:
        """Answer a control request (see `control.py`); the proxy face never gets here."""
        req = flow.request
        peer = flow.client_conn.peername
        reply = self.control.handle(
            req.method, req.path.split("?", 1)[0], dict(req.query), req.get_content(strict=False) or b"",
            client=peer[0] if peer else None, headers=_headers(req),
        )
        flow.response = _response(reply.status, reply.body, reply.headers)

    def _relay(self, flow: http.HTTPFlow, reply: StreamReply, entry: dict, started: float) -> None:
        """Point the flow at the relay, which sends `reply` over time; record the stream now (kind "stream",
        so `tail` shows it in progress) and the call when it ends (same request id)."""

        def ended(outcome: Outcome) -> None:
            self.journal.record(Entry(
                time=time.time(), status=reply.status, duration_ms=(time.time() - started) * 1000,
                chunks=outcome.chunks, outcome=outcome.how,
                error="client hung up" if outcome.how == "aborted" else None,
                answer=answer_of_stream(reply.events, outcome.chunks), **entry,
            ))

        # The schedule counts from when the reply was due (arrival + latency), so the hop to the relay
        # takes nothing from `ttft`: what the client sees is the pace asked for.
        late = max(0.0, time.time() - started - reply.delay)
        token = self.relay.offer(reply, ended, due=asyncio.get_running_loop().time() - late)
        self.journal.record(Entry(time=time.time(), status=reply.status, duration_ms=(time.time() - started) * 1000,
                                  kind="stream", **entry))
        flow.metadata[TOKEN_HEADER] = token
        req = flow.request
        req.scheme, req.host, req.port = "http", "127.0.0.1", self.relay.port
        req.headers[TOKEN_HEADER] = token
        req.content = b""  # the relay needs only the token

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if TOKEN_HEADER in flow.metadata:
            flow.response.stream = True

    def error(self, flow: http.HTTPFlow) -> None:
        token = flow.metadata.get(TOKEN_HEADER)
        if token and self.relay is not None:
            self.relay.withdraw(token)  # never fetched: do not keep it


def _response(status: int, body: bytes, headers: dict[str, str]) -> http.Response:
    """mitmproxy's response for a whole reply, made with its constructor rather than `Response.make`, which
    converts each header through `always_bytes`, then sets the content through the content-encoding
    machinery and looks the headers up three more times: about a third of the cost of making it
    (bench/profile.py). The same fields: headers as given, then `content-length`."""
    fields = [(name.encode(), value.encode("utf-8", "surrogateescape")) for name, value in headers.items()
              if name.lower() != "content-length"]  # the body's own length, as `make` would set it
    fields.append((b"content-length", b"%d" % len(body)))
    now = time.time()
    return http.Response(b"HTTP/1.1", status, _REASONS.get(status, b""),
                         http.Headers(fields), body, None, now, now)


_REASONS = {status: reason.encode() for status, reason in status_codes.RESPONSES.items()}
_SHARED: dict[str, str] = {}


def _shared(text: str) -> str:
    """One copy of a string that recurs from call to call (method, host, path, model, redacted key), so that
    the journal's entries share it. A bounded table, not `sys.intern`: Python 3.12 never frees interned strings."""
    return _SHARED.setdefault(text, text) if len(_SHARED) < 4096 else _SHARED.get(text, text)


def _arrival(req: http.Request) -> float:
    """When the whole request had arrived (wall clock); now, for a request that says otherwise (a test flow)."""
    now = time.time()
    arrived = req.timestamp_end or req.timestamp_start
    return arrived if arrived and 0 <= now - arrived < 60 else now


def _headers(req: http.Request) -> dict[str, str]:
    """The request's headers with lower-case names, repeats joined by ", " (as `Headers.items()` does).

    Read from the raw fields: `Headers.items()` looks every name up again, which cost
    about 100 µs for the SDK's 17 headers, the largest share of the hook (bench/throughput.py).
    """
    headers: dict[str, str] = {}
    for name, value in req.headers.fields:
        key, text = name.decode("latin-1").lower(), value.decode("utf-8", "surrogateescape")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _prompt(request: Request | None) -> str | None:
    try:
        return prompt_of(request.json) if request is not None else None
    except ValueError:  # not JSON (multipart uploads)
        return None


def _error_message(reply) -> str | None:
    try:
        payload = reply.payload if reply.payload is not None else json.loads(reply.body)
        return payload["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None
