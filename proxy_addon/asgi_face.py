"""The base-URL face on a port of its own: the engine as an ASGI app, served by uvicorn (httptools) in the
proxy's event loop.

The proxy's port answers `http://127.0.0.1:PORT/v1` too (`addon.py`), through mitmproxy's HTTP stack,
which spent 2.5–2.95 ms of CPU per chat call: 3.4–3.5 times a peer mock server's (issue 16). This face
answers the same calls from the same engine, journal and control API at a fraction of that; it is
where `Runner.base_url` (so `exec --base-url`, `env --base-url`, the fixture's `base_url=True`) points.
uvicorn with httptools was chosen over h11 and over granian embedded by measurement
(`bench/asgi_servers.py`, bench/findings.md).

What a request meets is what it meets on the proxy's port, through the same functions:

- a `Host` that is not one of the fake's addresses (`access.own_host`): the 421 of `faces.misdirected`,
  journaled as "misdirected" (a DNS-rebinding page sends exactly that);
- a body over the size limit: read and dropped as it comes, never kept, then the API's 413
  (`faces.too_large`);
- `/_fake/...`: the control API (`control.Control`), with the run's token;
- any other path: `faces.answer`, the profile's latency counted from the request's arrival (its whole body
  read), the journal entry of `faces.entry_fields` with face "base-url", and a stream sent over time on
  the pace's schedule (`relay.send_stream`);
- a websocket to `/v1/realtime`: `realtime_socket.serve` (the Realtime API, as the relay runs it for the
  mitmproxy port); any other websocket is closed with 1008 (policy violation).

In record mode (`run --record`, `recording.py`) an API call is not answered by the engine: it is sent to the
upstream with httpx2, the answer's bytes are copied to the client as they come, and the exchange is recorded
once they have. A websocket to `/v1/realtime` is opened on the upstream with `websockets`, its messages copied
both ways and recorded as the session's event log once it closes. The control API, the size limit and the
`Host` check are as ever.

Its connections have the fake's deadlines (`run --header-timeout`, `--idle-timeout`: `relay.HeaderDeadline`
and uvicorn's keep-alive timeout), and a client from a public address is disconnected at once, as
mitmproxy's `block_global` does on the proxy's port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import access, realtime_socket
from .control import PREFIX as CONTROL_PREFIX, Control
from .deadlines import HEADER_TIMEOUT, IDLE_TIMEOUT
from .engine import Engine, OpenAIError, Reply
from .engine.realtime import PATH as REALTIME_PATH
from .engine.streams import StreamReply
from .faces import BASE_URL, MAX_REQUEST_SIZE, MISDIRECTED, answer, answered, declared_length, entry_fields, \
    headers_of, misdirected, query_of, refused, shared, stream_ended, stream_started, too_large, wire_headers
from .journal import Journal
from .recording import HOP_BY_HOP, RecordMode
from .relay import HeaderDeadline, Outcome, client_gone, drained, embedded_server, listening_socket, send_stream, started, \
    stopped, WEBSOCKETS

__all__ = ["BaseUrlApp", "BaseUrlFace", "REALTIME_PATH"]

logger = logging.getLogger(__name__)

#: The close code for a websocket nobody serves here (policy violation).
_POLICY_VIOLATION = 1008
#: Bytes a request's line and headers may take (the SDK sends about 1 KiB); past it, a 400 and the connection
#: closed. httptools sets no bound of its own (nor does mitmproxy's HTTP/1 reader, on the proxy's port).
MAX_HEAD_BYTES = 64 * 1024


class BaseUrlApp:
    """The ASGI app of the base-URL face: the engine, the control API and the journal, as on the proxy's port.

    `own_names`: names besides the loopback ones that a `Host` may give for the fake (`access.own_host`)."""

    def __init__(self, engine: Engine, journal: Journal, control: Control | None = None, *,
                 max_request_size: int = MAX_REQUEST_SIZE, own_names: frozenset[str] = frozenset(),
                 record: RecordMode | None = None) -> None:
        self.engine = engine
        #: Record mode: forward API calls to its upstream and record them (None: the engine answers).
        self.record = record
        self.journal = journal
        self.control = control or Control(engine, journal)
        self.max_request_size = max_request_size
        self.own_names = own_names
        self._active = 0
        self._ending = asyncio.Event()

    @property
    def active(self) -> int:
        """Streams being written right now."""
        return self._active

    def end_streams(self) -> None:
        """End the streams being written now, and any asked for from now on ("stopped"): the fake is stopping."""
        self._ending.set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    # -- http ----------------------------------------------------------------------------------------

    async def _http(self, scope, receive, send) -> None:
        arrived = time.time()
        headers = headers_of(scope["headers"])
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        method = shared(scope["method"])
        host_header = headers.get("host")
        host, port = access.authority(host_header)
        if not self._is_own(host, port, scope):
            reply = misdirected(host_header, scope["server"][1]).reply()
            # Recorded before it is sent, as on the proxy's port: a client that has its answer finds its call.
            self.journal.record(refused(reply, self._fields(method, host, target, headers, reply, face=MISDIRECTED)))
            await _send_whole(send, reply)
            return
        size = declared_length(headers)
        if size is not None and size > self.max_request_size:
            await self._too_large(receive, send, method, host, target, headers, arrived)
            return
        body, length = await _body(receive, self.max_request_size)
        if length > self.max_request_size:  # a chunked body (no length given) over the limit: read, not kept
            await self._too_large(receive, send, method, host, target, headers, arrived, length=length)
            return
        if body is None:  # the client went away before its body was in
            return
        path = target.split("?", 1)[0]
        if path.startswith(CONTROL_PREFIX):  # not an API call: not journaled as one
            client = scope.get("client")
            await _send_whole(send, self.control.handle(method, path, query_of(target), body,
                                                        client=client[0] if client else None, headers=headers))
            return
        started_at = time.time()  # its whole body is in: the latency counts from here, as on the proxy's port
        record = self.record
        if record is not None and record.all_calls:
            await self._forward(record, receive, send, method, target, headers, body, host, port, started_at)
            return
        reply, request, body = answer(self.engine, method=method, target=shared(target), headers=headers, body=body,
                                      host=shared(host), scheme="http", port=port,
                                      max_request_size=self.max_request_size)
        if reply.forward and record is not None:  # a replay's miss, recorded (`--on-miss record`)
            await self._forward(record, receive, send, method, target, headers, body, host, port, started_at)
            return
        wait = reply.delay - (time.time() - started_at)
        if wait > 0:
            await asyncio.sleep(wait)
        fields = self._fields(method, request.host if request is not None else host, target, headers, reply,
                              body=body, request=request)
        if isinstance(reply, StreamReply):
            await self._stream(reply, receive, send, fields, started_at)
            return
        self.journal.record(answered(reply, started_at, fields))
        await _send_whole(send, reply)

    async def _forward(self, record: RecordMode, receive, send, method: str, target: str, headers: dict[str, str],
                       body: bytes, host: str, port: int | None, started_at: float) -> None:
        """Record mode: send the call upstream, copy its answer to the client as it comes, record it."""
        import httpx2

        forwarded = record.forwarded(method=method, target=target, headers=headers, body=body, host=host,
                                     scheme="http", port=port, face=BASE_URL, started=started_at)
        try:
            response = await record.send(method, target, headers, body)
        except Exception as e:  # unreachable, refused, a TLS failure, a header httpx2 will not send: never a crash
            if not isinstance(e, httpx2.HTTPError):
                logger.exception("openai-fake: forwarding %s %s failed", method, forwarded.request.path)
            why = f"openai-fake --record: the upstream {record.upstream.url} failed: {type(e).__name__}: {e}"
            self.journal.record(forwarded.ended(None, error=why))
            await _send_whole(send, OpenAIError(502, why, type="server_error").reply())
            return
        try:  # in progress until `forwarded.ended`: `RecordMode.active` counts it, not this face's streams
            capture = forwarded.begin(response.status_code, headers_of(response.headers.raw))
            if capture.is_stream:
                self.journal.record(forwarded.stream_entry())
            pump = asyncio.ensure_future(self._pump(response, capture, send))
            gone = asyncio.ensure_future(client_gone(receive))
            stop = asyncio.ensure_future(self._ending.wait())
            try:
                await asyncio.wait({pump, gone, stop}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # the server gave up waiting
                self.journal.record(forwarded.ended(None, outcome="stopped"))
                raise
            finally:
                gone.cancel()
                stop.cancel()
                if not pump.done():  # the client went away, or the fake is stopping
                    pump.cancel()
                    await asyncio.gather(pump, return_exceptions=True)
            failure = None if pump.cancelled() else pump.exception()
            if failure is not None:
                why = f"the upstream failed: {type(failure).__name__}: {failure}"
                self.journal.record(forwarded.ended(None, error=why, outcome="aborted"))
                return
            if pump.cancelled():  # the fake stopping ends it as it ends its own streams ("stopped")
                stopping = self._ending.is_set()
                self.journal.record(forwarded.ended(None, error=None if stopping else "client hung up",
                                                    outcome="stopped" if stopping else "aborted"))
                return
            self.journal.record(forwarded.ended(await forwarded.finish()))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    @staticmethod
    async def _pump(response, capture, send) -> None:
        """The upstream's answer to the client as it arrives (its headers less the hop-by-hop ones), each piece
        fed to the capture (the body's end, for a chunked answer, is sent once the exchange is written)."""
        fields = [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP - {"content-length"}]
        await send({"type": "http.response.start", "status": response.status_code, "headers": fields})
        async for data in response.aiter_raw():
            capture.feed(data)
            await send({"type": "http.response.body", "body": data, "more_body": True})

    def _is_own(self, host: str, port: int | None, scope) -> bool:
        server = scope.get("server")
        return server is not None and port is not None and access.own_host(
            host, port, server[1], server[0], self.own_names)

    def _fields(self, method: str, host: str, target: str, headers: dict[str, str], reply, *, body: bytes = b"",
                request=None, face: str = BASE_URL) -> dict:
        return entry_fields(method=method, host=host, target=target, headers=headers, reply=reply, body=body,
                            request=request, face=face)

    async def _too_large(self, receive, send, method: str, host: str, target: str, headers: dict[str, str],
                         arrived: float, length: int | None = None) -> None:
        """The API's 413, once the body is read to its end and dropped (the client sends it all before it reads).
        `length`: the body's, when it was read already (no length given); else the one it declared."""
        whole = length is not None or await drained(receive)
        reply = too_large(length if length is not None else declared_length(headers), self.max_request_size).reply()
        self.journal.record(refused(reply, self._fields(method, host, target, headers, reply), arrived,
                                    hung_up=not whole))
        if whole:
            await _send_whole(send, reply)

    async def _stream(self, reply: StreamReply, receive, send, fields: dict, started_at: float) -> None:
        """Send `reply` over time; record the stream now (kind "stream", so `tail` shows it in progress) and the
        call when it ends (same request id)."""

        def ended(outcome: Outcome) -> None:
            self.journal.record(stream_ended(reply, started_at, fields, outcome.how, outcome.chunks))

        # The schedule counts from when the reply was due (arrival + latency), as on the proxy's port.
        late = max(0.0, time.time() - started_at - reply.delay)
        self.journal.record(stream_started(reply, started_at, fields))
        self._active += 1
        try:
            await send_stream(reply, receive, send, ended, due=asyncio.get_running_loop().time() - late, ending=self._ending)
        finally:
            self._active -= 1  # after the record, so "no stream active" means "all recorded"

    # -- websockets ------------------------------------------------------------------------------------

    async def _websocket(self, scope, receive, send) -> None:
        headers = headers_of(scope["headers"])
        host, port = access.authority(headers.get("host"))
        if self._is_own(host, port, scope) and scope["path"] == REALTIME_PATH:
            record = self.record
            if record is not None and record.all_calls:  # (a replay's realtime miss is its 404, not recorded)
                await self._forward_socket(record, scope, receive, send, headers, host, port)
                return
            await realtime_socket.serve(scope, receive, send, engine=self.engine, journal=self.journal, face=BASE_URL)
            return
        message = await receive()  # websocket.connect: closing before accepting answers the handshake with 403
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": _POLICY_VIOLATION})

    async def _forward_socket(self, record: RecordMode, scope, receive, send, headers: dict[str, str], host: str,
                              port: int | None) -> None:
        """Record mode: open the session on the upstream (`RecordMode.connect`), copy its messages both ways as
        they come, each recorded (`Capture.message`); write the event log once either side has closed. A handshake
        the upstream refuses is passed on (its status and body) and recorded as the HTTP exchange it is."""
        import websockets

        if (await receive())["type"] != "websocket.connect":
            return
        query = scope.get("query_string") or b""
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        forwarded = record.forwarded(method="GET", target=target, headers=headers, body=b"", host=host,
                                     scheme="http", port=port, face=BASE_URL, started=time.time())
        try:
            upstream = await record.connect(target, headers)
        except websockets.InvalidStatus as e:  # refused: 401, 429, ... as the upstream said it
            response = e.response
            capture = forwarded.begin(response.status_code, dict(response.headers.raw_items()))
            capture.feed(response.body or b"")
            self.journal.record(forwarded.ended(await forwarded.finish()))
            passed = {k: v for k, v in capture.headers.items() if k not in HOP_BY_HOP}
            await realtime_socket.refuse(scope, send, Reply(response.status_code, response.body or b"", passed))
            return
        except Exception as e:  # unreachable, a TLS failure, a bad answer: never a crash
            if not isinstance(e, (OSError, websockets.WebSocketException, asyncio.TimeoutError)):
                logger.exception("openai-fake: forwarding the realtime session failed")
            why = f"openai-fake --record: the upstream {record.upstream.url} failed: {type(e).__name__}: {e}"
            self.journal.record(forwarded.ended(None, error=why))
            await realtime_socket.refuse(scope, send, OpenAIError(502, why, type="server_error").reply())
            return
        async with upstream:
            handshake = upstream.response
            capture = forwarded.begin(101, dict(handshake.headers.raw_items()))
            self.journal.record(forwarded.stream_entry())
            passed = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in handshake.headers.raw_items()
                      if k.lower() not in HOP_BY_HOP and not k.lower().startswith("sec-websocket-")]
            await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol, "headers": passed})
            try:
                how, code = await _copy_socket(receive, send, upstream, capture, self._ending)
            except asyncio.CancelledError:  # the server gave up waiting
                self.journal.record(forwarded.ended(None, outcome="stopped"))
                raise
        recorded = await forwarded.finish()
        if how == "closed":
            self.journal.record(forwarded.closed(recorded, code))
        else:  # the fake is stopping (its own streams end "stopped" too), or copying failed
            self.journal.record(forwarded.ended(recorded, outcome=how, error="the session failed" if how == "aborted" else None))


async def _copy_socket(receive, send, upstream, capture, ending: asyncio.Event) -> tuple[str, int | None]:
    """Copy a session's messages both ways until one side closes (then close the other with its code), each
    recorded as it passes. How it ended ("closed", with the code one side closed it with; "stopped": the fake is
    stopping; "aborted": copying failed)."""
    import websockets

    async def from_client() -> int:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return message.get("code", 1005)
            data = message.get("text")
            data = data if data is not None else message.get("bytes") or b""
            capture.message(data, from_client=True)
            await upstream.send(data)

    async def from_upstream() -> int:
        try:
            async for data in upstream:
                capture.message(data, from_client=False)
                await send({"type": "websocket.send", "text": data} if isinstance(data, str) else
                           {"type": "websocket.send", "bytes": data})
        except websockets.ConnectionClosed:
            pass
        return upstream.close_code or 1005

    client, server, stop = (asyncio.ensure_future(from_client()), asyncio.ensure_future(from_upstream()),
                            asyncio.ensure_future(ending.wait()))
    try:
        await asyncio.wait({client, server, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (client, server, stop):
            task.cancel()
        await asyncio.gather(client, server, stop, return_exceptions=True)
    if client.done() and not client.cancelled() and client.exception() is None:  # the client closed
        code = client.result()
        with contextlib.suppress(Exception):  # the upstream may be gone already
            await upstream.close(_sendable(code))
        return "closed", code
    if server.done() and not server.cancelled() and server.exception() is None:  # the upstream closed
        code = server.result()
        with contextlib.suppress(Exception):  # the client may be gone already
            await send({"type": "websocket.close", "code": _sendable(code)})
        return "closed", code
    failure = next((t.exception() for t in (client, server) if t.done() and not t.cancelled() and t.exception()), None)
    if failure is not None:
        logger.warning("openai-fake: the forwarded realtime session failed: %s: %s", type(failure).__name__, failure)
    with contextlib.suppress(Exception):
        await send({"type": "websocket.close", "code": 1001 if stop.done() else 1011})
    return ("stopped" if stop.done() and failure is None else "aborted"), None


def _sendable(code: int) -> int:
    """A close code one side gave, as the other side can be sent it: 1005 (none given) is a normal close, and
    1006 and 1015 (no close frame; a TLS failure) are never sent: the server failed (1011)."""
    return 1000 if code == 1005 else 1011 if code in (1006, 1015) or not 1000 <= code < 5000 else code


async def _body(receive, limit: int) -> tuple[bytes | None, int]:
    """The request's body and its length. The body is None when the client went away first, or when it is
    over `limit` bytes: read to its end then, but not kept."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, size
        data = message.get("body", b"")
        size += len(data)
        if size <= limit:
            chunks.append(data)
        elif chunks:
            chunks.clear()  # over the limit: counted from now on, no longer kept
        if not message.get("more_body", False):
            return (b"".join(chunks) if size <= limit else None), size


async def _send_whole(send, reply) -> None:
    """A whole reply: the engine's headers as given, then the body's own `content-length` (as on the proxy's port)."""
    headers = wire_headers(reply.headers)
    headers.append((b"content-length", b"%d" % len(reply.body)))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


class _HeadTooLarge(Exception):
    """Raised in a parser callback: httptools reports it as a parser error, which uvicorn answers with a 400."""


class _FaceProtocol(HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with the fake's header deadline and a bound on a request's head (`MAX_HEAD_BYTES`),
    refusing clients from public addresses."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        if peer and access.is_public(peer[0]):
            logger.warning("openai-fake: client connection from %s refused: a public address", peer[0])
            transport.close()

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge(f"the request's line and headers are over {MAX_HEAD_BYTES} bytes")


class BaseUrlFace:
    """`app` served on `host:port` (port 0: a free one) by uvicorn in the running event loop, once `start()` returns.

    `header_timeout`, `idle_timeout`: the fake's connection deadlines (`deadlines.py`)."""

    def __init__(self, app: BaseUrlApp, host: str = "127.0.0.1", port: int = 0, *,
                 header_timeout: float = HEADER_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.app = app
        self.host, self.port = host, port
        self.header_timeout, self.idle_timeout = header_timeout, idle_timeout
        #: (host, port) once listening.
        self.address: tuple[str, int] | None = None
        self._server = None
        self._task: asyncio.Future | None = None

    async def start(self) -> None:
        """Listen. Raises OSError when the address cannot be had (port in use, bad address)."""
        sock = listening_socket(self.host, self.port)
        protocol = type("_BaseUrlProtocol", (_FaceProtocol,), {"header_timeout": self.header_timeout})
        # The Realtime API's socket as on the relay (`relay.WEBSOCKETS`).
        self._server, self._task = embedded_server(self.app, sock, protocol, **WEBSOCKETS,
                                                   timeout_keep_alive=self.idle_timeout)
        await started(self._server, self._task)
        self.address = tuple(sock.getsockname()[:2])

    async def stop(self) -> None:
        """Stop serving; streams still running are ended."""
        self.address = None
        self.app.end_streams()
        await stopped(self._server, self._task)
