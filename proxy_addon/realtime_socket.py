"""The Realtime API's WebSocket, as an ASGI websocket handler any ASGI server face can call.

    await serve(scope, receive, send, engine=engine, journal=journal, face=PROXY)

The stream relay calls it for the upgrades the mitmproxy addon points at it (the proxy face for
`wss://api.openai.com/v1/realtime`, and the base-URL face's `ws://127.0.0.1:PORT/v1/realtime`); any
other ASGI face can call it for a `websocket` scope. It asks the engine about the handshake
(`GET /v1/realtime`: the key, the profile's failures and latency, the `model` query parameter), refuses
it with the API's HTTP error when the engine says so, and otherwise accepts, sends `session.created` and
runs an `engine.realtime.Session` (or, when a replay matched the handshake, the recorded session:
`realtime_replay.ReplayedSession`): each client event's answer is sent at the profile's pace, in order,
while the client may go on sending. The connection is one journal entry: a "stream" record when it
opens (so `tail` shows it live) and the call when it closes, with what the model said.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from . import access
from .codec import to_json
from .engine import Engine, Request
from .engine.realtime import CANCEL, PATH, ROUTE, Session, Step
from .engine.streams import CONTENT, CUT, ERROR, StreamReply
from .faces import PROXY, answer, answered, entry_fields, headers_of, stream_ended, stream_started
from .journal import Journal
from .realtime_replay import ReplayedSession, SessionReply

__all__ = ["serve", "refuse"]

logger = logging.getLogger(__name__)

#: The close code for a connection the pace cuts (`cut_after`): the server went wrong.
CUT_CODE = 1011


async def serve(scope: dict, receive, send, *, engine: Engine, journal: Journal, face: str) -> None:
    """Serve one realtime WebSocket connection (an ASGI `websocket` scope) until the client closes it.

    `face` is the journal's name for the face it came through (`faces.PROXY`, `faces.BASE_URL`). The
    scope's `Host` header names the host the client asked for; its path must be `/v1/realtime`.
    Never raises for anything the client does."""
    started = time.time()
    headers = headers_of(scope["headers"])
    target = scope.get("path", PATH) + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
    host, port = access.authority(headers.get("host"), default_port=None)
    host = host or "api.openai.com"
    secure = face == PROXY or scope.get("scheme") == "wss"
    if (await receive())["type"] != "websocket.connect":
        return
    reply, _, _ = answer(engine, method="GET", target=target, headers=headers, body=b"", host=host,
                         scheme="https" if secure else "http", port=port)
    if reply.delay > 0:
        await asyncio.sleep(reply.delay - (time.time() - started))
    model = (reply.payload or {}).get("model") if reply.status == 200 else None

    def fields(session: Session | ReplayedSession | None) -> dict:
        summary = {"model": model, "input": session.items if session is not None else []}
        return entry_fields(method="GET", host=host, target=target, headers=headers, reply=reply, body=to_json(summary),
                            request=Request("GET", PATH, headers, to_json(summary), route=ROUTE), face=face)

    if reply.status != 200:
        await refuse(scope, send, reply)
        journal.record(answered(reply, started, fields(None)))
        return
    # A recording's session (`Replay.answer` matched the handshake: `realtime_replay`), else the engine's.
    session = reply.session if isinstance(reply, SessionReply) else Session(engine, model, engine.state.call_count(ROUTE))
    await send({"type": "websocket.accept",
                "headers": [(b"x-request-id", reply.headers["x-request-id"].encode()),
                            (b"openai-version", b"2020-10-01")]})
    record = StreamReply(200, b"", reply.headers, events=session.said)
    journal.record(stream_started(record, started, fields(session)))
    how, progress = await _converse(session, receive, send)
    journal.record(stream_ended(record, started, fields(session), how, progress.chunks))


async def _converse(session: Session | ReplayedSession, receive, send) -> tuple[str, "_Progress"]:
    """Run an accepted connection until it ends: `session.created`, then each client event's answer, sent in
    turn by a sender task while the client goes on sending. How it ended ("completed", "error": the pace
    failed a response, "cut": by the pace, "aborted": the client left mid-answer), and what was sent."""
    progress = _Progress()
    outbox: asyncio.Queue[list[Step]] = asyncio.Queue()
    outbox.put_nowait(session.opened())
    sender = asyncio.ensure_future(_send_all(outbox, send, progress, session))
    how = "completed"
    try:
        while True:
            reader = asyncio.ensure_future(receive())
            await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():  # the sender stopped: the pace cut the connection, or sending failed
                reader.cancel()
                how = "cut" if progress.cut else "aborted"
                break
            message = reader.result()
            if message["type"] == "websocket.disconnect":  # the client closed, or answered the pace's cut
                how = "cut" if progress.cut else "aborted" if progress.busy or not outbox.empty() else "completed"
                break
            if message["type"] == "websocket.receive":
                raw = message.get("text")
                steps = session.receive(raw if raw is not None else message.get("bytes") or b"")
                if steps and steps[0].kind == CANCEL:  # the sender drops what is left of that response, now
                    progress.cancelled.add(steps[0].response)
                    progress.wake.set()
                outbox.put_nowait(steps)
    except Exception:  # the server is stopping, or a bug here: the call is still recorded
        logger.exception("openai-fake: the realtime connection failed")
        how = "aborted"
    finally:
        if not sender.done():
            sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    if how == "completed" and progress.errors:
        how = "error"
    return how, progress


class _Progress:
    """What the sender has done: content deltas sent, error events the pace sent, whether it is mid-batch, and
    whether it cut the connection; and the responses the client cancelled, with `wake` to end a wait for one."""

    def __init__(self) -> None:
        self.chunks = 0
        self.errors = 0
        self.busy = False
        self.cut = False
        self.cancelled: set[str] = set()
        self.wake = asyncio.Event()


async def _send_all(outbox: asyncio.Queue, send, progress: _Progress, session: Session | ReplayedSession) -> None:
    """Send each batch of steps in turn, each step `wait` seconds after the one before (against the clock, so
    waits do not add up drift), skipping those of a cancelled response; tell the session when a response's
    steps are all sent. Return at a cut, after closing the connection."""
    loop = asyncio.get_running_loop()
    while True:
        steps = await outbox.get()
        progress.busy = True
        due = loop.time()
        for step in steps:
            if step.kind != CANCEL and step.response in progress.cancelled:
                continue
            due += step.wait
            while (delay := due - loop.time()) > 0 and step.response not in progress.cancelled:
                progress.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(progress.wake.wait(), delay)
            if step.kind != CANCEL and step.response in progress.cancelled:
                continue
            if step.kind == CUT:
                progress.cut = True
                await send({"type": "websocket.close", "code": CUT_CODE, "reason": "openai-fake: cut by the profile's pace"})
                return
            await send({"type": "websocket.send", "text": step.data.decode()})
            if step.kind == CONTENT:
                progress.chunks += 1
            elif step.kind == ERROR:  # the last step of its response (`streams.schedule`)
                progress.errors += 1
        for response_id in {step.response for step in steps if step.response}:
            session.finished(response_id)
        progress.busy = False


async def refuse(scope: dict, send, reply) -> None:
    """Refuse the handshake with the engine's HTTP error (the API's status and body), where the server can
    send one (ASGI's `websocket.http.response` extension); else a bare 403, as closing before accepting gives."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.http.response.start", "status": reply.status,
                "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()]})
    await send({"type": "websocket.http.response.body", "body": reply.body})
