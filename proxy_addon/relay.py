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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
from dataclasses import dataclass
from typing import Callable

import uvicorn

from .engine.streams import CONTENT, CUT, ERROR, StreamReply, schedule

TOKEN_HEADER = "x-openai-fake-relay"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How a stream ended: "completed", "error" (an error event was sent), "cut" (by the pace) or "aborted"
    (the client hung up). `chunks` counts the content deltas written."""

    how: str
    chunks: int
    events: int


class _Cut(Exception):
    """Raised to make uvicorn close the connection mid-body: the pace asked for a cut."""


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _Cut)


class _EmbeddedServer(uvicorn.Server):
    # The proxy owns the process's signals; uvicorn must not take them.
    def capture_signals(self):
        return contextlib.nullcontext()


class Relay:
    """Streams handed over with `offer()`, served on `127.0.0.1:port` once `start()` returns."""

    def __init__(self) -> None:
        self.port: int | None = None
        self._pending: dict[str, tuple[StreamReply, Callable[[Outcome], None] | None, float | None, bool]] = {}
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task | None = None
        self._socket: socket.socket | None = None
        self._active = 0

    @property
    def active(self) -> int:
        """Streams being written right now."""
        return self._active

    async def start(self) -> None:
        """Listen on a free loopback port, in the running event loop."""
        logging.getLogger("uvicorn.error").addFilter(_QuietCuts())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, interface="asgi3", lifespan="off", access_log=False, log_config=None, log_level="warning",
            http="h11", server_header=False, date_header=False, timeout_graceful_shutdown=1,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.002)
        if self._task.done():
            self._task.result()  # re-raise why it could not start

    async def stop(self) -> None:
        """Stop serving; streams still running are ended."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for slow streams to finish
            await asyncio.gather(self._task, return_exceptions=True)
        self._pending.clear()

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
        """Forget a stream that will not be fetched (its flow failed first)."""
        self._pending.pop(token, None)

    async def app(self, scope, receive, send) -> None:
        """The ASGI app: send the stream the token names."""
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
        if drain and not await _drained(receive):
            self._finish_quietly(on_end)
            return
        progress = {"chunks": 0, "events": 0}
        self._active += 1
        try:
            writer = asyncio.ensure_future(self._write(reply, send, progress, due))
            hangup = asyncio.ensure_future(_hangup(receive))
            try:
                await asyncio.wait({writer, hangup}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                hangup.cancel()
                if not writer.done():  # the client went away (or the server is stopping)
                    writer.cancel()
                    await asyncio.gather(writer, return_exceptions=True)
            self._finish(writer, on_end, progress)
        finally:
            self._active -= 1  # after the record, so "no stream active" means "all recorded"

    def _finish_quietly(self, on_end) -> None:
        if on_end is not None:
            try:
                on_end(Outcome("aborted", 0, 0))
            except Exception:
                logger.exception("openai-fake: recording a stream's end failed")

    def _finish(self, writer: asyncio.Future, on_end, progress: dict) -> None:
        if writer.cancelled():
            how = "aborted"
        elif writer.exception() is not None:
            logger.error("openai-fake relay failed while streaming", exc_info=writer.exception())
            how = "aborted"
        else:
            how = writer.result()
        if on_end is not None:
            try:
                on_end(Outcome(how, progress["chunks"], progress["events"]))
            except Exception:
                logger.exception("openai-fake: recording a stream's end failed")
        if how == "cut":
            raise _Cut()  # uvicorn closes the connection mid-body

    async def _write(self, reply: StreamReply, send, progress: dict, due: float | None) -> str:
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


async def _drained(receive) -> bool:
    """Read the request body to its end, keeping none of it; False when the client went away first."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        if message["type"] == "http.request" and not message.get("more_body", False):
            return True


async def _hangup(receive) -> None:
    """Return once the client has gone: uvicorn says `http.disconnect`."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
