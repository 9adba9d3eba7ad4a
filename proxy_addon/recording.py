"""Record mode (`run --record DIR [--upstream URL]`, issue 18): the one mode in which the fake forwards
anything. Every intercepted OpenAI call is sent to the upstream (the real API by default), its answer is
sent back to the client as it comes (a stream chunk by chunk, never buffered whole), and the exchange is
written into the recording with `proxy_addon.cassettes` (redacted there, one file each, atomically).

The faces forward in their own way, through what this module gives them:

- the mitmproxy addon (`addon.py`, the proxy face and the base-URL face on the proxy's port) points the flow
  at the upstream (`Upstream.point`) and lets mitmproxy forward it; its response streams through a
  callable that feeds a `Capture` (mitmproxy's `flow.response.stream`);
- the base-URL face's own port (`asgi_face.py`) sends the request with httpx2 (`RecordMode.send`) and
  copies the answer's bytes to its client, feeding a `Capture` the same way.

A Realtime session (the WebSocket upgrade to `/v1/realtime`) is forwarded too, and recorded as its event
log (`cassettes.store.RealtimeRecording`): mitmproxy relays it and its websocket hooks feed each message to
the `Capture` of the 101 (`Capture.message`); the base-URL face's own port opens it on the upstream with
`websockets` (`RecordMode.connect`) and copies the messages both ways, feeding them the same way. The log is
written when the session closes. A handshake the upstream refuses is recorded as the HTTP exchange it is.

What is sent where is documented in docs/security.md ("What never leaves the machine"). In short: the
client's request as it came (its `Authorization` included: the real API needs the real key) with
`Accept-Encoding: identity` (the recording keeps decoded bodies) and without the proxy's own headers, to
the upstream alone; `server_connect` refuses every other connection to an OpenAI host, as in every mode.

Memory is bounded: a response being recorded (a session's messages, counted together) is held until it
ends, up to `max_capture` bytes (64 MiB); past that the exchange is still forwarded but no longer recorded,
and its journal entry says so. An
exchange is written as soon as its answer has passed through (from a worker thread: the writes fsync), then
journaled; a client may hold its answer a moment before the file is in place (a content-length body is
whole once its last byte is sent, a streaming SDK stops at `[DONE]`), so wait for the journal entry (or
`Runner.streams_active == 0`). A `kill -9` leaves every exchange journaled as recorded readable
(`cassettes.store`).

A call's journal entry says it was forwarded: `upstream` (the origin it went to) and `recorded` (the
exchange's file name in the recording), or a `note` saying why it was not recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from .engine import Reply, Request
from .engine.routes import ROUTE_RULES, route_name
from .faces import entry_fields, error_message, query_of
from .journal import Entry
from .summaries import answer_of

if TYPE_CHECKING:  # the cassettes library is imported by a fake that records, not by every fake
    from .cassettes import Recorder

__all__ = ["DEFAULT_UPSTREAM", "MAX_CAPTURE", "Upstream", "RecordMode", "Capture", "Forwarded", "UpstreamError"]

logger = logging.getLogger(__name__)

#: Where record mode forwards by default: the real API.
DEFAULT_UPSTREAM = "https://api.openai.com"
#: What a recording keeps of an upload (a request body that is not text): its bytes, or only their hash.
UPLOADS = ("keep", "hash")
#: Bytes of one response held while it is recorded; past it, that exchange is forwarded but not recorded.
MAX_CAPTURE = 64 * 1024 * 1024
#: Request headers never forwarded: the proxy's own (its credentials, mitmproxy's keep-alive hint).
PROXY_HEADERS = ("proxy-authorization", "proxy-connection")
#: The close codes of a session that ended as sessions end (1005: closed without a code).
CLEAN_CLOSES = frozenset({1000, 1001, 1005})
#: Headers an HTTP client makes for itself (hop by hop, RFC 9110 7.6.1, and the framing): not copied from one
#: connection to the other where a second client carries the request (the base-URL face's own port).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host",
                        "content-length", *PROXY_HEADERS})


class UpstreamError(ValueError):
    """An `--upstream` that is not an http(s) origin."""


@dataclass(frozen=True)
class Upstream:
    """Where record mode forwards: `scheme://host[:port][/prefix]`. A request's path is appended to the
    prefix (`https://gateway.example/openai` + `/v1/chat/completions`)."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> "Upstream":
        """Raises UpstreamError for anything but an http(s) URL with a host and no query, fragment or user."""
        try:
            parts = urllib.parse.urlsplit(url.strip())
            port = parts.port
        except ValueError as e:
            raise UpstreamError(f"--upstream {url!r}: {e}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError(f"--upstream {url!r}: give an http(s) URL such as {DEFAULT_UPSTREAM} or http://127.0.0.1:8000")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise UpstreamError(f"--upstream {url!r}: give the origin (and a path prefix, if any): no query, fragment or user")
        return cls(parts.scheme, parts.hostname.lower().rstrip("."), port or (443 if parts.scheme == "https" else 80),
                   parts.path.rstrip("/"))

    @property
    def authority(self) -> str:
        """`host[:port]`, the port left out when it is the scheme's own (the `Host` the upstream is sent)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.scheme == "https" else 80) else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The upstream as given: origin and prefix."""
        return f"{self.scheme}://{self.authority}{self.prefix}"

    def target(self, target: str) -> str:
        """Where a request for `target` (a path with its query) goes on the upstream."""
        return self.prefix + target

    def allows(self, host: str | None, port: int | None) -> bool:
        """Whether a connection to `host:port` is the one to the upstream."""
        return bool(host) and host.lower().strip("[]").rstrip(".") == self.host and port == self.port


class Capture:
    """One forwarded response as it arrives, recorded once it has ended; at most `limit` bytes of it held.

    A server-sent-event stream is kept event by event with its timing (the library's `StreamRecording`, whose
    clock starts here, when the headers came); any other body whole. A WebSocket upgrade (101, a Realtime
    session) is kept as its event log, message by message (`message`; the library's `RealtimeRecording`, its
    clock starting at the handshake), and is journaled like a stream. Past `limit` bytes (a session's messages
    counted together), or for a body the upstream encoded (`content-encoding`, though asked for none), nothing
    more is kept and `skipped` says why."""

    def __init__(self, recorder: Recorder, request: Request, status: int, headers: Mapping[str, str], *,
                 latency: float, started: float, limit: int = MAX_CAPTURE) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        #: A WebSocket session (the upgrade's 101): its messages are recorded, not a body.
        self.is_session = status == 101
        self.is_stream = self.is_session or \
            self.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "text/event-stream"
        self.limit = limit
        self.size = 0
        #: The events a stream has sent so far (a session's: the server's messages).
        self.events = 0
        #: Why this exchange is not recorded, once it is not.
        self.skipped: str | None = None
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            self.skipped = f"not recorded: the upstream encoded its answer ({encoding}) though asked for none"
        self._recorder, self._request, self._latency, self._started = recorder, request, latency, started
        self._stream = recorder.stream(request, status, self.headers, latency=latency, started=started) \
            if self.is_stream and not self.is_session and self.skipped is None else None
        self._session = recorder.realtime(request, started=started) if self.is_session else None
        self._body = bytearray()

    def message(self, data: bytes | str, *, from_client: bool) -> None:
        """One message of a session (a text frame's JSON event), as it passed: from the client or the server."""
        if not from_client:
            self.events += 1
        if self._session is None:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.skipped = f"not recorded: the session's messages passed {self.limit} bytes (record mode's bound)"
            self._session = None  # let it go
            return
        if from_client:
            self._session.client(data)
        else:
            self._session.server(data)

    def feed(self, data: bytes) -> bytes:
        """Bytes of the body as they arrived; returned unchanged (mitmproxy's `flow.response.stream` callable)."""
        if self.is_stream:
            self.events += data.count(b"\n\n") + data.count(b"\r\n\r\n")
        if self.skipped is not None or not data:
            return data
        self.size += len(data)
        if self.size > self.limit:
            self.skipped = f"not recorded: the answer passed {self.limit} bytes (record mode's bound)"
            self._stream, self._body = None, bytearray()  # let it go
            return data
        if self._stream is not None:
            self._stream.feed(data)
        else:
            self._body += data
        return data

    @property
    def body(self) -> bytes:
        """A whole body as received (b"" for a stream, or once skipped)."""
        return bytes(self._body)

    def finish(self) -> Path | None:
        """Write the exchange; its file, or None when it is not recorded. Blocks on fsync: call it from a
        thread (`asyncio.to_thread`). Never raises: a failure to write is logged and said in `skipped`."""
        if self.skipped is not None:
            return None
        try:
            if self._session is not None:
                return self._session.finish()
            if self._stream is not None:
                return self._stream.finish()
            return self._recorder.record(self._request, self.status, self.headers, bytes(self._body),
                                         latency=self._latency, started=self._started)
        except Exception as e:  # a full disk must not end the proxy, nor the client's answer
            logger.exception("openai-fake: recording %s %s failed", self._request.method, self._request.path)
            self.skipped = f"not recorded: writing it failed: {type(e).__name__}: {e}"
            return None


class RecordMode:
    """Record mode's settings and the one recorder: forward to `upstream`, write into `directory`.

    `all_calls`: forward every OpenAI call (`run --record`); False: only the ones the engine's reply says to
    forward (`Reply.forward`: a replay's misses, `--replay DIR --on-miss record`).
    `uploads`: "keep" an upload's bytes as its side file, or "hash": its sha256 and size alone (enough to match
    it on replay; `--record-uploads`).
    `max_capture`: bytes of one response held while it is recorded (`Capture`)."""

    def __init__(self, directory: Path | str, upstream: str | Upstream = DEFAULT_UPSTREAM, *,
                 all_calls: bool = True, uploads: str = "keep", max_capture: int = MAX_CAPTURE) -> None:
        if uploads not in UPLOADS:
            raise ValueError(f"uploads must be one of {', '.join(UPLOADS)}, not {uploads!r}")
        self.upstream = Upstream.parse(upstream) if isinstance(upstream, str) else upstream
        self.all_calls = all_calls
        self.directory = Path(directory)
        from .cassettes import Recorder

        self.recorder = Recorder(self.directory, keep_uploads=uploads == "keep")
        self.max_capture = max_capture
        #: Calls forwarded and not yet journaled as ended (`Runner.streams_active` counts them).
        self.active = 0
        self._client = None

    def capture(self, request: Request, status: int, headers: Mapping[str, str], *, latency: float,
                started: float) -> Capture:
        return Capture(self.recorder, request, status, headers, latency=latency, started=started,
                       limit=self.max_capture)

    def forwarded(self, *, method: str, target: str, headers: Mapping[str, str], body: bytes, host: str,
                  scheme: str, port: int | None, face: str, started: float) -> "Forwarded":
        """A call about to be forwarded, as the recording and the journal will tell it. `target`: the path with
        its query as the client sent it; `host`: the host it was sent to (`api.openai.com`, the fake's own)."""
        request = Request(method=method, path=target.split("?", 1)[0], headers=dict(headers), body=body,
                          query=query_of(target), host=host, scheme=scheme, port=port)
        return Forwarded(self, request, target, face, started)

    def forward_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers a second HTTP client sends upstream: the client's, less the hop-by-hop and the proxy's
        own, with `Accept-Encoding: identity` and the upstream's `Host` (set by the client)."""
        out = {name: value for name, value in headers.items() if name.lower() not in HOP_BY_HOP}
        out["accept-encoding"] = "identity"
        return out

    async def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes):
        """Send a request upstream with httpx2 and return its streaming response (the caller reads it with
        `aiter_raw` and closes it). Raises httpx2's errors."""
        import httpx2

        if self._client is None:
            # Certificates checked against the system's store, or SSL_CERT_FILE / SSL_CERT_DIR (as webhooks are);
            # no proxy from the environment: the fake is the proxy.
            self._client = httpx2.AsyncClient(trust_env=False, verify=ssl.create_default_context(),
                                              timeout=httpx2.Timeout(600.0, connect=30.0), follow_redirects=False)
        request = self._client.build_request(method, self.upstream.url + target,
                                             headers=self.forward_headers(headers), content=body)
        return await self._client.send(request, stream=True)

    def connect(self, target: str, headers: Mapping[str, str]):
        """A WebSocket connection to the upstream for `target` (a Realtime session: the path with its query), with
        `websockets` (`async with mode.connect(...) as upstream`): the client's headers as `forward_headers`
        gives them, less the handshake's own (`Sec-WebSocket-*`, made anew for this connection), its
        subprotocols offered as it offered them. Raises `websockets`' errors (`InvalidStatus`: the upstream
        refused the handshake) and OSError."""
        from websockets.asyncio.client import connect

        from .relay import WEBSOCKETS  # the largest message: as the fake's own sockets take

        upstream = self.upstream
        sent = {name: value for name, value in self.forward_headers(headers).items()
                if not name.lower().startswith("sec-websocket-")}
        offered = [p.strip() for p in (headers.get("sec-websocket-protocol") or "").split(",") if p.strip()]
        scheme = "wss" if upstream.scheme == "https" else "ws"
        return connect(f"{scheme}://{upstream.authority}{upstream.target(target)}", additional_headers=sent,
                       subprotocols=offered or None, user_agent_header=None,  # the client's own User-Agent goes
                       # as httpx2's client: the system's trust, no proxy from the environment
                       ssl=ssl.create_default_context() if scheme == "wss" else None, proxy=None,
                       open_timeout=30.0, max_size=WEBSOCKETS["ws_max_size"])

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def upstream_trust() -> dict[str, str]:
    """mitmproxy's options that make its upstream connections trust what httpx2 and Python trust here:
    `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (mitmproxy's own default is certifi's bundle)."""
    options = {}
    cert_file, cert_dir = os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", "").split(os.pathsep)[0]
    if cert_file and os.path.isfile(cert_file):  # one that is not there is ignored, as OpenSSL ignores it
        options["ssl_verify_upstream_trusted_ca"] = cert_file
    if cert_dir and os.path.isdir(cert_dir):
        options["ssl_verify_upstream_trusted_confdir"] = cert_dir
    return options


class Forwarded:
    """One call in record mode: the request as the recording keeps it (`request`), and its journal entries."""

    def __init__(self, mode: RecordMode, request: Request, target: str, face: str, started: float) -> None:
        self.mode, self.request, self.target, self.face, self.started = mode, request, target, face, started
        #: Set once the upstream's headers have come.
        self.capture: Capture | None = None
        self._sent = time.monotonic()
        self._open = True
        mode.active += 1

    def begin(self, status: int, headers: Mapping[str, str]) -> Capture:
        """The upstream's headers have come: capture the body from now on."""
        self.capture = self.mode.capture(self.request, status, headers, latency=time.monotonic() - self._sent,
                                         started=self.started)
        return self.capture

    def _fields(self, status: int, headers: Mapping[str, str]) -> dict:
        req = self.request
        rule = ROUTE_RULES.get(route_name(req.method, self.target, req.host) or "", "")
        return entry_fields(method=req.method, host=req.host, target=self.target, headers=dict(req.headers),
                            reply=Reply(status, b"", dict(headers), rule=rule), body=req.body, request=req,
                            face=self.face)

    def stream_entry(self) -> Entry:
        """The record of a stream that has begun (kind "stream", so `tail` shows it in progress)."""
        capture = self.capture
        return Entry(time=time.time(), status=capture.status, duration_ms=(time.time() - self.started) * 1000,
                     kind="stream", upstream=self.mode.upstream.url, **self._fields(capture.status, capture.headers))

    def ended(self, recorded: Path | None, *, error: str | None = None, outcome: str | None = None) -> Entry:
        """The call's record once it has ended: what the upstream answered, and the file it was recorded in
        (None: `note` says why not). `error`: why it failed (the upstream unreachable, the client gone).
        From now on it is no longer in progress (`RecordMode.active`)."""
        if self._open:
            self._open = False
            self.mode.active -= 1
        capture = self.capture
        status = capture.status if capture is not None else 502
        headers = capture.headers if capture is not None else {}
        body = capture.body if capture is not None else b""
        reply = Reply(status, body, dict(headers))
        if error is None and status >= 400:
            error = error_message(reply)
        stream = capture is not None and capture.is_stream
        note = None
        if recorded is None:
            note = capture.skipped if capture is not None and capture.skipped else \
                f"not recorded: {error or 'the exchange did not finish'}"
        return Entry(
            time=time.time(), status=status, duration_ms=(time.time() - self.started) * 1000, error=error,
            answer=None if status >= 400 or stream else answer_of(body, headers.get("content-type", "")),
            chunks=capture.events if stream else None, outcome=(outcome or "completed") if stream else None,
            upstream=self.mode.upstream.url, recorded=recorded.name if recorded is not None else None, note=note,
            **self._fields(status, headers),
        )

    def closed(self, recorded: Path | None, code: int | None) -> Entry:
        """A session's record once one side has closed it with `code` (None: no code seen): "completed" when it
        closed as sessions end (`CLEAN_CLOSES`), else "aborted" with the code (see `ended`)."""
        if code is None or code in CLEAN_CLOSES:
            return self.ended(recorded)
        return self.ended(recorded, outcome="aborted", error=f"the session was closed with code {code}")

    async def finish(self) -> Path | None:
        """Write the exchange, off the event loop; its file or None."""
        return await asyncio.to_thread(self.capture.finish) if self.capture is not None else None
