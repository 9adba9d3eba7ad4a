"""A recorded Realtime session, replayed (issue 18; docs/guide/record-replay.md).

A recording keeps a session as its event log: `{"at", "direction": "client" | "server", "event"}` for each
message, `at` in seconds since the handshake (`cassettes.store.RealtimeRecording`). On replay the handshake
(`GET /v1/realtime` with its query) is matched like any request (`replaying.Replay.answer`, the one place
that decides); a recorded session answers it with a `SessionReply`, and `realtime_socket.serve` runs its
`ReplayedSession` in place of the engine's `Session`, through the same sender and journal. The client gets:

- the server events recorded before the first client event (`session.created`), when the socket opens;
- for its n-th event, the server events recorded after the n-th client event and before the next one, each
  after its recorded gap (from that client event, then from the event before), divided by the replay's
  `speed` (0: at once). Ids are as recorded;
- past the log, the API's `error` event (code `recording_miss`) saying that nothing more was recorded; the
  session goes on, as the API's does after an `error`.

The client's events are not compared with the recorded ones: the n-th answers the n-th, whatever it says.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .codec import from_json, to_json
from .engine.errors import OpenAIError
from .engine.realtime import Step, error_event, handshake
from .engine.streams import CONTENT, FRAME, Event
from .engine.wire import Reply, Request

__all__ = ["ReplayedSession", "SessionReply"]

#: The server events that carry what the model says, piece by piece: the deltas a pace spaces out.
_TEXT_DELTAS = ("response.output_text.delta", "response.output_audio_transcript.delta")


class ReplayedSession:
    """One connection answered from a recorded event log, with the interface `realtime_socket` runs an engine
    `Session` by: `opened()`, `receive(raw)` (each gives the `Step`s to send), `finished(response_id)`, and for
    the journal `items` (what the client added to the conversation) and `said` (what was sent).

    `where`: the recording's file, named in the error past the log."""

    def __init__(self, events: list[dict], speed: float, where: str) -> None:
        from .cassettes import MISS_CODE, paced  # loaded already: only a fake that replays gets here

        self._paced, self._miss_code = paced, MISS_CODE
        self.speed, self.where = speed, where
        self.opening: list[dict] = []
        #: Per recorded client event: when it came, and the server events recorded after it.
        self.turns: list[tuple[float, list[dict]]] = []
        for entry in events:
            if entry.get("direction") == "client":
                self.turns.append((float(entry.get("at") or 0.0), []))
            elif self.turns:
                self.turns[-1][1].append(entry)
            else:
                self.opening.append(entry)
        #: The items the client created, for the journal's summary of the connection.
        self.items: list[dict] = []
        #: Every server event sent so far, for the journal's summary.
        self.said: list[Event] = []
        self._received = 0

    def opened(self) -> list[Step]:
        """What the server sent first: the events recorded before the client's first."""
        return self._steps(0.0, self.opening)

    def receive(self, raw: str | bytes) -> list[Step]:
        """The server events recorded after the client's next event; past the log, the `error` event."""
        try:
            event = from_json(raw)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            event = {}
        if event.get("type") == "conversation.item.create" and isinstance(event.get("item"), dict):
            self.items.append(event["item"])
        turn = self._received
        self._received += 1
        if turn < len(self.turns):
            at, answers = self.turns[turn]
            return self._steps(at, answers)
        error = OpenAIError(400, f"openai-fake: nothing more was recorded in {self.where}: the recorded session "
                                 f"has {len(self.turns)} client event{'s' if len(self.turns) != 1 else ''}, and this "
                                 f"is event {turn + 1}.", type="invalid_request_error", code=self._miss_code)
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        data = to_json(error_event(error, "event_" + secrets.token_hex(12), client_id))
        self.said.append(Event(data))
        return [Step(0.0, data, FRAME)]

    def finished(self, response_id: str) -> None:
        """Nothing to do: the recorded responses are over once sent."""

    def _steps(self, since: float, entries: list[dict]) -> list[Step]:
        """The entries as steps, each after its recorded gap (from `since`, then from the one before)."""
        steps = []
        waits = [wait for wait, _ in self._paced([(float(e.get("at") or 0.0) - since, b"") for e in entries], self.speed)]
        for wait, entry in zip(waits, entries):
            event = entry.get("event")
            data = to_json(event) if not isinstance(event, str) else event.encode()
            kind = event.get("type") if isinstance(event, dict) else None
            content = kind in _TEXT_DELTAS or kind == "response.function_call_arguments.delta"
            self.said.append(Event(data, content=content, text=event.get("delta") if kind in _TEXT_DELTAS else None,
                                   call=_call_started(event)))
            steps.append(Step(wait, data, CONTENT if content else FRAME))
        return steps


def _call_started(event) -> str | None:
    """The function a server event starts calling (`response.output_item.added` of a function call), or None."""
    if isinstance(event, dict) and event.get("type") == "response.output_item.added":
        item = event.get("item") or {}
        if item.get("type") == "function_call":
            return item.get("name")
    return None


@dataclass
class SessionReply(Reply):
    """The handshake's answer from a recording: a 200 (its `payload` the model, as the engine's handshake
    answers) whose connection `session` replays the recorded log (`realtime_socket.serve` runs it)."""

    session: ReplayedSession | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, events: list[dict], request: Request, speed: float, where: str) -> Reply:
        """The answer to `request`, the handshake that matched a recorded session: the `SessionReply`, or the
        engine's 400 for a request that is not a WebSocket upgrade (`realtime.handshake`)."""
        try:
            payload = handshake(request).payload
        except OpenAIError as e:
            return e.reply()
        return cls(200, to_json(payload), {"content-type": "application/json"}, payload=payload,
                   session=ReplayedSession(events, speed, where))
