"""Streamed replies: server-sent events, their pace and their faults.

A resource builds every event of a stream up front, after updating the state,
so what a client sees in a stream is what it can retrieve afterwards. It marks
the events that carry content (a text, refusal or arguments delta). `schedule`
then lays the profile's `Pace` over them: how long to wait before each event,
and where to stall, cut the connection or send an error event. A face (the
relay) only sleeps and writes. Nothing here touches a socket.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterator, NamedTuple

from .errors import OpenAIError
from .wire import Reply, to_json

__all__ = ["Pace", "Event", "StreamReply", "sse", "choice_stream", "schedule", "FRAME", "CONTENT", "ERROR", "CUT"]

_WORDS = re.compile(r"\s*\S+", re.UNICODE)


@dataclass(frozen=True)
class Pace:
    """How a stream is delivered. Every knob is optional; the default is as fast as possible.

    ttft: seconds from the reply's headers (when they are due: the request's
        arrival plus any latency) to the first content delta. Events that carry
        no content (`response.created`, a role chunk) go out at once.
    chunk_delay: seconds between one content delta and the next.
    chunk: how text and arguments are cut into deltas: "word" (the default,
        each with its leading space, as tokens come), "char", or N characters.
    cut_after: close the connection without finishing, after this many deltas.
    error_after: after this many deltas, send the format's own error event
        and end the stream.
    stall_after / stall: after this many deltas, pause for `stall` seconds.
    faulty: only the rule's first N calls get the faults above; later streams
        are whole, so an app that retries recovers. None (the default): every one.
    """

    ttft: float = 0.0
    chunk_delay: float = 0.0
    chunk: str | int = "word"
    cut_after: int | None = None
    error_after: int | None = None
    stall_after: int | None = None
    stall: float = 0.0
    faulty: int | None = None

    @classmethod
    def of(cls, value: "Pace | dict | None") -> "Pace":
        """A Pace from a profile's `stream=` value: a Pace, a dict of its knobs, or None."""
        if value is None:
            return cls()
        if isinstance(value, Pace):
            return value
        if not isinstance(value, dict):
            raise TypeError(f"stream= takes a dict such as {{'ttft': 0.3, 'chunk_delay': 0.05}}, not {type(value).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise TypeError(f"stream= got an unknown knob {unknown[0]!r}; it takes: {', '.join(f.name for f in fields(cls))}")
        for name in ("ttft", "chunk_delay", "stall"):
            v = value.get(name, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"stream {name} must be a number of seconds >= 0, not {v!r}")
        for name in ("cut_after", "error_after", "stall_after", "faulty"):
            v = value.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"stream {name} must be an integer >= 0, not {v!r}")
        chunk = value.get("chunk", "word")
        if chunk not in ("word", "char") and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
            raise ValueError(f"stream chunk must be 'word', 'char' or a number of characters >= 1, not {chunk!r}")
        if value.get("stall_after") is not None and not value.get("stall"):
            raise ValueError("stream stall_after needs stall=<seconds>")
        return cls(**{k: (float(v) if k in ("ttft", "chunk_delay", "stall") else v) for k, v in value.items()})

    def whole(self) -> "Pace":
        """This pace without its faults."""
        return Pace(self.ttft, self.chunk_delay, self.chunk)

    def split(self, text: str) -> list[str]:
        """`text` cut into deltas; joined, they give `text` back. Empty text gives no deltas."""
        if not text:
            return []
        if self.chunk == "char":
            return list(text)
        if self.chunk == "word":
            pieces = _WORDS.findall(text)
            rest = text[sum(map(len, pieces)):]  # trailing spaces ride with the last word
            if not pieces:
                return [rest]
            pieces[-1] += rest
            return pieces
        n = int(self.chunk)
        return [text[i:i + n] for i in range(0, len(text), n)]


class Event(NamedTuple):
    """One encoded server-sent event; `content` marks a delta the pace spaces out.

    `text` is the answer text it carries (a content, refusal or tool-arguments delta of the
    first choice) and `call` the name of a tool call it starts: the resource that builds the
    event says so, and the journal's summary reads them, never the encoded bytes.

    A named tuple, not a dataclass: a stream has dozens, and a tuple is made in a
    third of the time (bench/engine.py, the streamed response)."""

    data: bytes
    content: bool = False
    text: str | None = None
    call: str | None = None


def sse(data: Any, event: str | None = None) -> bytes:
    """A server-sent event: `event: <type>` when given, then `data: <json>`."""
    payload = data.encode() if isinstance(data, str) else to_json(data)
    if event:
        return b"event: %b\ndata: %b\n\n" % (event.encode(), payload)
    return b"data: %b\n\n" % payload


#: The end of a chat or completions stream.
DONE = b"data: [DONE]\n\n"

def choice_stream(per_choice: list[list[Event]], head: dict, usage: dict | None, include_usage: bool) -> list[Event]:
    """A chat or completions stream: each choice's events interleaved (as the real API
    interleaves `n > 1` choices), a usage chunk with `choices: []` when asked for, then `[DONE]`."""
    out = [e for step in itertools.zip_longest(*per_choice) for e in step if e is not None]
    if include_usage:
        out.append(Event(sse({**head, "choices": [], "usage": usage})))
    out.append(Event(DONE))
    return out


#: What `schedule` says each step is.
FRAME, CONTENT, ERROR, CUT = "frame", "content", "error", "cut"


@dataclass
class StreamReply(Reply):
    """A 200 reply whose body is `events`, sent over time by a face that can stream.

    `error_event(error, sequence)` encodes an error the way this stream format
    does; `sequence` is the next sequence number, for formats that number events.
    `waits`, when given, are the seconds before each event (a recorded stream replayed at its
    own pace, `proxy_addon/cassettes`): they replace the pace's.
    """

    events: list[Event] = field(default_factory=list)
    pace: Pace = field(default_factory=Pace)
    error_event: Callable[[OpenAIError, int], bytes] | None = None
    waits: list[float] | None = None

    @property
    def content_chunks(self) -> int:
        return sum(1 for e in self.events if e.content)


def schedule(reply: StreamReply) -> Iterator[tuple[float, bytes, str]]:
    """(seconds to wait, bytes to write, kind) for each step of the stream.

    kind is FRAME, CONTENT, ERROR (the format's error event; the stream ends
    after it) or CUT (no bytes: close the connection now).
    """
    if reply.waits is not None:  # a recorded stream: its own waits, no faults
        for wait, event in zip(reply.waits, reply.events, strict=True):
            yield wait, event.data, CONTENT if event.content else FRAME
        return
    pace = reply.pace
    total = reply.content_chunks
    sent = 0  # content deltas sent so far
    first = True  # the first delta (or the first event, in a stream without content) waits `ttft`
    stalled = pace.stall_after is None
    for index, event in enumerate(reply.events):
        paced = event.content or (total == 0 and index == 0)
        wait = 0.0
        if paced:
            if sent == pace.cut_after:
                yield 0.0, b"", CUT
                return
            if sent == pace.error_after:
                yield 0.0, _error(reply, sent, index), ERROR
                return
            wait = pace.ttft if first else pace.chunk_delay
            first = False
        if not stalled and sent == pace.stall_after and (paced or sent == total):
            wait += pace.stall
            stalled = True
        yield wait, event.data, CONTENT if event.content else FRAME
        if event.content:
            sent += 1
    # Faults asked for after more deltas than the stream has happen at its end.
    if pace.cut_after is not None and pace.cut_after >= sent:
        yield 0.0, b"", CUT
    elif pace.error_after is not None and pace.error_after >= sent:
        yield 0.0, _error(reply, sent, len(reply.events)), ERROR


def _error(reply: StreamReply, sent: int, index: int) -> bytes:
    err = OpenAIError(500, f"openai-fake: simulated stream error after {sent} chunk{'s' if sent != 1 else ''}",
                      type="server_error")
    if reply.error_event is not None:
        return reply.error_event(err, index)
    return sse(err.payload())
