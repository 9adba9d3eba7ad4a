"""Replay: a recording answers requests (`Cassette.answer`), in recorded order, or says why it can't.

    cassette = Cassette.load("cassettes/test_chat")
    found = cassette.answer(request)          # a Recorded, or a Miss
    if isinstance(found, Miss):
        return found.error().reply()          # the 404 naming the nearest recorded request
    for wait, data in found.paced(speed=1.0): # a stream at its recorded pace
        ...
"""

from __future__ import annotations

import base64
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

from ..codec import to_json
from ..engine.errors import OpenAIError
from ..engine.streams import Event, StreamReply
from ..engine.wire import Reply, Request
from . import store
from .matching import Difference, Matching, differences, document, endpoint_of, key_of

__all__ = ["Cassette", "Recorded", "Miss", "Chunk", "paced", "stream_reply", "MISS_CODE"]

#: The `code` of the error a request nobody recorded gets.
MISS_CODE = "recording_miss"


class Chunk(NamedTuple):
    """One piece of a recorded stream: seconds since the response began, and its bytes."""

    at: float
    data: bytes


def paced(chunks: Iterable[Chunk | tuple[float, bytes]], speed: float = 1.0) -> list[tuple[float, bytes]]:
    """(seconds to wait, bytes) for each chunk: the recorded gaps divided by `speed` (1.0 the recorded
    pace, 2.0 twice as fast; 0 or infinity: no waits). The first wait is from the response's start."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed < 0 or math.isnan(speed):
        raise ValueError(f"speed must be a number >= 0 (1.0: the recorded pace; 0 or inf: at once), not {speed!r}")
    out, previous = [], 0.0
    for at, data in chunks:
        gap = max(0.0, at - previous)  # a clock that went back never waits a negative time
        previous = max(previous, at)
        out.append((0.0 if speed == 0 or math.isinf(speed) else gap / speed, data))
    return out


def stream_reply(status: int, headers: dict[str, str], chunks: Iterable[Chunk | tuple[float, bytes]],
                 speed: float = 1.0) -> StreamReply:
    """The engine's `StreamReply` of recorded chunks, which every face sends at their recorded pace
    divided by `speed` (`StreamReply.waits`), one event per chunk."""
    steps = paced(chunks, speed)
    headers = dict(headers)
    headers.setdefault("content-type", "text/event-stream; charset=utf-8")
    return StreamReply(status, b"", headers, events=[Event(data, content=True) for _, data in steps],
                       waits=[wait for wait, _ in steps])


@dataclass
class Recorded:
    """A recorded answer: status, headers, and a whole body or a stream's chunks (or a Realtime event log)."""

    exchange: store.Exchange

    @property
    def name(self) -> str:
        """The exchange's file name."""
        return self.exchange.name

    @property
    def status(self) -> int:
        return self.exchange.response["status"] if self.exchange.response else 101

    @property
    def headers(self) -> dict[str, str]:
        return dict((self.exchange.response or {}).get("headers") or {})

    @property
    def latency(self) -> float:
        """Seconds the API took to send the response's headers (0 when not recorded)."""
        return float((self.exchange.response or {}).get("latency") or 0.0)

    @property
    def is_stream(self) -> bool:
        return "chunks" in (self.exchange.response or {})

    @property
    def events(self) -> list[dict] | None:
        """A Realtime session's log, `{"at", "direction", "event"}` each; None for an HTTP exchange."""
        return self.exchange.events

    @property
    def chunks(self) -> list[Chunk]:
        """A stream's chunks, as recorded (empty for a whole body)."""
        out = []
        for c in (self.exchange.response or {}).get("chunks") or []:
            data = c["data"].encode() if "data" in c else base64.b64decode(c["base64"])
            out.append(Chunk(float(c["at"]), data))
        return out

    def paced(self, speed: float = 1.0) -> list[tuple[float, bytes]]:
        """The stream's chunks with their waits (see `paced`)."""
        return paced(self.chunks, speed)

    def stream_reply(self, speed: float = 1.0) -> StreamReply:
        """The stream as the engine's `StreamReply`, at its recorded pace divided by `speed`."""
        return stream_reply(self.status, self.headers, self.chunks, speed)

    def body(self) -> bytes:
        """The whole body: JSON re-encoded, text, a side file read now, or a stream's chunks joined."""
        response = self.exchange.response or {}
        if "json" in response:
            return to_json(response["json"])
        if "text" in response:
            return response["text"].encode()
        if "raw" in response:
            return self.exchange.side("response")
        return b"".join(c.data for c in self.chunks)

    def reply(self) -> Reply:
        """The engine's `Reply` for a whole answer (a stream's chunks joined, which is what a client that
        reads it whole gets)."""
        response = self.exchange.response or {}
        if "json" in response:
            return Reply.json(self.status, response["json"], self.headers)
        return Reply(self.status, self.body(), self.headers)


@dataclass
class Miss:
    """No recorded answer for a request: the nearest recorded one (None in an empty recording) and what differs."""

    method: str
    path: str
    where: str
    nearest: store.Exchange | None = None
    differences: list[Difference] = field(default_factory=list)
    #: How many fields differ in all (the `differences` are the first few).
    count: int = 0

    @property
    def message(self) -> str:
        head = f"openai-fake: nothing recorded in {self.where} answers {self.method} {self.path}"
        if self.nearest is None:
            return f"{head}: the recording is empty."
        near = self.nearest.request
        more = f" (and {self.count - len(self.differences)} more)" if self.count > len(self.differences) else ""
        return (f"{head}. Nearest: {self.nearest.name} ({near['method']} {near['path']}), which differs at "
                + "; ".join(str(d) for d in self.differences) + more + ".")

    def error(self) -> OpenAIError:
        """The 404 the fake answers for it (`code` "recording_miss", `param` the first field that differs)."""
        param = self.differences[0].path if self.differences else None
        return OpenAIError(404, self.message, type="invalid_request_error", param=param, code=MISS_CODE,
                           headers={"x-should-retry": "false"})


class _Slot:
    """The answers recorded for one match document, in order, and how many were given."""

    __slots__ = ("exchanges", "given")

    def __init__(self) -> None:
        self.exchanges: list[store.Exchange] = []
        self.given = 0


class Cassette:
    """A recording, read, answering requests.

    Several answers recorded for the same request are given in recorded order (a multi-turn session,
    a retried call), then the last one again and again. Thread-safe.
    """

    def __init__(self, directory: Path | str, contents: store.Contents, matching: Matching | None = None) -> None:
        self.directory = Path(directory)
        self.matching = matching or Matching()
        self.exchanges = contents.exchanges
        #: Files `load` skipped: temp files of unfinished writes and orphan side files.
        self.leftovers = contents.leftovers
        #: Files named like exchanges it could not read, with the reason.
        self.unreadable = contents.unreadable
        self._lock = threading.Lock()
        self._slots: dict[bytes, _Slot] = {}
        self._docs: list[tuple[store.Exchange, dict]] = []
        for exchange in self.exchanges:
            doc = document(exchange.request, self.matching, exchange.route)
            self._docs.append((exchange, doc))
            self._slots.setdefault(key_of(doc), _Slot()).exchanges.append(exchange)

    @classmethod
    def load(cls, directory: Path | str, matching: Matching | None = None) -> "Cassette":
        """Read a recording (see `store.read`: side files are read only when an answer needs them)."""
        return cls(directory, store.read(directory), matching)

    def answer(self, request: Request) -> "Recorded | Miss":
        """The next recorded answer to `request`, or a `Miss` naming the nearest recorded request."""
        described, _ = store.describe_request(request)
        endpoint = endpoint_of(request.method, request.path, request.host, request.query)
        doc = document(described, self.matching, endpoint)
        with self._lock:
            slot = self._slots.get(key_of(doc))
            if slot is not None:
                exchange = slot.exchanges[min(slot.given, len(slot.exchanges) - 1)]
                slot.given += 1
                return Recorded(exchange)
        return self._miss(described["method"], described["path"], doc, endpoint)

    def rewind(self) -> None:
        """Start every request's answers from the first again."""
        with self._lock:
            for slot in self._slots.values():
                slot.given = 0

    def _miss(self, method: str, path: str, doc: dict, endpoint: str | None) -> Miss:
        best = None
        for order, (exchange, recorded) in enumerate(self._docs):
            # the same method and path first, then the same endpoint (another id), then the same method
            closeness = (0 if (recorded["method"], recorded["path"]) == (doc["method"], doc["path"]) else
                         1 if exchange.route is not None and exchange.route == endpoint else
                         2 if recorded["method"] == doc["method"] else 3)
            if best is not None and closeness > best[0][0]:
                continue
            count, diffs = differences(recorded, doc)
            rank = (closeness, count, order)
            if best is None or rank < best[0]:
                best = (rank, exchange, diffs, count)
        if best is None:
            return Miss(method, path, str(self.directory))
        _, exchange, diffs, count = best
        return Miss(method, path, str(self.directory), exchange, diffs, count)
