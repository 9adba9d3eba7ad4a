"""A short text conversation over the real openai SDK's `client.realtime.connect(model=...)`, timed: what record
mode records and replay answers again (tests/test_record.py, tests/test_replay.py)."""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from typing import Iterator

import openai

MODEL = "gpt-realtime"
TEXT_ONLY = {"type": "realtime", "output_modalities": ["text"]}
#: The client events `text_session` sends, in order.
CLIENT_EVENTS = ["session.update", "conversation.item.create", "response.create"]


class Talk:
    """A connection's server events as they came, when each came and when each client event was sent (seconds
    since the socket opened)."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.opened = time.monotonic()
        self.events: list[dict] = []
        self.arrivals: list[float] = []
        self.sent: dict[str, float] = {}

    def read(self, count: int = 1, until: str | None = None) -> list[dict]:
        """The next `count` server events, or those up to and including the first of type `until`."""
        start = len(self.events)
        while count > 0 or (until and self.events[-1]["type"] != until):
            self.events.append(json.loads(self.conn.recv_bytes()))
            self.arrivals.append(time.monotonic() - self.opened)
            count -= 1
        return self.events[start:]

    def mark(self, kind: str) -> None:
        self.sent[kind] = time.monotonic() - self.opened

    def deltas(self) -> list[tuple[str, float]]:
        """The text deltas, and when each came."""
        return [(e["delta"], at) for e, at in zip(self.events, self.arrivals) if e["type"] == "response.output_text.delta"]


@contextlib.contextmanager
def text_session(client: openai.OpenAI, text: str = "Hi") -> Iterator[Talk]:
    """session.update, conversation.item.create, response.create, each read to its answer's end (the last to
    `response.done`); the connection still open in the `with`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # openai's sync realtime connect on websockets 16
        with client.realtime.connect(model=MODEL) as conn:
            talk = Talk(conn)
            talk.read()  # session.created
            talk.mark("session.update")
            conn.session.update(session=TEXT_ONLY)
            talk.read()
            talk.mark("conversation.item.create")
            conn.conversation.item.create(item={"type": "message", "role": "user",
                                                "content": [{"type": "input_text", "text": text}]})
            talk.read(2)
            talk.mark("response.create")
            conn.response.create()
            talk.read(until="response.done")
            yield talk
