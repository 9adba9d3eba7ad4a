"""The mitmproxy face of the fake: flow -> engine -> flow.

OpenAI hosts (`api.openai.com` and `*.api.openai.com`), Azure OpenAI's
(`*.openai.azure.com`, `*.cognitiveservices.azure.com`) and the other hosts the
active profile names (`profile.host(...)`) are answered by the engine and never
reach the real server. A request is the fake's when its CONNECT target, its TLS
SNI or its `Host` names one of them (`access.is_api_host`, `Profile.host_for`);
the request hook then always sets a response, and `server_connect` refuses any
upstream connection to them should one ever be attempted. The proxy intercepts
TLS for exactly those hosts: `allow_hosts` is OpenAI's and Azure's, and, as a
CONNECT arrives, the profile's hosts (`http_connect`), so a host registered
during a test is intercepted from its next connection. Requests addressed
to the proxy itself (`http://127.0.0.1:PORT/v1/...`) are the base-URL face and
get the same engine; there, and only there, `/_fake/...` are the control
endpoints (`control.py`). A plain request to the proxy's port whose `Host` is
not one of the fake's own addresses is refused with a 421 (`access.own_host`).
Everything else is left to mitmproxy, which tunnels it untouched because the
runner sets `allow_hosts` to those hosts only; `server_connect` keeps those
tunnels off the fake itself and, for clients from other machines, off this
machine's loopback and private addresses (`access.upstream_refusal`).

Bodies are bounded: a request to the fake over `max_request_size` bytes is
answered with the API's 413, its body streamed to the relay and dropped there,
never buffered (`relay.py`).

A streamed reply goes through the relay (see `relay.py`): the flow is pointed
at the relay's loopback port and its response is streamed. Without a relay
(in unit tests) the events are sent in one piece.

A WebSocket upgrade to `/v1/realtime` (the Realtime API, on either face) goes to the relay
too, with `realtime_socket.serve` as its handler: mitmproxy passes the upgrade on, then relays
the frames both ways; the handler asks the engine about the handshake and journals the call.

In record mode (`run --record DIR`, `recording.py`), and only then, the OpenAI calls are not
answered here: the flow is pointed at the configured upstream and mitmproxy forwards it, its
response streaming back through a callable that records it (`Capture`), and `server_connect`
allows that one upstream. A Realtime session is forwarded the same way and recorded message by
message (`websocket_message`), its event log written when it closes (`websocket_end`). A host a
profile answers (`profile.host`) is still answered here.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time

from mitmproxy import ctx, exceptions, http
from mitmproxy.net.http import status_codes
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

from . import access, realtime_socket
from .access import ALLOW_HOSTS, OPENAI_HOST, is_api_host, is_openai
from .control import PREFIX as CONTROL_PREFIX, Control
from .engine import Engine, Request
from .engine.realtime import PATH as REALTIME_PATH
from .engine.streams import Event, StreamReply
from .faces import BASE_URL, MAX_REQUEST_SIZE, MISDIRECTED, PROXY, answer, answered, declared_length, entry_fields, \
    headers_of, misdirected, refused, wire_headers, shared, stream_ended, stream_started, too_large
from .journal import Journal
from .profile import ProfileError, load
from .recording import PROXY_HEADERS, RecordMode
from .relay import TOKEN_HEADER, Outcome, Relay

__all__ = ["OpenAIFake", "ALLOW_HOSTS", "OPENAI_HOST", "MAX_REQUEST_SIZE"]


# The faces (`faces.py`): the proxy face answers OpenAI hosts, the base-URL face the fake's own address; a plain
# request to the fake's port naming another host is refused ("misdirected"). MAX_REQUEST_SIZE is kept here
# for those who import it from this module.


class OpenAIFake:
    """Answers OpenAI API requests from the engine, after the profile's latency."""

    def __init__(self, engine: Engine | None = None, journal: Journal | None = None, relay: Relay | None = None,
                 control: Control | None = None, *, max_request_size: int = MAX_REQUEST_SIZE,
                 own_names: frozenset[str] = frozenset(), record: RecordMode | None = None) -> None:
        self.engine = engine or Engine()
        #: Record mode: forward OpenAI calls to its upstream and record them (None: answer every one here).
        self.record = record
        self.journal = journal or Journal()
        self.relay = relay
        #: Answers `/_fake/...` on the base-URL face (loopback clients only unless it allows remote ones).
        self.control = control or Control(self.engine, self.journal)
        #: Bodies over this many bytes get the API's 413 without being read into memory.
        self.max_request_size = max_request_size
        #: Names besides the loopback ones that a `Host` may give for the fake itself (`access.own_host`).
        self.own_names = own_names
        #: The profile hosts `allow_hosts` intercepts now (`http_connect` keeps it current).
        self._intercepted: tuple[str, ...] = ()
        self._options = None  # the master's, once loaded

    def load(self, loader) -> None:
        # This master's options: `ctx.options` is whichever master was made last (a test's `taddons` one, say).
        self._options = loader.master.options
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

    async def server_connect(self, data: ServerConnectionHookData) -> None:
        """Refuse upstream connections to OpenAI, to the fake itself, and (for clients from other machines)
        to addresses that are not public; pin an allowed name to the address checked, so that a DNS answer
        that changes in between (rebinding) cannot take the connection elsewhere."""
        address = data.server.address
        if not address:
            return
        host, port = address[0], address[1]
        sni = data.server.sni
        # Record mode's one upstream, by address and (over TLS) by the name it is asked for.
        forwarding = self.record is not None and self.record.upstream.allows(host, port) and (
            not sni or self.record.upstream.allows(sni, port))
        if (is_api_host(host) or is_api_host(sni)) and not forwarding:
            data.server.error = "openai-fake never connects to the real OpenAI API"
            return
        profile = self.engine.profile
        if not forwarding and (profile.host_for(host) or profile.host_for(sni)):
            data.server.error = f"openai-fake answers {host} itself (profile.host): it never connects to it"
            return
        peer = data.client.peername
        local = access.is_loopback(peer[0] if peer else None)
        sockname = data.client.sockname
        listen_port = sockname[1] if sockname else None
        relay_port = self.relay.port if self.relay is not None else None
        addresses: list[str] = []
        if access._ip(host) is None and (not local or port == listen_port):
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                infos = []  # mitmproxy reports the failure to resolve in its own way
            addresses = [info[4][0] for info in infos]
        why = access.upstream_refusal(host, port, addresses, listen_port=listen_port, client_is_local=local,
                                      relay_port=relay_port, forwarding=forwarding)
        if why:
            data.server.error = why
        elif addresses and not local:
            data.server.address = (addresses[0], port)

    def _face(self, flow: http.HTTPFlow) -> str | None:
        """PROXY for a host the fake answers (OpenAI's, Azure's, a profile's; by CONNECT target, SNI or `Host`), BASE_URL for the proxy's own address,
        MISDIRECTED for a plain request to the proxy's port that names another host, None for anything else."""
        if self._answered_host(flow) is not None:
            return PROXY
        req, client = flow.request, flow.client_conn
        sockname = client.sockname
        if client.tls or not sockname or req.port != sockname[1]:
            return None
        if access.own_host(req.host, req.port, sockname[1], sockname[0], self.own_names):
            return BASE_URL
        return MISDIRECTED

    def _answered_host(self, flow: http.HTTPFlow) -> str | None:
        """The host the fake answers this flow as (its target, its SNI or its `Host`, the first that is
        OpenAI's, Azure's or a profile's host), or None."""
        req, client = flow.request, flow.client_conn
        host = req.host
        if is_openai(host):  # the common case, first and cheap
            return host
        profile = self.engine.profile
        for name in (host, client.sni, access.hostname(req.host_header)):
            if name and (is_api_host(name) or profile.host_for(name) is not None):
                return name
        return None

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """Before the tunnel's first bytes are looked at: make `allow_hosts` intercept the active profile's
        hosts too (`profile.host(...)`), as they are now, so that they are answered and every other host is
        still tunnelled untouched."""
        patterns = self.engine.profile.host_patterns
        if patterns != self._intercepted and self._options is not None:
            self._intercepted = patterns
            self._options.update(allow_hosts=[*ALLOW_HOSTS, *patterns])

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """A body over the size limit is refused before it is read: streamed to the relay, which drops it
        and answers the API's 413 (without a relay, in unit tests: once read, in `request`)."""
        if flow.response or flow.error or self._face(flow) not in (PROXY, BASE_URL):
            return
        size = declared_length(flow.request.headers)
        if size is None or size <= self.max_request_size or self.relay is None or self.relay.port is None:
            return
        req = flow.request
        started = time.time()
        reply = too_large(size, self.max_request_size).reply()
        entry = self._entry(flow, reply, b"", None)

        def ended(outcome: Outcome) -> None:
            self.journal.record(refused(reply, entry, started, hung_up=outcome.how == "aborted"))

        whole = StreamReply(reply.status, b"", reply.headers, events=[Event(reply.body)])
        token = self.relay.offer(whole, ended, drain=True)
        flow.metadata[TOKEN_HEADER] = token
        req.scheme, req.host, req.port = "http", "127.0.0.1", self.relay.port
        req.headers[TOKEN_HEADER] = token
        req.stream = True

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or TOKEN_HEADER in flow.metadata:
            return
        face = self._face(flow)
        if face is None:
            return
        if face == MISDIRECTED:
            self._misdirected(flow)
            return
        if face == BASE_URL and flow.request.path.split("?", 1)[0].startswith(CONTROL_PREFIX):
            self._control(flow)  # not an API call: not journaled as one
            return
        req = flow.request
        record = self.record
        records = record is not None and (face == BASE_URL or is_api_host(self._answered_host(flow)))
        if records and record.all_calls:
            self._forward(flow, face, record)
            return
        if self.relay is not None and self.relay.port is not None and _is_realtime_upgrade(req):
            self._socket(flow, face)
            return
        started = _arrival(req)
        headers = _headers(req)
        # Read once (mitmproxy decodes them on every read); shared, as the journal keeps 10,000 calls in memory.
        method, target = shared(req.method), shared(req.path)
        # The host it is answered as: the target the request names (`pretty_host` re-parses the Host header:
        # ~20 µs), or the SNI or `Host` that named a host the fake answers.
        host = shared(self._answered_host(flow) or req.host) if face == PROXY else shared(req.host)
        reply, request, body = answer(self.engine, method=method, target=target, headers=headers,
                                      body=req.get_content(strict=False) or b"", host=host, scheme=req.scheme,
                                      port=req.port, max_request_size=self.max_request_size)
        if reply.forward and records:  # a replay's miss, recorded (`--on-miss record`)
            self._forward(flow, face, record)
            return
        # Latency counts from the request's arrival: time spent queued behind other calls is part of it.
        wait = reply.delay - (time.time() - started)
        if wait > 0:
            await asyncio.sleep(wait)
        entry = self._entry(flow, reply, body, request, face=face, headers=headers)
        if isinstance(reply, StreamReply):
            if self.relay is not None and self.relay.port is not None and flow.live:
                self._relay(flow, reply, entry, started)
                return
            reply.body = b"".join(e.data for e in reply.events)  # no relay: the whole stream at once
        flow.response = _response(reply.status, reply.body, reply.headers)
        self.journal.record(answered(reply, started, entry))

    def _entry(self, flow: http.HTTPFlow, reply, body: bytes, request: Request | None, *,
               face: str | None = None, headers: dict[str, str] | None = None) -> dict:
        """The fields of a call's journal entry that are known once it is answered (`faces.entry_fields`)."""
        req = flow.request
        return entry_fields(method=req.method, host=request.host if request is not None else req.host,  # as answered
                            target=req.path, headers=headers if headers is not None else _headers(req), reply=reply,
                            body=body, request=request, face=face or self._face(flow) or "")

    def _forward(self, flow: http.HTTPFlow, face: str, record: RecordMode) -> None:
        """Record mode: point the flow at the upstream, for mitmproxy to forward as it is (the client's key
        included), with `Accept-Encoding: identity` (the recording keeps decoded bodies) and without the
        proxy's own headers; remember the request as the client sent it, for the recording."""
        req = flow.request
        host = (self._answered_host(flow) or req.host) if face == PROXY else req.host
        flow.metadata[_FORWARDED] = record.forwarded(
            method=req.method, target=req.path, headers=_headers(req), body=req.get_content(strict=False) or b"",
            host=host, scheme=req.scheme, port=req.port, face=face, started=_arrival(req))
        upstream = record.upstream
        req.scheme, req.host, req.port = upstream.scheme, upstream.host, upstream.port  # and its Host header
        req.path = upstream.target(req.path)
        req.headers["accept-encoding"] = "identity"
        for name in PROXY_HEADERS:
            req.headers.pop(name, None)

    def _misdirected(self, flow: http.HTTPFlow) -> None:
        """A plain request to the fake's port whose `Host` is not the fake: refused, never forwarded (forwarding
        it made the fake proxy to itself in a loop; a DNS-rebinding page sends exactly this)."""
        req = flow.request
        sockname = flow.client_conn.sockname
        reply = misdirected(req.host_header, sockname[1] if sockname else req.port).reply()
        flow.response = _response(reply.status, reply.body, reply.headers)
        self.journal.record(refused(reply, self._entry(flow, reply, b"", None, face=MISDIRECTED)))

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
            self.journal.record(stream_ended(reply, started, entry, outcome.how, outcome.chunks))

        # The schedule counts from when the reply was due (arrival + latency), so the hop to the relay
        # takes nothing from `ttft`: what the client sees is the pace asked for.
        late = max(0.0, time.time() - started - reply.delay)
        token = self.relay.offer(reply, ended, due=asyncio.get_running_loop().time() - late)
        self.journal.record(stream_started(reply, started, entry))
        flow.metadata[TOKEN_HEADER] = token
        flow.metadata[_STREAMED] = True
        req = flow.request
        req.scheme, req.host, req.port = "http", "127.0.0.1", self.relay.port
        req.headers[TOKEN_HEADER] = token
        req.content = b""  # the relay needs only the token

    def _socket(self, flow: http.HTTPFlow, face: str) -> None:
        """Point a realtime WebSocket upgrade at the relay, which runs the connection (`realtime_socket.serve`).
        The `Host` it is given is the one the call is answered as, so the journal names it as for any call."""
        req = flow.request
        host = self._answered_host(flow) or req.host if face == PROXY else req.host_header or req.host
        handler = functools.partial(realtime_socket.serve, engine=self.engine, journal=self.journal, face=face)
        token = self.relay.offer_socket(handler)
        flow.metadata[TOKEN_HEADER] = token
        flow.metadata[_SOCKET] = True
        req.scheme, req.host, req.port = "http", "127.0.0.1", self.relay.port
        req.headers["host"] = host
        req.headers[TOKEN_HEADER] = token

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        """Record mode: record a forwarded session's message. Then keep only the last message of a realtime
        connection: mitmproxy keeps every one on the flow until it ends, and a voice session's audio would pile
        up in memory."""
        if flow.websocket is None:
            return
        session = flow.metadata.get(_SESSION)
        if session is not None and flow.websocket.messages:
            message = flow.websocket.messages[-1]
            session.capture.message(message.content, from_client=message.from_client)
        if flow.metadata.get(_SOCKET) or flow.metadata.get(_WAS_FORWARDED):
            del flow.websocket.messages[:-1]

    async def websocket_end(self, flow: http.HTTPFlow) -> None:
        """Record mode: a forwarded session has closed; write its event log (off the event loop), then journal
        the call."""
        session = flow.metadata.pop(_SESSION, None)
        if session is not None:
            code = flow.websocket.close_code if flow.websocket is not None else None
            self.journal.record(session.closed(await session.finish(), code))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(_STREAMED):
            flow.response.stream = True
            return
        forwarded = flow.metadata.get(_FORWARDED)
        if forwarded is not None:  # record mode: the upstream's answer streams through, recorded on its way
            response = flow.response
            capture = forwarded.begin(response.status_code, headers_of(response.headers.fields))
            response.stream = capture.feed
            if capture.is_stream:
                self.journal.record(forwarded.stream_entry())

    async def response(self, flow: http.HTTPFlow) -> None:
        """Record mode: the upstream's answer has passed through; write the exchange (off the event loop),
        then journal the call."""
        forwarded = flow.metadata.pop(_FORWARDED, None)
        if forwarded is not None:
            flow.metadata[_WAS_FORWARDED] = True
            if forwarded.capture is not None and forwarded.capture.is_session and flow.websocket is not None:
                flow.metadata[_SESSION] = forwarded  # its messages come now: recorded as they pass, until it ends
                return
            self.journal.record(forwarded.ended(await forwarded.finish()))

    def error(self, flow: http.HTTPFlow) -> None:
        forwarded = flow.metadata.pop(_FORWARDED, None)
        if forwarded is not None:  # the upstream could not be reached, or a side hung up: nothing recorded
            why = flow.error.msg if flow.error is not None else "the exchange failed"
            self.journal.record(forwarded.ended(None, error=why, outcome="aborted"))
        token = flow.metadata.get(TOKEN_HEADER)
        if token and self.relay is not None:
            self.relay.withdraw(token)  # never fetched: do not keep it


def _response(status: int, body: bytes, headers: dict[str, str]) -> http.Response:
    """mitmproxy's response for a whole reply, made with its constructor rather than `Response.make`, which
    converts each header through `always_bytes`, then sets the content through the content-encoding
    machinery and looks the headers up three more times: about a third of the cost of making it
    (bench/profile.py). The same fields: headers as given, then `content-length`."""
    fields = wire_headers(headers)  # without content-length: the body's own, as `make` would set it
    fields.append((b"content-length", b"%d" % len(body)))
    now = time.time()
    return http.Response(b"HTTP/1.1", status, _REASONS.get(status, b""),
                         http.Headers(fields), body, None, now, now)


_REASONS = {status: reason.encode() for status, reason in status_codes.RESPONSES.items()}
_STREAMED = "openai-fake-streamed"
_SOCKET = "openai-fake-socket"
_FORWARDED, _WAS_FORWARDED = "openai-fake-forwarded", "openai-fake-was-forwarded"
_SESSION = "openai-fake-forwarded-session"  # a forwarded Realtime session, recorded until `websocket_end`


def _is_realtime_upgrade(req: http.Request) -> bool:
    """A WebSocket upgrade to the Realtime API's path."""
    return req.headers.get("upgrade", "").lower() == "websocket" and req.path.split("?", 1)[0].rstrip("/") == REALTIME_PATH


def _arrival(req: http.Request) -> float:
    """When the whole request had arrived (wall clock); now, for a request that says otherwise (a test flow)."""
    now = time.time()
    arrived = req.timestamp_end or req.timestamp_start
    return arrived if arrived and 0 <= now - arrived < 60 else now


def _headers(req: http.Request) -> dict[str, str]:
    """The request's headers as the engine reads them (`faces.headers_of`)."""
    return headers_of(req.headers.fields)
