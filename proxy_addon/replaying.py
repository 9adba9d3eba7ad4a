"""Replay mode: the fake answers from a recording before its own routes (issue 18; docs/guide/record-replay.md).

    replay = Replay.load("cassettes/test_chat", on_miss="error", speed=1.0)   # ReplayError: no recording there
    engine.replay = replay          # `Runner(replay=...)`, `run --replay DIR`, `@pytest.mark.openai_fake(replay=...)`

The engine asks `replay.answer(request)` first (`Engine.handle`), so every face (the proxy, the base-URL
face, the in-process transport) replays alike. A hit is the recorded answer: a whole body after the recorded
latency, or a stream at its recorded pace, both divided by `speed`. A miss is the 404 naming the nearest
recorded request (`on_miss="error"`, the default: a test must never pass on an answer nobody recorded), or the
profile's answer (`on_miss="profile"`). A recorded Realtime session answers its handshake with a
`SessionReply`, and the socket replays its event log (`realtime_replay`). Replayed calls are journaled with the
rule `replay` (the profile's answers to misses, with the route's own rule). `Engine.reset` (`POST /_fake/reset`)
rewinds it.
"""

from __future__ import annotations

import logging
import math
import secrets
from pathlib import Path

from .cassettes import Cassette, Matching, Miss, store
from .engine.errors import OpenAIError
from .engine.wire import Reply, Request
from .realtime_replay import SessionReply

logger = logging.getLogger(__name__)

__all__ = ["Replay", "ReplayError", "ON_MISS", "REPLAY_RULE"]

#: What a miss can do: answer the recording's 404, or fall through to the profile.
#: ("record", forwarding a miss to the real API, needs the recorder and is not offered yet.)
ON_MISS = ("error", "profile")
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
    on_miss: "error" (the 404 naming the nearest recorded request) or "profile" (the profile answers).
    speed: recorded waits (latency, gaps between stream chunks) are divided by it; 0 or inf: no waits.
    """

    def __init__(self, cassette: Cassette, on_miss: str = "error", speed: float = 1.0) -> None:
        if on_miss not in ON_MISS:
            raise ReplayError(f"on_miss must be one of {', '.join(ON_MISS)}, not {on_miss!r}")
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or math.isnan(speed) or speed < 0:
            raise ReplayError(f"speed must be a number >= 0 (1: as recorded, 2: twice as fast, 0: at once), not {speed!r}")
        self.cassette = cassette
        self.on_miss = on_miss
        self.speed = float(speed)

    @classmethod
    def load(cls, directory: Path | str, matching: Matching | None = None, on_miss: str = "error",
             speed: float = 1.0) -> "Replay":
        """Read the recording in `directory`. Raises `ReplayError` when it is not a directory or holds no
        exchange (a mistyped path must not replay nothing and miss every call)."""
        directory = Path(directory).expanduser()
        cassette = Cassette(directory, read(directory), matching)
        return cls(cassette, on_miss, speed)

    @property
    def directory(self) -> Path:
        return self.cassette.directory

    def describe(self) -> str:
        """One line for `run`'s panel: where from, how many exchanges, the speed and what a miss does."""
        n = len(self.cassette.exchanges)
        pace = "at once" if self.speed == 0 or math.isinf(self.speed) else \
            "at the recorded pace" if self.speed == 1 else f"{self.speed:g}x the recorded pace"
        return (f"{self.directory} ({n} exchange{'s' if n != 1 else ''}, {pace}; "
                f"a miss {'is a 404' if self.on_miss == 'error' else 'goes to the profile'})")

    def answer(self, request: Request) -> Reply | None:
        """The recorded reply to `request`, the miss's 404, or None for the profile to answer (a miss with
        `on_miss="profile"`). Never raises: a failure is a logged 500."""
        try:
            found = self.cassette.answer(request)
        except Exception as e:  # the library's bug, not the client's: say so, keep serving
            logger.exception("openai-fake could not look %s %s up in %s", request.method, request.path, self.directory)
            return OpenAIError(500, f"openai-fake internal error replaying {self.directory}: {type(e).__name__}: {e}",
                               type="server_error", headers={"x-should-retry": "false"}).reply()
        if isinstance(found, Miss):
            if self.on_miss == "profile":
                return None
            reply = found.error().reply()
        elif found.events is not None:  # a Realtime session's event log: the socket replays it (`realtime_replay`)
            reply = SessionReply.of(found.events, request, self.speed, f"{found.name} in {self.directory}")
        else:
            reply = found.stream_reply(self.speed) if found.is_stream else found.reply()
            reply.delay = 0.0 if self.speed == 0 or math.isinf(self.speed) else found.latency / self.speed
        reply.headers.setdefault("x-request-id", "req_" + secrets.token_hex(16))
        reply.rule = REPLAY_RULE
        return reply

    def rewind(self) -> None:
        """Start the recording's answers from the first again (each request's in-order replay restarts)."""
        self.cassette.rewind()

