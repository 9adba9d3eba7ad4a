"""Header and idle timeouts: a client connection that does not send a request in time is closed.

mitmproxy's own `tcp_timeout` closes a connection after so many seconds with no bytes
either way; it is the bound for tunnels and for replies in progress (a stream a
profile stalls on purpose), so it stays long (mitmproxy's 600 s). What it lacks is a
deadline for the request itself: 300 connections that say nothing held every file
descriptor under `ulimit -n 256` and locked every other client out. This addon adds it:

- `header_timeout`: from the moment a connection is made (or a CONNECT to an OpenAI host
  is answered) until its first request's headers have arrived;
- `idle_timeout`: from the end of a reply until the next request's headers on a kept-alive
  connection (what uvicorn calls `timeout_keep_alive`).

A connection with a request in flight is never closed by these, nor one that a WebSocket
upgrade made a socket (the Realtime API: until the socket ends). A tunnel that mitmproxy
passes through untouched (any host but OpenAI's) is left to `tcp_timeout` once its server
connection opens. One sweep a quarter second looks at the connections mitmproxy holds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from typing import TYPE_CHECKING

from .access import is_api_host

if TYPE_CHECKING:  # mitmproxy is imported by the master that adds this addon: a Runner that is never started
    # (the in-process path, `openai_fake.running(in_process=True)`) does not pay its ~0.5 s import
    from mitmproxy import connection, http
    from mitmproxy.proxy.server_hooks import ServerConnectionHookData

logger = logging.getLogger(__name__)

#: Seconds a new connection has to send its first request's headers (`run --header-timeout`).
HEADER_TIMEOUT = 10.0
#: Seconds a kept-alive connection may sit between requests (`run --idle-timeout`).
IDLE_TIMEOUT = 60.0


class Deadlines:
    """Closes client connections that miss their header or idle deadline."""

    def __init__(self, header_timeout: float = HEADER_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT,
                 sweep: float = 0.25) -> None:
        if header_timeout <= 0 or idle_timeout <= 0:
            raise ValueError("header_timeout and idle_timeout must be > 0 seconds")
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.sweep = sweep
        self._due: dict[str, float] = {}  # client id -> when it must have sent a request's headers
        self._busy: dict[str, int] = {}  # client id -> requests in flight
        self._task: asyncio.Task | None = None
        #: Connections closed for missing a deadline, since the start.
        self.closed = 0

    # -- hooks ------------------------------------------------------------------

    def running(self) -> None:
        self._task = asyncio.ensure_future(self._sweep())

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def client_connected(self, client: connection.Client) -> None:
        self._due[client.id] = time.monotonic() + self.header_timeout

    def client_disconnected(self, client: connection.Client) -> None:
        self._due.pop(client.id, None)
        self._busy.pop(client.id, None)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        # Intercepted or not is decided later (by the SNI too): the deadline holds until a request or a
        # passthrough tunnel's server connection.
        self._due[flow.client_conn.id] = time.monotonic() + self.header_timeout

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        cid = flow.client_conn.id
        self._busy[cid] = self._busy.get(cid, 0) + 1
        self._due.pop(cid, None)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:  # set before this hook when a WebSocket follows: still in flight
            self._ended(flow)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._ended(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._ended(flow)

    def server_connect(self, data: ServerConnectionHookData) -> None:
        # A server connection for a client with no request in flight is a tunnel passed through untouched.
        cid = data.client.id
        address = data.server.address
        if not self._busy.get(cid) and not (address and is_api_host(address[0])):
            self._due.pop(cid, None)

    def _ended(self, flow: http.HTTPFlow) -> None:
        cid = flow.client_conn.id
        left = self._busy.get(cid, 0) - 1
        if left > 0:
            self._busy[cid] = left
            return
        self._busy.pop(cid, None)
        if flow.client_conn.connected:
            self._due[cid] = time.monotonic() + self.idle_timeout

    # -- the sweep ----------------------------------------------------------------

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep)
            try:
                self.close_overdue(time.monotonic())
            except Exception:  # never let the sweep die; it would leave every deadline unenforced
                logger.exception("openai-fake: the connection deadline sweep failed")

    def close_overdue(self, now: float) -> int:
        """Close the connections whose deadline has passed; how many it closed."""
        if not any(due <= now for due in self._due.values()):
            return 0
        from mitmproxy import ctx

        proxyserver = ctx.master.addons.get("proxyserver")
        closed = 0
        for handler in list(proxyserver.connections.values()):
            cid = handler.client.id
            due = self._due.get(cid)
            if due is None or due > now or self._busy.get(cid):
                continue
            io = handler.transports.get(handler.client)
            if io is not None and io.handler is not None:
                io.handler.cancel("openai-fake: no request in time")
                closed += 1
            self._due.pop(cid, None)
        for cid in [c for c, due in self._due.items() if due <= now]:
            self._due.pop(cid, None)  # connections that are gone already
        self.closed += closed
        return closed
