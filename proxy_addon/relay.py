"""The stream relay: a loopback uvicorn server, in the proxy's own event loop, that sends streams over time.

mitmproxy sends a response set in its request hook in one piece, whatever
its `stream` flag says. A response it reads from a server, it can pass on as
it arrives. So for a streamed reply the addon hands the engine's
`StreamReply` to the relay under a one-time token, points the flow at the
relay, and marks the response as streamed; the relay writes the events on the
schedule the profile's pace gives (`engine.streams.schedule`).

The relay listens on 127.0.0.1 on a free port and answers only tokens the
addon handed it, so nothing else can use it.

It also refuses request bodies over the fake's size limit (`offer(..., drain=True)`):
the addon streams such a body here instead of buffering it, and the relay reads
and discards it before answering the API's 413, so memory stays bounded and the
client, which sends its whole body before it reads, gets the answer.

Its port is reachable by any local process and it shares the fake's file descriptors, so
its connections have the fake's header deadline too (`_HeaderDeadline`): uvicorn closes a
kept-alive connection that stays quiet (`timeout_keep_alive`), but waits forever for a new
connection's first request, or for the rest of one begun; 300 such connections to the relay
locked every client out of the fake under `ulimit -n 256` (issue 12).

It serves WebSockets too (the Realtime API): the addon hands it a handler with `offer_socket()` and
points the upgrade at it, mitmproxy relays the frames, and the handler (`realtime_socket.serve`)
runs the connection. uvicorn speaks the protocol (its websockets-sansio implementation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
from dataclasses import dataclass
from typing import Awaitable, Callable

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .deadlines import HEADER_TIMEOUT
from .engine.streams import CONTENT, CUT, ERROR, StreamReply, schedule

TOKEN_HEADER = "x-openai-fake-relay"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How a stream ended: "completed", "error" (an error event was sent), "cut" (by the pace), "aborted"
    (the client hung up) or "stopped" (the fake stopped first). `chunks` counts the content deltas written."""

    how: str
    chunks: int
    events: int


class _Cut(Exception):
    """Raised to make uvicorn close the connection mid-body: the pace asked for a cut."""


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _Cut)


_QUIET_CUTS = _QuietCuts()  # one: uvicorn's logger keeps a filter once, however many servers add it


class _EmbeddedServer(uvicorn.Server):
    # The proxy owns the process's signals; uvicorn must not take them.
    def capture_signals(self):
        return contextlib.nullcontext()


class HeaderDeadline:
    """A mixin for uvicorn's HTTP protocols (h11's, httptools'): close a connection that has not sent a
    request's headers within `header_timeout` of its start, or of the end of its last reply (then no
    sooner than uvicorn's own `timeout_keep_alive`, which closes a kept-alive connection that sends
    nothing at all). A connection upgraded to a websocket is the websocket protocol's from then on."""

    header_timeout: float = HEADER_TIMEOUT

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm(self.header_timeout)

    def on_response_complete(self) -> None:
        # Before uvicorn starts a pipelined request, which then counts as the one that came.
        self._arm(max(self.header_timeout, self.timeout_keep_alive))
        super().on_response_complete()

    def handle_websocket_upgrade(self, *args) -> None:
        self._disarm()  # no request cycle will ever come on this protocol: the deadline would close the socket
        super().handle_websocket_upgrade(*args)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._overdue, self.cycle)

    def _overdue(self, awaited) -> None:
        self._deadline = None
        # uvicorn makes a new cycle for each request once its headers are in.
        if self.cycle is awaited and (awaited is None or awaited.response_complete) and not self.transport.is_closing():
            self.transport.close()  # connection_lost tells the protocol


class _HeaderDeadline(HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline: the relay's (its one client, the fake, is not
    worth a faster parser)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port` (port 0: a free one), for `embedded_server`. Raises OSError.

    Made as an IPPROTO_TCP socket: asyncio sets TCP_NODELAY on the connections of such a socket only (a bare
    `socket()` says protocol 0), and without it a reply written in two pieces (its headers, then its body)
    waited for the client's delayed ACK: ~40 ms a call (bench/asgi_servers.py)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


#: uvicorn's settings for a server that takes the Realtime API's WebSocket (the relay, the base-URL face's own
#: port): websockets' sans-I/O protocol; no message size limit beyond the fake's request limit, as the API's
#: audio frames are large; pings are the client's business.
WEBSOCKETS = dict(ws="websockets-sansio", ws_max_size=64 * 1024 * 1024, ws_ping_interval=None)


def embedded_server(app, sock: socket.socket, protocol: type, **config) -> tuple["_EmbeddedServer", asyncio.Future]:
    """uvicorn serving `app` on `sock` with the HTTP `protocol` class, in the running event loop, as a task;
    `config`: more `uvicorn.Config` settings. Quiet: no access log, no `server`/`date` headers (the fake's
    replies carry the headers the engine gave, as on the mitmproxy port), no lifespan, and no `X-Forwarded-For`
    trusted (uvicorn's default trusts it from 127.0.0.1: any local process could then name the client address
    the control API checks; it also cost about a tenth of a call's CPU)."""
    logging.getLogger("uvicorn.error").addFilter(_QUIET_CUTS)
    settings = dict(interface="asgi3", lifespan="off", access_log=False, log_config=None, log_level="warning",
                    ws="none", server_header=False, date_header=False, timeout_graceful_shutdown=1,
                    proxy_headers=False)
    server = _EmbeddedServer(uvicorn.Config(app, http=protocol, **{**settings, **config}))
    return server, asyncio.ensure_future(server.serve(sockets=[sock]))


async def started(server: "_EmbeddedServer", task: asyncio.Future) -> None:
    """Return once `server` listens; raise why it could not start."""
    while not server.started and not task.done():
        await asyncio.sleep(0.002)
    if task.done():
        task.result()  # re-raise why it could not start


async def stopped(server: "_EmbeddedServer | None", task: asyncio.Future | None) -> None:
    """Stop `server` at once: replies in progress (slow streams) are ended, not waited for."""
    if server is not None and task is not None:
        server.should_exit = True
        server.force_exit = True
        await asyncio.gather(task, return_exceptions=True)


class Relay:
    """Streams handed over with `offer()`, served on `127.0.0.1:port` once `start()` returns.

    `header_timeout`: seconds a connection to the relay has to send its request's headers (at least 1:
    its one honest client, the fake, sends them at once, even when its event loop is busy)."""

    def __init__(self, header_timeout: float = HEADER_TIMEOUT) -> None:
        self.header_timeout = max(header_timeout, 1.0)
        self.port: int | None = None
        self._pending: dict[str, tuple[StreamReply, Callable[[Outcome], None] | None, float | None, bool]] = {}
        self._sockets: dict[str, Callable[[dict, Callable, Callable], Awaitable[None]]] = {}
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task | None = None
        self._socket: socket.socket | None = None
        self._active = 0
        self._ending = asyncio.Event()

    @property
    def active(self) -> int:
        """Streams being written, and realtime sockets open, right now."""
        return self._active

    async def start(self) -> None:
        """Listen on a free loopback port, in the running event loop."""
        sock = self._socket = listening_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        protocol = type("_RelayProtocol", (_HeaderDeadline,), {"header_timeout": self.header_timeout})
        self._server, self._task = embedded_server(self.app, sock, protocol, **WEBSOCKETS)
        await started(self._server, self._task)

    def end_streams(self) -> None:
        """End the streams being written now, and any asked for from now on ("stopped"): the fake is stopping."""
        self._ending.set()

    async def stop(self) -> None:
        """Stop serving; streams still running are ended."""
        self.end_streams()
        await stopped(self._server, self._task)
        self._pending.clear()
        self._sockets.clear()

    def offer_socket(self, handler: Callable[[dict, Callable, Callable], Awaitable[None]]) -> str:
        """Keep `handler` (an ASGI websocket handler: `scope, receive, send`) for the WebSocket upgrade that
        brings the returned token. It gets the scope without the token header."""
        token = secrets.token_urlsafe(18)
        self._sockets[token] = handler
        return token

    def offer(self, reply: StreamReply, on_end: Callable[[Outcome], None] | None = None,
              due: float | None = None, drain: bool = False) -> str:
        """Keep `reply` for the request that brings the returned token; `on_end` hears how it ended.

        `drain`: read (and discard) the request's whole body before answering.

        `due` (on the event loop's clock) is when the reply was due, which the schedule counts
        from: the hop to the relay then takes nothing from the pace (`ttft` is from the reply's
        due moment, as `latency` is from the request's arrival). None: from when it is fetched."""
        token = secrets.token_urlsafe(18)
        self._pending[token] = (reply, on_end, due, drain)
        return token

    def withdraw(self, token: str) -> None:
        """Forget a stream (or socket) that will not be fetched (its flow failed first)."""
        self._pending.pop(token, None)
        self._sockets.pop(token, None)

    async def app(self, scope, receive, send) -> None:
        """The ASGI app: send the stream the token names, or run the socket it names."""
        if scope["type"] == "websocket":
            await self._socket_app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        token = dict(scope["headers"]).get(TOKEN_HEADER.encode(), b"").decode()
        offered = self._pending.pop(token, None)
        if offered is None:
            body = json.dumps({"error": {"message": "openai-fake relay: no stream for this request", "type": "invalid_request_error",
                                         "param": None, "code": None}}).encode()
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        reply, on_end, due, drain = offered
        if drain and not await drained(receive):
            _tell(on_end, Outcome("aborted", 0, 0))
            return
        self._active += 1
        try:
            await send_stream(reply, receive, send, on_end, due, ending=self._ending)
        finally:
            self._active -= 1  # after the record, so "no stream active" means "all recorded"

    async def _socket_app(self, scope, receive, send) -> None:
        name = TOKEN_HEADER.encode()
        token = dict(scope["headers"]).get(name, b"").decode()
        handler = self._sockets.pop(token, None)
        if handler is None:
            await send({"type": "websocket.close", "code": 1008})  # before accepting: a 403
            return
        self._active += 1
        try:
            await handler({**scope, "headers": [(k, v) for k, v in scope["headers"] if k != name]}, receive, send)
        finally:
            self._active -= 1


async def send_stream(reply: StreamReply, receive, send, on_end: Callable[[Outcome], None] | None = None,
                      due: float | None = None, ending: asyncio.Event | None = None) -> None:
    """Send `reply` as an ASGI response, its events on the schedule the pace gives (`streams.schedule`),
    counting from `due` (on the event loop's clock; None: now); `on_end` hears how it ended. A client that
    hangs up ends it ("aborted"); so does `ending` once set ("stopped": the fake is stopping, and records
    the stream's end before it says it stopped). A cut or a stop raises `_Cut` once `on_end` has heard it, for
    uvicorn to close the connection mid-body."""
    progress = {"chunks": 0, "events": 0}
    writer = asyncio.ensure_future(_write(reply, send, progress, due))
    hangup = asyncio.ensure_future(client_gone(receive))
    stop = asyncio.ensure_future(ending.wait()) if ending is not None else None
    try:
        done, _ = await asyncio.wait({writer, hangup} | ({stop} if stop else set()), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the server gave up waiting for the stream
        _tell(on_end, Outcome("stopped", progress["chunks"], progress["events"]))
        raise
    finally:
        hangup.cancel()
        if stop is not None:
            stop.cancel()
        if not writer.done():  # the client went away, or the server is stopping
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
    if writer in done and not writer.cancelled() and writer.exception() is None:
        how = writer.result()
    elif writer in done and not writer.cancelled():
        logger.error("openai-fake failed while streaming", exc_info=writer.exception())
        how = "aborted"
    else:
        how = "stopped" if stop in done and hangup not in done else "aborted"
    _tell(on_end, Outcome(how, progress["chunks"], progress["events"]))
    if how in ("cut", "stopped"):
        raise _Cut()  # uvicorn closes the connection mid-body


def _tell(on_end: Callable[[Outcome], None] | None, outcome: Outcome) -> None:
    if on_end is not None:
        try:
            on_end(outcome)
        except Exception:
            logger.exception("openai-fake: recording a stream's end failed")


async def _write(reply: StreamReply, send, progress: dict, due: float | None) -> str:
    headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    loop = asyncio.get_running_loop()
    due = min(due, loop.time()) if due is not None else loop.time()
    how = "completed"
    for wait, data, kind in schedule(reply):
        due += wait  # against the clock, so waits do not add up drift
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if kind == CUT:
            return "cut"
        await send({"type": "http.response.body", "body": data, "more_body": True})
        progress["events"] += 1
        if kind == CONTENT:
            progress["chunks"] += 1
        elif kind == ERROR:
            how = "error"
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return how


async def drained(receive) -> bool:
    """Read the request body to its end, keeping none of it; False when the client went away first."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        if message["type"] == "http.request" and not message.get("more_body", False):
            return True


async def client_gone(receive) -> None:
    """Return once the client has gone: uvicorn says `http.disconnect`."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
