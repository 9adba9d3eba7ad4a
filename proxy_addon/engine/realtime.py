"""The Realtime API over WebSocket (`client.realtime.connect(model=...)`): one session, pure.

A face accepts the socket (`realtime_socket.serve`), asks the engine about the handshake
(`GET /v1/realtime`, route `realtime.connect`: the key, the profile's `failures` and `latency`,
the `model` query parameter) and then hands each client event to a `Session`, which answers
with the server events to send and how long to wait before each (`Step`). Nothing here
touches a socket.

What a session answers (the GA event names, as openai 3.x's `openai.types.realtime` has them):

- `session.created` first; `session.update` -> `session.updated` with the merged config;
- `conversation.item.create` -> `conversation.item.added`, `conversation.item.done`;
  `.retrieve`, `.delete`, `.truncate` -> `.retrieved`, `.deleted`, `.truncated`;
- `input_audio_buffer.append` (no answer, as the API), `.commit` -> `input_audio_buffer.committed`,
  then the user item with an `input_audio` part (and, with `audio.input.transcription` set,
  `conversation.item.input_audio_transcription.completed`), `.clear` -> `input_audio_buffer.cleared`;
- `response.create` -> `response.created`, per output item `response.output_item.added`,
  `conversation.item.added`, its content part or arguments events, `conversation.item.done`,
  `response.output_item.done`, then `response.done` with usage. Text comes as
  `response.output_text.delta`; audio (the default modality, as the API's) as
  `response.output_audio_transcript.delta` each followed by the `response.output_audio.delta` of its
  words: made by `sound.speech` from the transcript, in the session's `audio.output.format` (base64
  PCM16 at 24 kHz mono, the default; or G.711 `audio/pcmu` / `audio/pcma` at 8 kHz).
- anything else, or an event that does not validate against the SDK's own client event types, is
  answered with the API's `error` event (`invalid_request_error`, with `param` and the client's
  `event_id`), and the session goes on.

Turn detection is off in the session the fake starts with (`audio.input.turn_detection: null`): a
client commits the buffer itself. A `turn_detection` set by `session.update` is kept and echoed, but
the fake detects no speech. A response is built whole when asked for, and sent over time: until the
face says it has sent its last event
(`Session.finished`), `response.cancel` cancels it (a `CANCEL` step: the face drops what is left of it and
sends `response.done` with status `cancelled`), and another `response.create` in the conversation gets the
API's `conversation_already_has_active_response` error.

What the model says comes from the profile's `realtime` rule, with the Responses API's knobs and
defaults (`responses.planned`): `output_text`, `output`, `tool_calls` or a handler, else a restatement of
the last user message, a forced function call when `tool_choice` forces one (arguments from the
tool's schema), and "The tool returned: ..." after function call outputs. A handler gets a request
whose JSON is `{"model", "instructions", "tools", "tool_choice", "output_modalities", "input": [the
conversation's items]}`. The pace is the rule's (or the profile's) `stream=`: `ttft` before the first
delta of each response, `chunk_delay` between deltas, and its faults (`cut_after` closes the socket,
`error_after` sends a `server_error` event and ends the response) via `streams.schedule`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import secrets
import time
import typing
from typing import Any, NamedTuple

from ..codec import from_json, to_json
from . import errors, knobs, sound, tokens
from .bodies import merge
from .errors import OpenAIError
from .params import conforms
from .resources import responses
from .streams import FRAME, Event, StreamReply, schedule
from .wire import Reply, Request

__all__ = ["Session", "Step", "CANCEL", "error_event", "handshake", "RULE", "KNOBS", "DOCS", "HANDLES", "ROUTE", "PATH"]

RULE = "realtime"
KNOBS = {"output_text": str, "output": list[dict], "tool_calls": list[dict], "stream": object}
DOCS = {
    "output_text": knobs.Doc("a restatement of the last user message (a committed audio's transcript included); a "
                             "forced function's call, `The tool returned: ...` after function outputs",
                             "What the model says to every `response.create`, as a string: text deltas, or with the "
                             'audio modality (the default) the transcript the fake speaks, e.g. `"Hello!"`.'),
    "output": knobs.Doc("a message of `output_text`, then the `tool_calls`, else the default answer",
                        'The whole output, as partial items: `{"type": "message", "content": "Hi"}` or `{"type": '
                        '"function_call", "name": "f", "arguments": {...}}` (items of other types are left out); ids, '
                        "call ids and statuses are filled in. It wins over `output_text` and `tool_calls`."),
    "tool_calls": knobs.Doc("none, unless `tool_choice` forces a function: then its call, arguments made from its "
                            "schema",
                            'Functions to call, e.g. `[{"name": "get_weather", "arguments": {"city": "Oslo"}}]` '
                            "(arguments default to an example of the tool's schema), streamed as "
                            "`response.function_call_arguments.delta` events. Not after function outputs, so that a "
                            "round trip ends."),
    "stream": knobs.stream_doc("a session's responses", "the text or audio-transcript deltas (each with its audio) and "
                               "the arguments deltas", "`ttft` waits before each response's first delta, `cut_after` "
                               "closes the socket (code 1011), `error_after` ends the response `failed`, and `faulty=N` "
                               "counts connections."),
}
#: The handshake's route (an SDK method of its own: `client.realtime.connect`) and path.
ROUTE, PATH = "realtime.connect", "/v1/realtime"

#: The audio format a session starts with: the API's default, 16-bit PCM at 24 kHz, mono.
PCM = {"type": "audio/pcm", "rate": sound.RATE}
#: Each audio format: the `sound.encode` format, and bytes a sample and samples a second (G.711: 8 kHz, a byte).
_FORMATS = {"audio/pcm": ("pcm", 2, sound.RATE), "audio/pcmu": ("pcmu", 1, sound.G711_RATE),
            "audio/pcma": ("pcma", 1, sound.G711_RATE)}
_DEFAULT_VOICE = "alloy"
#: Input audio the API needs before a commit.
_MIN_COMMIT_SECONDS = 0.1
#: Audio tokens a second of speech costs, about as the API counts them.
_AUDIO_TOKENS_PER_SECOND = 10


#: A step that cancels its `response`: drop the steps of it not sent yet, then send this one.
CANCEL = "cancel"


class Step(NamedTuple):
    """One server event to send: after `wait` seconds, the encoded JSON `data`; `kind` is
    `streams.FRAME` or `streams.CONTENT` (a delta), `streams.ERROR` (the failure the pace asked for: the
    response's last event), `streams.CUT` (no data: close the connection now) or `CANCEL`. `response` is
    the id of the response the step belongs to (or cancels)."""

    wait: float
    data: bytes
    kind: str
    response: str | None = None


def connect(call) -> Reply:
    """GET /v1/realtime: the WebSocket handshake's answer (the model it opens a session for), or the
    API's 400 for a plain request or one without a `model`."""
    return handshake(call.request)


def handshake(request: Request) -> Reply:
    """The answer to a WebSocket handshake (`connect`, and a replayed session's: `realtime_replay`). Raises the
    API's 400 as an `OpenAIError`."""
    if request.headers.get("upgrade", "").lower() != "websocket":
        raise OpenAIError(400, "The Realtime API is served over WebSocket: connect with an `Upgrade: websocket` "
                               "request (client.realtime.connect(model=...)).", code="websocket_upgrade_required")
    model = request.query.get("model")
    if not model:
        raise errors.missing_param("model")
    return Reply.json(200, {"model": model})


HANDLES = {ROUTE: connect}


def error_event(error: OpenAIError, event_id: str, client_event_id: str | None) -> dict:
    """The API's `error` server event for `error` (`event_id` of the client event at fault, if it had one)."""
    return {"type": "error", "event_id": event_id,
            "error": {"type": error.type, "code": error.code, "message": error.message, "param": error.param,
                      "event_id": client_event_id}}


class Session:
    """One realtime connection's session: its config and its conversation.

    `receive(raw)` takes one client event (a text frame) and returns the `Step`s to send. `engine`
    gives the profile (read at each response, so a reloaded profile applies at once) and the state;
    `number` is the connection's number among `realtime.connect` calls (a pace's `faulty=N`).
    """

    def __init__(self, engine, model: str, number: int = 1) -> None:
        self.engine = engine
        self.number = number
        self.id = "sess_" + secrets.token_hex(12)
        self.config: dict = {
            "type": "realtime", "object": "realtime.session", "id": self.id, "model": model,
            "expires_at": int(time.time()) + 3600, "output_modalities": ["audio"],
            "instructions": "You are a helpful assistant (openai-fake).", "tools": [], "tool_choice": "auto",
            "max_output_tokens": "inf", "tracing": None, "truncation": "auto", "prompt": None, "include": None,
            "audio": {"input": {"format": dict(PCM), "transcription": None, "noise_reduction": None,
                                "turn_detection": None},
                      "output": {"format": dict(PCM), "voice": _DEFAULT_VOICE, "speed": 1.0}},
        }
        #: The conversation's items, oldest first.
        self.items: list[dict] = []
        #: Every event of every response so far, for the journal's summary of the connection.
        self.said: list[Event] = []
        self._audio = 0  # bytes of input audio appended since the last commit: only its length is used
        #: What the model heard of each committed audio item (its transcript, shown to the client or not).
        self._heard: dict[str, str] = {}
        self._events = itertools.count(1)
        self._conversation = "conv_" + secrets.token_hex(12)
        #: Responses not sent whole yet: id -> (the response as created, its output, whether in the conversation).
        self._active: dict[str, tuple[dict, list[dict], bool]] = {}

    def finished(self, response_id: str) -> None:
        """The face has sent the last step of `response_id` (or cut the connection): it is no longer active."""
        self._active.pop(response_id, None)

    # -- events out -----------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> dict:
        return {"type": kind, "event_id": f"event_{self.id[5:17]}{next(self._events):06d}", **fields}

    def _frames(self, *events: dict) -> list[Step]:
        return [Step(0.0, to_json(e), FRAME) for e in events]

    def opened(self) -> list[Step]:
        """What the server sends first: `session.created`."""
        return self._frames(self._event("session.created", session=self.config))

    def refused(self, error: OpenAIError, client_event_id: str | None = None) -> list[Step]:
        """The `error` event for `error`; the session goes on."""
        return self._frames(error_event(error, self._event("error")["event_id"], client_event_id))

    # -- events in ------------------------------------------------------------------------------

    def receive(self, raw: str | bytes) -> list[Step]:
        """The steps that answer one client event (its text frame). Never raises: an event the API would
        refuse gets its `error` event, a failure of the profile a `server_error` one."""
        try:
            event = from_json(raw)
        except ValueError:
            return self.refused(OpenAIError(400, "The server failed to parse the client event: it is not valid JSON.",
                                            code="invalid_json"))
        if not isinstance(event, dict):
            return self.refused(errors.invalid_type("", "an object", event))
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        try:
            _validate(event)
            answer = getattr(self, "_on_" + event["type"].replace(".", "_"))
            return answer(event)
        except OpenAIError as e:
            return self.refused(e, client_id)
        except Exception as e:  # a bug in the fake (a handler's failure is an OpenAIError already): said; it goes on
            return self.refused(OpenAIError(500, f"openai-fake internal error: {type(e).__name__}: {e}",
                                            type="server_error"), client_id)

    def _on_session_update(self, event: dict) -> list[Step]:
        update = event["session"]
        if update.get("type") != "realtime":
            raise errors.invalid_value("session.type", "openai-fake serves `realtime` sessions on this socket; "
                                                       f"got {update.get('type')!r}.")
        self.config = _updated(self.config, {k: v for k, v in update.items() if k != "model" or v})
        return self._frames(self._event("session.updated", session=self.config))

    def _on_conversation_item_create(self, event: dict) -> list[Step]:
        item = self._new_item(event["item"])
        previous = self._insert(item, event.get("previous_item_id"))
        return self._frames(self._event("conversation.item.added", previous_item_id=previous, item=item),
                            self._event("conversation.item.done", previous_item_id=previous, item=item))

    def _on_conversation_item_retrieve(self, event: dict) -> list[Step]:
        return self._frames(self._event("conversation.item.retrieved", item=self._find(event["item_id"])))

    def _on_conversation_item_delete(self, event: dict) -> list[Step]:
        self.items.remove(self._find(event["item_id"]))
        return self._frames(self._event("conversation.item.deleted", item_id=event["item_id"]))

    def _on_conversation_item_truncate(self, event: dict) -> list[Step]:
        item = self._find(event["item_id"])
        if item.get("role") != "assistant":
            raise errors.invalid_value("item_id", "Only assistant messages can be truncated.")
        return self._frames(self._event("conversation.item.truncated", item_id=item["id"],
                                        content_index=event["content_index"], audio_end_ms=event["audio_end_ms"]))

    def _on_input_audio_buffer_append(self, event: dict) -> list[Step]:
        try:
            self._audio += len(base64.b64decode(event["audio"], validate=True))  # kept as a length: bounded memory
        except (binascii.Error, ValueError):
            raise errors.invalid_value("audio", "Invalid 'audio': it must be base64-encoded audio bytes.") from None
        return []

    def _on_input_audio_buffer_clear(self, event: dict) -> list[Step]:
        self._audio = 0
        return self._frames(self._event("input_audio_buffer.cleared"))

    def _on_input_audio_buffer_commit(self, event: dict) -> list[Step]:
        _, width, rate = _FORMATS[(self.config["audio"]["input"].get("format") or PCM).get("type") or "audio/pcm"]
        seconds = self._audio / width / rate
        if seconds < _MIN_COMMIT_SECONDS:
            raise OpenAIError(400, f"Error committing input audio buffer: buffer too small. Expected at least 100ms "
                                   f"of audio, but buffer only has {seconds * 1000:.2f}ms of audio.",
                              code="input_audio_buffer_commit_empty")
        self._audio = 0
        transcription = (self.config["audio"]["input"] or {}).get("transcription")
        transcript = f"This is a transcription of {seconds:.1f} seconds of audio by openai-fake."
        item = self._new_item({"type": "message", "role": "user",
                               "content": [{"type": "input_audio", "transcript": transcript if transcription else None}]})
        previous = self._insert(item, None)
        steps = self._frames(
            self._event("input_audio_buffer.committed", previous_item_id=previous, item_id=item["id"]),
            self._event("conversation.item.added", previous_item_id=previous, item=item),
            self._event("conversation.item.done", previous_item_id=previous, item=item))
        if transcription:
            steps += self._frames(self._event(
                "conversation.item.input_audio_transcription.completed", item_id=item["id"], content_index=0,
                transcript=transcript, usage={"type": "duration", "seconds": round(seconds, 3)}))
        self._heard[item["id"]] = transcript
        return steps

    def _on_output_audio_buffer_clear(self, event: dict) -> list[Step]:
        raise OpenAIError(400, "output_audio_buffer.clear is for WebRTC and SIP connections; on a WebSocket the "
                               "client plays (and stops) the audio itself.", param="type", code="invalid_value")

    def _on_response_cancel(self, event: dict) -> list[Step]:
        target = event.get("response_id") or next(reversed(self._active), None)
        if target not in self._active:
            raise OpenAIError(400, "Cancellation failed: no active response found", code="response_cancel_not_active")
        response, output, _ = self._active.pop(target)
        cancelled = [{**item, "status": "incomplete"} for item in output]
        done = self._event("response.done", response={
            **response, "status": "cancelled", "output": cancelled,
            "status_details": {"type": "cancelled", "reason": "client_cancelled", "error": None}})
        return [Step(0.0, to_json(done), CANCEL, target)]

    def _on_response_create(self, event: dict) -> list[Step]:
        return self._respond(event.get("response") or {})

    # -- the conversation -------------------------------------------------------------------------

    def _new_item(self, item: dict) -> dict:
        item = {"object": "realtime.item", **item, "id": item.get("id") or "item_" + secrets.token_hex(12)}
        if item["type"] in ("message", "function_call", "function_call_output"):
            item.setdefault("status", "completed")
        if any(i["id"] == item["id"] for i in self.items):
            raise errors.invalid_value("item.id", f"Item with id '{item['id']}' already exists.")
        return item

    def _insert(self, item: dict, previous_id: str | None) -> str | None:
        """Add `item` after `previous_id` ("root": first; None: last); the id of the item before it."""
        if previous_id is None:
            at = len(self.items)
        elif previous_id == "root":
            at = 0
        else:
            at = self.items.index(self._find(previous_id, "previous_item_id")) + 1
        self.items.insert(at, item)
        return self.items[at - 1]["id"] if at else None

    def _find(self, item_id: str, param: str = "item_id") -> dict:
        found = next((i for i in self.items if i["id"] == item_id), None)
        if found is None:
            raise errors.invalid_value(param, f"Item with item_id not found: {item_id}")
        return found

    # -- responses ------------------------------------------------------------------------------

    def _respond(self, asked: dict) -> list[Step]:
        config = _updated(self.config, {k: v for k, v in asked.items() if k not in ("input", "conversation", "metadata")})
        in_conversation = asked.get("conversation", "auto") != "none"
        busy = next((rid for rid, (_, _, shared) in self._active.items() if shared), None)
        if in_conversation and busy is not None:  # out-of-band responses (`conversation: "none"`) may overlap
            raise OpenAIError(400, f"Conversation already has an active response in progress: {busy}. Wait until "
                                   "the response is finished before creating a new one.",
                              code="conversation_already_has_active_response")
        context = list(self.items) if asked.get("input") is None else [
            self._find(i["id"]) if i.get("type") == "item_reference" else self._new_item(i) for i in asked["input"]]
        body = {"model": config["model"], "instructions": config.get("instructions"), "tools": config.get("tools") or [],
                "tool_choice": config.get("tool_choice") or "auto", "output_modalities": config["output_modalities"],
                "input": context}
        profile = self.engine.profile
        rule = profile.rule_for(ROUTE, RULE)
        from . import Call  # the engine's call (the profile's handler, knobs and pace); imported here: routes imports this module

        call = Call(Request("POST", PATH, {"content-type": "application/json"}, to_json(body), route=ROUTE),
                    rule, self.engine.state, profile, self.number, self.engine)
        response_id = "resp_" + secrets.token_hex(12)
        partials, rest, _ = responses.planned(call, body, [self._as_text(i) for i in context])
        audio = "audio" in config["output_modalities"]
        output = [_realtime_item(responses.output_item(p, n, response_id, body, call.where), audio)
                  for n, p in enumerate(partials)]
        output = [i for i in output if i is not None]
        response = {
            "object": "realtime.response", "id": response_id, "status": "in_progress", "status_details": None,
            "output": [], "conversation_id": self._conversation if in_conversation else None,
            "output_modalities": config["output_modalities"], "max_output_tokens": config.get("max_output_tokens", "inf"),
            "audio": {"output": {"format": config["audio"]["output"]["format"],
                                 "voice": config["audio"]["output"]["voice"]}},
            "usage": None, "metadata": asked.get("metadata"),
        }
        events = [Event(to_json(self._event("response.created", response=response)))]
        spoken: list[float] = []  # seconds of each audio part
        for index, item in enumerate(output):
            events += self._item_events(response_id, index, item, config, in_conversation, call.pace.split, spoken)
        done = merge({**response, "status": "completed", "output": output,
                      "usage": _usage([self._as_text(i) for i in context], output, sum(spoken))}, rest)
        events.append(Event(to_json(self._event("response.done", response=done))))
        self.said += events
        reply = StreamReply(200, b"", events=events, pace=call.pace,
                            error_event=lambda error, _index: to_json(self._response_failed(error, response, output)))
        self._active[response_id] = (response, output, in_conversation)
        return [Step(wait, data, kind, response_id) for wait, data, kind in schedule(reply)]

    def _as_text(self, item: dict) -> dict:
        """An item as the Responses machinery reads it: audio parts by their transcript (or what the fake heard
        of a committed buffer), as text."""
        if item.get("type") != "message":
            return item
        parts = []
        for part in item.get("content") or ():
            if isinstance(part, dict) and part.get("type") in ("input_audio", "output_audio"):
                part = {"type": "input_text", "text": part.get("transcript") or self._heard.get(item["id"], "")}
            parts.append(part)
        return {**item, "content": parts}

    def _response_failed(self, error: OpenAIError, response: dict, output: list[dict]) -> dict:
        """What ends a response the pace fails (`error_after`): `response.done` with status `failed`, as the API
        reports a server error mid-response (the client sees the `error` in `status_details`)."""
        return self._event("response.done", response={**response, "status": "failed", "output": output,
                                                      "status_details": {"type": "failed", "reason": None, "error": {
                                                          "type": error.type, "code": error.code or error.type,
                                                          "message": error.message}}})

    def _item_events(self, response_id: str, index: int, item: dict, config: dict, in_conversation: bool, split,
                     spoken: list[float]) -> list[Event]:
        """The events that stream one output item; `split` cuts text into deltas, `spoken` hears each audio part's
        length."""
        at = {"response_id": response_id, "item_id": item["id"], "output_index": index}
        started = {**item, "status": "in_progress"}
        previous = None
        if item["type"] == "message":
            started["content"] = []
        else:
            started["arguments"] = ""
        events = [Event(to_json(self._event("response.output_item.added", response_id=response_id,
                                            output_index=index, item=started)))]
        if in_conversation:
            previous = self.items[-1]["id"] if self.items else None
            self.items.append(item)
            events.append(Event(to_json(self._event("conversation.item.added", previous_item_id=previous, item=started))))
        if item["type"] == "message":
            for c, part in enumerate(item["content"]):
                events += self._part_events({**at, "content_index": c}, part, config, split, spoken)
        else:  # a function call
            events += [Event(to_json(self._event("response.function_call_arguments.delta", **at, call_id=item["call_id"],
                                                 delta=piece)), True, piece)
                       for piece in split(item["arguments"])]
            events.append(Event(to_json(self._event("response.function_call_arguments.done", **at, call_id=item["call_id"],
                                                    name=item["name"], arguments=item["arguments"]))))
            events[0] = events[0]._replace(call=item["name"])
        if in_conversation:
            events.append(Event(to_json(self._event("conversation.item.done", previous_item_id=previous, item=item))))
        events.append(Event(to_json(self._event("response.output_item.done", response_id=response_id,
                                                output_index=index, item=item))))
        return events

    def _part_events(self, where: dict, part: dict, config: dict, split, spoken: list[float]) -> list[Event]:
        if part["type"] == "output_text":
            pieces = split(part["text"])
            return [
                Event(to_json(self._event("response.content_part.added", **where, part={"type": "text", "text": ""}))),
                *(Event(to_json(self._event("response.output_text.delta", **where, delta=p)), True, p) for p in pieces),
                Event(to_json(self._event("response.output_text.done", **where, text=part["text"]))),
                Event(to_json(self._event("response.content_part.done", **where, part={"type": "text", "text": part["text"]}))),
            ]
        transcript = part["transcript"]
        output = config["audio"]["output"]
        pcm = sound.speech(transcript, output.get("voice") or _DEFAULT_VOICE, float(output.get("speed") or 1.0))
        spoken.append(sound.seconds_of_pcm(pcm))
        fmt, width, _ = _FORMATS[(output.get("format") or PCM).get("type") or "audio/pcm"]
        audio = sound.encode(pcm, fmt)
        pieces = split(transcript)
        events = [Event(to_json(self._event("response.content_part.added", **where,
                                            part={"type": "audio", "transcript": ""})))]
        for piece, chunk in zip(pieces, _chunks(audio, pieces, width)):
            events.append(Event(to_json(self._event("response.output_audio_transcript.delta", **where, delta=piece)),
                                True, piece))
            events.append(Event(to_json(self._event("response.output_audio.delta", **where,
                                                    delta=base64.b64encode(chunk).decode()))))
        events += [
            Event(to_json(self._event("response.output_audio.done", **where))),
            Event(to_json(self._event("response.output_audio_transcript.done", **where, transcript=transcript))),
            Event(to_json(self._event("response.content_part.done", **where,
                                      part={"type": "audio", "transcript": transcript}))),
        ]
        return events


def _validate(event: dict) -> None:
    """The client event checked against the SDK's own type for its `type`: the API's 400 naming the place."""
    kind = event.get("type")
    if not isinstance(kind, str):
        raise errors.missing_param("type") if kind is None else errors.invalid_type("type", "a string", kind)
    types = _client_event_types()
    if kind not in types:
        raise errors.invalid_value("type", f"Invalid value: '{kind}'. Supported values are: "
                                           f"{', '.join(repr(k) for k in types)}.")
    conforms(types[kind], event, "")


@functools.lru_cache(maxsize=1)
def _client_event_types() -> dict[str, Any]:
    """Each client event's `type` -> the SDK's model of it (the members of `RealtimeClientEvent`; their `_param`
    TypedDicts take `Iterable` fields, whose items pydantic does not look into). Imported at the first event:
    the SDK's types are most of the fake's start-up."""
    from openai.types.realtime import RealtimeClientEvent

    union = typing.get_args(RealtimeClientEvent)[0]  # Annotated[Union[...], discriminator]
    return {typing.get_args(member.model_fields["type"].annotation)[0]: member for member in typing.get_args(union)}


def _updated(config: dict, update: dict) -> dict:
    """A session config with `update` laid over it, key by key, except an audio `format`, which is replaced
    whole (`{"type": "audio/pcmu"}` keeps no `rate` of the PCM it replaces)."""
    merged = merge(config, update)
    for side in ("input", "output"):
        given = ((update.get("audio") or {}).get(side) or {}).get("format")
        if given is not None:
            merged["audio"][side]["format"] = given
    return merged


def _realtime_item(item: dict, audio: bool) -> dict | None:
    """A Responses output item as a realtime conversation item (None for a kind realtime has not: reasoning)."""
    if item["type"] == "message":
        content = []
        for part in item["content"]:
            text = part.get("text") or part.get("refusal") or ""
            content.append({"type": "output_audio", "transcript": text} if audio else {"type": "output_text", "text": text})
        return {"id": "item_" + item["id"].split("_", 1)[-1], "object": "realtime.item", "type": "message", "role": "assistant",
                "status": "completed", "content": content}
    if item["type"] == "function_call":
        return {"id": "item_" + item["id"].split("_", 1)[-1], "object": "realtime.item", "type": "function_call",
                "status": "completed", "call_id": item["call_id"], "name": item["name"], "arguments": item["arguments"]}
    return None


def _chunks(audio: bytes, pieces: list[str], width: int) -> list[bytes]:
    """`audio` cut into one chunk per transcript piece, each as long as its share of the text (whole samples
    of `width` bytes)."""
    total = sum(len(p) for p in pieces) or 1
    samples = len(audio) // width
    out, start, seen = [], 0, 0
    for n, piece in enumerate(pieces):
        seen += len(piece)
        end = samples if n == len(pieces) - 1 else round(samples * seen / total)
        out.append(audio[start * width:end * width])
        start = end
    return out


def _usage(context: list[dict], output: list[dict], seconds: float) -> dict:
    """A response's usage: the context's text (items as text, a few tokens of framing each), the output's
    text and transcripts, and `seconds` of audio spoken."""
    heard = sum(tokens.count(tokens.text_of(i.get("content")) or i.get("arguments") or i.get("output") or "")
                for i in context) + 3 * len(context)
    audio = round(seconds * _AUDIO_TOKENS_PER_SECOND)
    text = 0
    for item in output:
        for part in item.get("content") or ():
            text += tokens.count(part.get("text") or part.get("transcript") or "")
        text += tokens.count(item.get("arguments") or "")
    return {"total_tokens": heard + text + audio, "input_tokens": heard, "output_tokens": text + audio,
            "input_token_details": {"text_tokens": heard, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 0,
                                    "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}},
            "output_token_details": {"text_tokens": text, "audio_tokens": audio}}

