"""Replay mode: the fake answers from a recording before its own routes (issue 18; docs/guide/record-replay.md).

    replay = Replay.load("cassettes/test_chat", on_miss="error", speed=1.0)   # ReplayError: no recording there
    engine.replay = replay          # `Runner(replay=...)`, `run --replay DIR`, `@pytest.mark.openai_fake(replay=...)`

The engine asks `replay.answer(request)` first (`Engine.handle`), so every face (the proxy, the base-URL
face, the in-process transport) replays alike. A hit is the recorded answer: a whole body after the recorded
latency, or a stream at its recorded pace, both divided by `speed`. A miss is the 404 naming the nearest
recorded request (`on_miss="error"`, the default: a test must never pass on an answer nobody recorded), the
profile's answer (`on_miss="profile"`), or the real API's, forwarded and added to the recording
(`on_miss="record"`: the reply says `forward`, which a face in record mode honours; `Runner(replay=...)` sets
that up). Replayed calls are journaled with the rule `replay` (the profile's answers to misses, with the
route's own rule; forwarded ones, as record mode journals them). A recorded Realtime session answers its
handshake with a `SessionReply`, and the socket replays its event log (`realtime_replay`). `Engine.reset`
(`POST /_fake/reset`) rewinds it.
"""

from __future__ import annotations

import logging
import math
import secrets
from pathlib import Path

from .cassettes import Cassette, Matching, Miss, store
from .cassettes.ids import IdMap, minted_ids
from .engine.errors import OpenAIError
from .engine.streams import StreamReply
from .engine.wire import Reply, Request
from .realtime_replay import SessionReply

logger = logging.getLogger(__name__)

__all__ = ["Replay", "ReplayError", "ON_MISS", "IDS", "REPLAY_RULE"]

#: What a miss can do: answer the recording's 404, fall through to the profile, or be forwarded upstream and recorded.
ON_MISS = ("error", "profile", "record")
#: How a replay answers the ids its recording's answers minted: fresh ones mapped back, or as recorded.
IDS = ("fresh", "recorded")
#: The journal's `rule` for a call the recording answered (or refused, on a miss).
REPLAY_RULE = "replay"


def read(directory: Path) -> store.Contents:
    """The recording in `directory`, read once. Raises `ReplayError` when it is not a directory or holds no
    exchange (a mistyped path must not replay nothing and miss every call)."""
    if not directory.is_dir():
        raise ReplayError(f"no recording at {directory}: "
                          + ("not a directory" if directory.exists() else "no such directory"))
    contents = store.read(directory)
    if not contents.exchanges:
        unreadable = f" ({len(contents.unreadable)} unreadable: {contents.unreadable[0][0].name}, " \
                     f"{contents.unreadable[0][1]})" if contents.unreadable else ""
        raise ReplayError(f"no recording at {directory}: it holds no recorded exchange{unreadable}")
    return contents


class ReplayError(ValueError):
    """A replay that cannot start: no directory, no recording in it, a bad `on_miss` or `speed`."""


class Replay:
    """A recording answering requests ahead of the profile. Thread-safe (the cassette holds the order).

    cassette: the recording (`Cassette.load(dir, matching)`).
    on_miss: "error" (the 404 naming the nearest recorded request), "profile" (the profile answers) or "record"
        (forwarded to the upstream and recorded into the same directory, by a fake in record mode; the next run
        replays it).
    speed: recorded waits (latency, gaps between stream chunks) are divided by it; 0 or inf: no waits.
    ids: "fresh" (the default, but with `on_miss="record"`): each id the recording's answers minted is answered
        as a fresh one of its shape, and mapped back when a request brings it (`cassettes.ids`); "recorded":
        answered as recorded (what `on_miss="record"` needs: a miss forwarded upstream carries the API's own ids).
    """

    def __init__(self, cassette: Cassette, on_miss: str = "error", speed: float = 1.0, ids: str | None = None) -> None:
        if on_miss not in ON_MISS:
            raise ReplayError(f"on_miss must be one of {', '.join(ON_MISS)}, not {on_miss!r}")
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or math.isnan(speed) or speed < 0:
            raise ReplayError(f"speed must be a number >= 0 (1: as recorded, 2: twice as fast, 0: at once), not {speed!r}")
        ids = ids if ids is not None else "recorded" if on_miss == "record" else "fresh"
        if ids not in IDS:
            raise ReplayError(f"ids must be one of {', '.join(IDS)}, not {ids!r}")
        if ids == "fresh" and on_miss == "record":
            raise ReplayError("ids='fresh' with on_miss='record': a miss forwarded upstream must carry the API's own "
                              "ids; give ids='recorded'")
        self.cassette = cassette
        self.on_miss = on_miss
        self.speed = float(speed)
        self.ids = ids
        #: The fresh ids answered for the recorded ones (None: ids as recorded).
        self.id_map = IdMap(minted_ids(cassette.exchanges)) if ids == "fresh" else None

    @classmethod
    def load(cls, directory: Path | str, matching: Matching | None = None, on_miss: str = "error",
             speed: float = 1.0, ids: str | None = None) -> "Replay":
        """Read the recording in `directory`. Raises `ReplayError` when it is not a directory or holds no
        exchange (a mistyped path must not replay nothing and miss every call), unless `on_miss="record"`,
        which starts a recording there."""
        directory = Path(directory).expanduser()
        if on_miss == "record" and (not directory.exists() or directory.is_dir() and not any(directory.glob("*.json"))):
            contents = store.Contents()  # every call a miss, recorded
        else:
            contents = read(directory)
        cassette = Cassette(directory, contents, matching)
        return cls(cassette, on_miss, speed, ids)

    @property
    def directory(self) -> Path:
        return self.cassette.directory

    def describe(self) -> str:
        """One line for `run`'s panel: where from, how many exchanges, the speed and what a miss does."""
        n = len(self.cassette.exchanges)
        pace = "at once" if self.speed == 0 or math.isinf(self.speed) else \
            "at the recorded pace" if self.speed == 1 else f"{self.speed:g}x the recorded pace"
        miss = {"error": "is a 404", "profile": "goes to the profile", "record": "is forwarded and recorded"}[self.on_miss]
        return f"{self.directory} ({n} exchange{'s' if n != 1 else ''}, {pace}; a miss {miss})"

    def answer(self, request: Request) -> Reply | None:
        """The recorded reply to `request`, the miss's 404 (marked `forward` with `on_miss="record"`), or None for
        the profile to answer (a miss with `on_miss="profile"`). Never raises: a failure is a logged 500."""
        id_map = self.id_map
        try:
            found = self.cassette.answer(_recorded_ids(request, id_map) if id_map is not None and id_map.answered
                                         else request)
        except Exception as e:  # the library's bug, not the client's: say so, keep serving
            logger.exception("openai-fake could not look %s %s up in %s", request.method, request.path, self.directory)
            return OpenAIError(500, f"openai-fake internal error replaying {self.directory}: {type(e).__name__}: {e}",
                               type="server_error", headers={"x-should-retry": "false"}).reply()
        if isinstance(found, Miss):
            if self.on_miss == "profile":
                return None
            reply = found.error().reply()
            reply.forward = self.on_miss == "record"
        elif found.events is not None:  # a Realtime session's event log: the socket replays it (`realtime_replay`)
            reply = SessionReply.of(found.events, request, self.speed, f"{found.name} in {self.directory}")
        else:
            reply = found.stream_reply(self.speed) if found.is_stream else found.reply()
            if id_map is not None:
                reply = _fresh_ids(reply, id_map)
            reply.delay = 0.0 if self.speed == 0 or math.isinf(self.speed) else found.latency / self.speed
        reply.headers.setdefault("x-request-id", "req_" + secrets.token_hex(16))
        reply.rule = REPLAY_RULE
        return reply

    def rewind(self) -> None:
        """Start the recording's answers from the first again (each request's in-order replay restarts), with
        fresh ids anew."""
        self.cassette.rewind()
        if self.id_map is not None:
            self.id_map.forget()


def _textual(headers) -> bool:
    media = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    return media in ("", "application/json", "application/x-www-form-urlencoded") or media.endswith("+json") \
        or media.startswith("text/")


def _recorded_ids(request: Request, id_map: IdMap) -> Request:
    """`request` as the recording knows it: the fresh ids it brings back as the recorded ones (its path, query
    and a JSON, form or text body; not an upload's)."""
    return Request(request.method, id_map.incoming_text(request.path), request.headers,
                   id_map.incoming(request.body) if request.body and _textual(request.headers) else request.body,
                   {k: id_map.incoming_text(v) for k, v in request.query.items()}, request.host, request.scheme,
                   request.port)


def _fresh_ids(reply: Reply, id_map: IdMap) -> Reply:
    """A recorded reply with the ids it minted as this replay's fresh ones (a JSON or text body, a stream's events)."""
    if isinstance(reply, StreamReply):
        reply.events = [event._replace(data=id_map.outgoing(event.data)) for event in reply.events]
        return reply
    if not reply.body or not _textual(reply.headers):
        return reply
    return Reply(reply.status, id_map.outgoing(reply.body), reply.headers)

