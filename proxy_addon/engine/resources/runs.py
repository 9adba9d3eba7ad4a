"""Runs and run steps (`client.beta.threads.runs`, `.runs.steps`), and create-and-run.

Without a `sequence`, a run moves queued -> in_progress -> its outcome, one
step per retrieve (what `create_and_poll` does), or one step per `progress`
seconds. The outcome is decided when the run is created (and again when tool
outputs arrive), by the profile's handler or knobs:

- `reply`: the assistant's answer, written as a thread message when the run completes
  (default: a deterministic answer restating the last user message);
- `tool_calls`: function calls that stop the run at `requires_action`; `submit_tool_outputs`
  then moves it on to the reply;
- without either, a `tool_choice` that forces a function ("required": the first function
  tool; or `{"type": "function", "function": {"name": ...}}`) stops the first turn at
  `requires_action` with that call, its arguments made from the tool's schema; a name
  that is none of the run's tools is a 400 on `tool_choice`;
- a handler `(request, state)` returning a string (the reply), `{"tool_calls": [...]}`,
  `{"reply": "..."}`, or raising an OpenAIError, which makes the run fail with that error.
  At create `request.json` is the create body; at submit it holds `tool_outputs`.

`sequence` works as in openai-responses: a list of partial runs for retrieve, or
a dict of lists per operation ("create", "retrieve", "update", "cancel",
"submit_tool_outputs"); each call consumes the next, and the last is held.
`validate_thread_exists` / `validate_assistant_exists` answer 404 for unknown ids.

Streaming (`stream: true` on create, create-and-run and submit_tool_outputs, which
the SDK's `runs.stream()`, `create_and_run_stream()` and `submit_tool_outputs_stream()`
send): the run is first driven to its end state in the store, at once and under
the state's lock: `completed` (with the same message, steps and usage the polling
path writes), `requires_action` (with its in-progress `tool_calls` step), or
`failed`. The events are then built from those stored objects, so every run,
step and message seen in the stream can be retrieved afterwards with the same id
and content. A completed run streams `thread.created` (create-and-run only),
`thread.run.created`, `.queued`, `.in_progress`, `thread.run.step.created`,
`.step.in_progress`, `thread.message.created`, `.in_progress`, one
`thread.message.delta` per piece of text (cut and paced by the profile's
`stream=`), `thread.message.completed`, `thread.run.step.completed` and
`thread.run.completed`. A run that needs tool outputs streams its `tool_calls`
step with `thread.run.step.delta` events (the call's id and name, then its
arguments piece by piece) and ends with `thread.run.requires_action`; a failed
run ends with `thread.run.failed` and its `last_error`. A stream of
submit_tool_outputs starts with `thread.run.step.completed` for the tool-calls
step (outputs included), then `thread.run.queued`. Every stream ends with
`event: done` / `data: [DONE]`; a mid-stream error (the pace's `error_after`)
is `event: error` / `data: {"error": {...}}`.

`sequence` with a stream: a stream shows what a poller would have seen, at once.
The operation's own entry (`create` or `submit_tool_outputs`) is applied as
without a stream (it is the run of `thread.run.created`), then the unused
`retrieve` entries are played in order, each one that changes the status giving
a `thread.run.<status>` event, until one reaches an end status (requires_action,
completed, failed, cancelled, expired, incomplete): that is where the stream ends,
and later retrieves hold it, as they hold the last entry after polling. If the
entries run out first, the run goes on to its own outcome, and the retrieve
sequence no longer applies to that run (so a later retrieve agrees with the
stream). `progress` (seconds per step) does not slow a stream; the profile's
`stream=` pace does.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

import pydantic

from .. import errors, knobs, lifecycle, pages, params, tokens
from ..bodies import check, echo_answer, function_call, merge
from ..errors import OpenAIError
from ..streams import Event, sse
from ..wire import Reply
from . import assistants, messages, threads
from .. import sdk
from .. import stores

RULE = "beta.threads.runs"
KNOBS = {
    **lifecycle.KNOBS,  # progress, time_scale, fail_at: the one lifecycle's
    "sequence": list[dict] | dict[Literal["create", "retrieve", "update", "cancel", "submit_tool_outputs"], list[dict]],
    "validate_thread_exists": bool, "validate_assistant_exists": bool,
    "reply": str, "tool_calls": list[dict], "poll_after_ms": knobs.Count,
    "stream": object,
}
DOCS = {
    **lifecycle.DOCS,
    "progress": knobs.Doc('`"polls"`', '`"polls"`: one step per retrieve of the run (what `create_and_poll` does; a '
                          "list moves nothing); a number: one step every that many seconds, retrieved or not, e.g. "
                          "`0.2`. A stream plays the run to its end at once, whatever this says."),
    "time_scale": lifecycle.UNCLOCKED,
    "fail_at": knobs.Doc("none: the run reaches its outcome",
                         'The step at which the run fails instead (`status: "failed"`, `last_error.code: '
                         '"server_error"`): `"in_progress"` (it never starts), `"outcome"` (where it would complete or '
                         'stop at `requires_action`; after tool outputs too) or `"cancelled"` (a cancelling run). A '
                         "`sequence` or a stream leaves it unused."),
    "fail_message": knobs.Doc('`"Sorry, something went wrong."`', "The `last_error.message` of a `fail_at` failure."),
    "sequence": knobs.Doc("the run's own lifecycle: `queued`, `in_progress`, then its outcome",
                          'Partial runs, as in openai-responses: a dict of lists by operation (`"create"`, '
                          '`"retrieve"`, `"update"`, `"cancel"`, `"submit_tool_outputs"`), or one list, the retrieve '
                          'sequence, e.g. `[{"status": "in_progress"}, {"status": "completed"}]`. Each call takes the '
                          "next entry and the last is held; a run an entry completes gets its reply."),
    "validate_thread_exists": knobs.Doc("`False`: any thread id is taken as it is",
                                        "`True`: a run call naming a thread that does not exist answers the API's 404 "
                                        "`No thread found with id '...'.`"),
    "validate_assistant_exists": knobs.Doc("`False`: an unknown assistant is taken as it is (its model: `gpt-4o`)",
                                           "`True`: a run for an assistant that does not exist answers the API's 404 "
                                           "`No assistant found with id '...'.`"),
    "reply": knobs.Doc('restates the last user message (`"This is a fake answer from openai-fake. You said: ..."`)',
                       "The assistant's answer, written as a thread message (with a `message_creation` step and "
                       'the run\'s `usage`) when the run completes, e.g. `"It is sunny in Oslo."`.'),
    "tool_calls": knobs.Doc("none, unless the run's `tool_choice` forces a function: then its call, arguments made "
                            "from its schema",
                            'Function calls that stop the run\'s first turn at `requires_action`, with a `tool_calls` '
                            'step, e.g. `[{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]` (ids '
                            'filled in; arguments may be a dict, and are `"{}"` when left out); `submit_tool_outputs` '
                            "then moves the run on to its `reply`."),
    "poll_after_ms": knobs.Doc("`100`", "The `openai-poll-after-ms` header on the run a create, retrieve, update, "
                               "cancel or submit answers (not streamed), which `create_and_poll` waits between its "
                               "retrieves, e.g. `0`."),
    "stream": knobs.stream_doc("streamed runs (`stream: true` on create, create-and-run and submit_tool_outputs)",
                               "the message text of `thread.message.delta` events and the arguments of "
                               "`thread.run.step.delta` events"),
}

PROGRESS = stores.RUN_PROGRESS
_WAITING = {"requires_action"}
_TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}
_END = _WAITING | _TERMINAL
# What a stream still plays for a run a sequence left in a status that is not an end.
_REST = {"queued": ["in_progress", "outcome"], "in_progress": ["outcome"], "cancelling": ["cancelled"]}


def collection(thread_id: str) -> str:
    return stores.RUNS.key(thread_id=thread_id)


def steps_collection(run: dict) -> str:
    return stores.RUN_STEPS.key(thread_id=run["thread_id"], run_id=run["id"])


# -- the turn: what the "model" does with the thread --------------------------------


def _decide(call, thread_id: str, first_turn: bool, run: dict | None = None) -> dict:
    """The outcome of a turn: {"kind": "reply", "text"} | {"kind": "tool_calls", "calls"} | {"kind": "error", ...}.

    A first turn whose `tool_choice` forces a function ("required": the first function tool; or one named)
    calls it, with arguments made from its `parameters` schema, unless the profile says otherwise. Later
    turns answer: "required" asks for a tool call before the answer, as the Assistants docs put it."""
    try:
        custom = call.custom()
    except OpenAIError as e:
        return {"kind": "error", "code": "rate_limit_exceeded" if e.status == 429 else "server_error", "message": e.message}
    if isinstance(custom, str):
        return {"kind": "reply", "text": custom}
    custom = custom if isinstance(custom, dict) else {}
    calls = custom.get("tool_calls")
    if calls is None and first_turn and "reply" not in custom:
        calls = call.knob("tool_calls")
        if calls is None and run is not None:
            calls = _forced_calls(run)
    if calls:
        return {"kind": "tool_calls", "calls": [_tool_call(call, c) for c in calls]}
    text = custom.get("reply", custom.get("content"))
    if text is None:
        text = call.knob("reply")
    if text is None:
        last = next((messages.text_of(m) for m in reversed(call.state.all(messages.collection(thread_id))) if m["role"] == "user"), "")
        text = echo_answer(last)
    return {"kind": "reply", "text": text}


def _forced_calls(run: dict) -> list[dict] | None:
    """The call a run's `tool_choice` forces, as a partial tool call, or None."""
    choice = run.get("tool_choice")
    functions = [t.get("function") or {} for t in run.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    if not functions or choice in (None, "auto", "none"):
        return None
    if isinstance(choice, dict):
        if choice.get("type") != "function":
            return None  # file_search / code_interpreter: the fake runs no built-in tool
        name = (choice.get("function") or {}).get("name")
        forced = next((f for f in functions if f.get("name") == name), None)
        if forced is None:
            raise errors.invalid_value("tool_choice", f"Invalid value for 'tool_choice': function '{name}' is not "
                                       f"one of the run's tools.")
    else:
        forced = functions[0]  # "required"
    return [{"function": {"name": forced.get("name", "tool"), "arguments": params.arguments_for(forced)}}]


def _tool_call(call, partial: dict) -> dict:
    return {"id": partial.get("id") or call.state.new_id("call_"), "type": "function", "function": function_call(partial)}


# -- progress ------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


def _step(call, run: dict, kind: str, details: dict, status: str, usage: dict | None = None) -> dict:
    now = _now()
    step = {
        "id": call.state.new_id("step_"), "object": "thread.run.step", "created_at": now, "run_id": run["id"],
        "assistant_id": run["assistant_id"], "thread_id": run["thread_id"], "type": kind, "status": status,
        "step_details": {"type": kind, kind: details}, "usage": usage, "last_error": None, "metadata": {},
        "cancelled_at": None, "completed_at": now if status == "completed" else None, "expired_at": None, "failed_at": None,
    }
    check(sdk.RunStep, step, call.where)
    call.state.put(steps_collection(run), step)
    return step


def _resolve(call, run: dict, progress: dict) -> dict:
    """Turn the decided outcome into the run's next status, writing messages and steps."""
    outcome = progress["outcome"]
    now = _now()
    if outcome["kind"] == "tool_calls":
        calls = outcome["calls"]
        _step(call, run, "tool_calls", [dict(c, function=dict(c["function"], output=None)) for c in calls], "in_progress")
        return {"status": "requires_action", "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}}
    if outcome["kind"] == "error":
        return {"status": "failed", "failed_at": now, "last_error": {"code": outcome["code"], "message": outcome["message"]}}
    return _complete(call, run, progress)


def _complete(call, run: dict, progress: dict) -> dict:
    if progress.get("message_id") is None:
        text = progress["outcome"].get("text") or ""
        message = messages.build(call.state, call.where, run["thread_id"], {"role": "assistant", "content": text},
                                 assistant_id=run["assistant_id"], run_id=run["id"])
        call.state.put(messages.collection(run["thread_id"]), message)
        prompt = sum(tokens.count(messages.text_of(m)) + 3 for m in call.state.all(messages.collection(run["thread_id"])))
        completion = tokens.count(text)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        _step(call, run, "message_creation", {"message_id": message["id"]}, "completed", usage)
        progress["message_id"] = message["id"]
        progress["usage"] = usage
    return {"status": "completed", "completed_at": _now(), "required_action": None, "usage": progress.get("usage")}


def _advance(call, run: dict, progress: dict, nxt: str) -> dict:
    """Apply one status change of the run's lifecycle."""
    if nxt == "outcome":
        changes = _resolve(call, run, progress)
    elif nxt == "in_progress":
        changes = {"status": "in_progress", "started_at": run.get("started_at") or _now()}
    elif nxt == "cancelled":
        changes = {"status": "cancelled", "cancelled_at": _now(), "required_action": None}
    elif nxt == "failed":  # the profile's `fail_at`
        changes = {"status": "failed", "failed_at": _now(), "required_action": None,
                   "last_error": {"code": "server_error", "message": lifecycle.fail_message(call, "Sorry, something went wrong.")}}
    else:
        changes = {"status": nxt}
    run.update(changes)
    return run


def _catch_up(call, run: dict, progress: dict, polled: bool) -> None:
    for step in lifecycle.due(call, progress, polled):
        _advance(call, run, progress, step)


def _sequence_step(call, run: dict, progress: dict, op: str) -> bool:
    """Apply the profile's `sequence` for `op`, if it has one; True when it did."""
    if op == "retrieve" and progress.get("retrieve_spent"):
        return False  # a stream played this run past its retrieve sequence
    entries = _sequence_entries(call, op)
    if not entries:
        return False
    used = progress.setdefault("sequence_used", {})
    index = min(used.get(op, 0), len(entries) - 1)
    used[op] = used.get(op, 0) + 1
    partial = entries[index]
    progress["steps"] = []  # the sequence decides, not the clock
    run.update(merge(run, partial))
    if run.get("status") == "completed" and progress["outcome"]["kind"] == "reply":
        run.update({k: v for k, v in _complete(call, run, progress).items() if k not in partial})
    elif run.get("status") == "requires_action" and not run.get("required_action") and progress["outcome"]["kind"] == "tool_calls":
        run.update(_resolve(call, run, progress))
    return True


def _sequence_entries(call, op: str) -> list:
    sequence = call.knob("sequence")
    if isinstance(sequence, list):
        sequence = {"retrieve": sequence}
    return (sequence or {}).get(op) or []


def _store(call, run: dict, progress: dict) -> None:
    check(sdk.Run, run, call.where)
    with call.state.lock:
        call.state.put(collection(run["thread_id"]), run)
        call.state.put(PROGRESS, progress)


def _save(call, run: dict, progress: dict) -> Reply:
    _store(call, run, progress)
    return Reply.json(200, run, {"openai-poll-after-ms": str(call.knob("poll_after_ms", 100))})


# -- streaming -------------------------------------------------------------------------

_DONE = b"event: done\ndata: [DONE]\n\n"


def _error_event(err: OpenAIError, sequence: int) -> bytes:
    """The assistants stream's own error event."""
    return sse(err.payload(), event="error")


def _event(call, name: str, model: type[pydantic.BaseModel], data: dict, content: bool = False,
           text: str | None = None, starts: str | None = None) -> Event:
    """One event of `data` as it is now (a copy), checked against the SDK type it must parse as; `text` and
    `starts` are what it says for the journal's summary (a delta's text, the tool call it starts)."""
    data = copy.deepcopy(data)
    check(model, data, call.where)
    return Event(sse(data, event=name), content, text, starts)


def _run_event(call, run: dict) -> Event:
    return _event(call, f"thread.run.{run['status']}", sdk.Run, run)


def _message_events(call, message: dict) -> list[Event]:
    """A stored message as a stream tells it: created and in progress with no content, its text in
    deltas cut by the pace, then the stored message itself."""
    view = dict(message, status="in_progress", content=[], completed_at=None, incomplete_at=None, incomplete_details=None)
    out = [_event(call, "thread.message.created", sdk.Message, view), _event(call, "thread.message.in_progress", sdk.Message, view)]

    def delta(part: dict, content: bool, text: str | None = None) -> Event:
        return _event(call, "thread.message.delta", sdk.MessageDeltaEvent, {
            "id": message["id"], "object": "thread.message.delta", "delta": {"content": [part]}}, content, text)

    for index, part in enumerate(message["content"]):
        if part.get("type") == "text":
            for k, piece in enumerate(call.pace.split(part["text"]["value"])):
                text = {"value": piece, "annotations": part["text"].get("annotations") or []} if k == 0 else {"value": piece}
                out.append(delta({"index": index, "type": "text", "text": text}, True, piece))
        else:
            out.append(delta({"index": index, **part}, False))
    final = message.get("status") if message.get("status") in ("completed", "incomplete") else "completed"
    out.append(_event(call, f"thread.message.{final}", sdk.Message, message))
    return out


def _step_events(call, step: dict) -> list[Event]:
    """A stored step as a stream tells it: created and in progress, then what it made (its message,
    or its tool calls as deltas), then the step itself once it is finished."""
    view = dict(step, status="in_progress", completed_at=None, usage=None)
    if step["type"] == "tool_calls":
        view["step_details"] = {"type": "tool_calls", "tool_calls": []}  # the calls arrive as deltas
    out = [_event(call, "thread.run.step.created", sdk.RunStep, view), _event(call, "thread.run.step.in_progress", sdk.RunStep, view)]
    if step["type"] == "message_creation":
        message_id = step["step_details"]["message_creation"]["message_id"]
        message = call.state.get(messages.collection(step["thread_id"]), message_id)
        if message is not None:
            out += _message_events(call, message)
    else:
        def delta(tool_call: dict, content: bool, text: str | None = None, starts: str | None = None) -> Event:
            return _event(call, "thread.run.step.delta", sdk.RunStepDeltaEvent, {
                "id": step["id"], "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [tool_call]}}}, content, text, starts)

        for index, tool_call in enumerate(step["step_details"]["tool_calls"]):
            fn = tool_call["function"]
            out.append(delta({"index": index, "id": tool_call["id"], "type": "function",
                              "function": {"name": fn["name"], "arguments": "", "output": fn.get("output")}}, False,
                             starts=fn["name"]))
            for piece in call.pace.split(fn.get("arguments") or ""):
                out.append(delta({"index": index, "type": "function", "function": {"arguments": piece}}, True, piece))
    if step["status"] != "in_progress":
        out.append(_event(call, f"thread.run.step.{step['status']}", sdk.RunStep, step))
    return out


def _new_steps(call, run: dict, known: set[str]) -> list[Event]:
    """The events of the run's steps not in `known` (which is updated)."""
    out = []
    for step in call.state.all(steps_collection(run)):
        if step["id"] not in known:
            known.add(step["id"])
            out += _step_events(call, step)
    return out


def _play(call, run: dict, progress: dict, head: list[Event], known: set[str]) -> list[Event]:
    """Drive `run` to an end state in the store, at once; the events of a stream that shows it.

    `head` are the events that come first (thread.created, thread.run.created, or the
    step completed by tool outputs); `known` the ids of steps that existed before this call.
    Call it under the state's lock.
    """
    events = list(head)
    events += _new_steps(call, run, known)  # made by the operation's own sequence entry, if any
    events.append(_run_event(call, run))
    status = run["status"]
    entries = _sequence_entries(call, "retrieve")
    for _ in range(10_000):
        if run["status"] in _END:
            break
        used = progress.get("sequence_used", {}).get("retrieve", 0)
        if entries and used < len(entries) and not progress.get("retrieve_spent"):
            _sequence_step(call, run, progress, "retrieve")
        else:
            if entries:
                progress["retrieve_spent"] = True
            if not progress["steps"]:
                progress["steps"] = list(_REST.get(run["status"], ["outcome"]))
            _advance(call, run, progress, progress["steps"].pop(0))
        events += _new_steps(call, run, known)
        if run["status"] != status:
            events.append(_run_event(call, run))
            status = run["status"]
    else:  # pragma: no cover - every path above ends a run
        raise OpenAIError(500, f"openai-fake: {call.where}: the run did not reach an end state", type="server_error",
                          headers={"x-should-retry": "false"})
    events.append(Event(_DONE))
    return events


def _stream(call, run: dict, progress: dict, head: list, known: set[str]) -> Reply:
    """Play the run to its end, store it, and answer the stream of it."""
    with call.state.lock:
        events = _play(call, run, progress, [_event(call, *h) for h in head], known)
        _store(call, run, progress)
    return call.stream(events, _error_event)


# -- endpoints -------------------------------------------------------------------------


def _thread_id(call) -> str:
    thread_id = call.request.params["thread_id"]
    if call.knob("validate_thread_exists", False):
        call.state.fetch(threads.COLLECTION, thread_id, "thread")
    return thread_id


#: The fields a run echoes from its create body, checked against the SDK's Run type.
_ECHOED = ("model", "instructions", "tools", "temperature", "top_p", "max_prompt_tokens", "max_completion_tokens",
           "truncation_strategy", "response_format", "tool_choice", "parallel_tool_calls")


def _check_body(body: dict) -> None:
    """The 400s for a run's create body (create and create-and-run), before anything is stored."""
    params.wants_stream(body)
    params.require(body, "assistant_id", str)
    params.optional(body, "model", str)
    params.optional(body, "instructions", str)
    params.optional(body, "additional_instructions", str)
    params.optional(body, "parallel_tool_calls", bool)
    params.sampling(body)
    params.integer(body, "max_prompt_tokens", minimum=256)
    params.integer(body, "max_completion_tokens", minimum=256)
    params.tools(body, params.ASSISTANT_TOOLS, max_items=20)
    params.response_format(body, auto=True)
    params.tool_resources(body.get("tool_resources"))
    params.metadata(body.get("metadata"))
    for name in _ECHOED:
        if body.get(name) is not None:
            params.conforms(sdk.Run, body[name], name, field=name)


def _start(call, thread_id: str, body: dict, thread: dict | None = None) -> Reply:
    stream = params.wants_stream(body)
    assistant_id = params.require(body, "assistant_id", str)
    assistant = call.state.get(assistants.COLLECTION, assistant_id)
    if assistant is None and call.knob("validate_assistant_exists", False):
        raise errors.no_such("assistant", assistant_id)
    assistant = assistant or {}
    for i, extra in enumerate(params.optional(body, "additional_messages", list, []) or []):
        call.state.put(messages.collection(thread_id), messages.build(call.state, call.where, thread_id, extra, f"additional_messages[{i}]"))
    now = _now()
    run = {
        "id": call.state.new_id("run_"), "object": "thread.run", "created_at": now, "thread_id": thread_id,
        "assistant_id": assistant_id, "status": "queued", "required_action": None, "last_error": None,
        "expires_at": now + 600, "started_at": None, "cancelled_at": None, "failed_at": None, "completed_at": None,
        "incomplete_details": None, "model": body.get("model") or assistant.get("model") or "gpt-4o",
        "instructions": body.get("instructions") or assistant.get("instructions") or "",
        "tools": body.get("tools") if body.get("tools") is not None else assistant.get("tools", []),
        "metadata": params.metadata(body.get("metadata")) or {}, "usage": None, "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0), "max_prompt_tokens": body.get("max_prompt_tokens"),
        "max_completion_tokens": body.get("max_completion_tokens"),
        "truncation_strategy": body.get("truncation_strategy") or {"type": "auto", "last_messages": None},
        "response_format": body.get("response_format") or "auto", "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
    }
    progress = lifecycle.start({"id": run["id"], "thread_id": thread_id, "outcome": _decide(call, thread_id, first_turn=True, run=run)},
                               ["in_progress", "outcome"])
    _sequence_step(call, run, progress, "create")
    if not stream:
        return _save(call, run, progress)
    head = [("thread.created", sdk.Thread, thread)] if thread is not None else []
    head.append(("thread.run.created", sdk.Run, run))
    return _stream(call, run, progress, head, set())


def create(call) -> Any:
    body = params.json_body(call.request)
    _check_body(body)
    params.array(body.get("additional_messages"), "additional_messages")
    return _start(call, _thread_id(call), body)


def create_thread_and_run(call) -> Any:
    body = params.json_body(call.request)
    _check_body(body)  # a bad body is a 400 before the thread is made
    spec = params.optional(body, "thread", dict, {}) or {}
    threads.check_body(spec, "thread.")
    thread = threads.new_thread(call, spec, "thread.")
    return _start(call, thread["id"], body, thread)


def _load(call) -> tuple[dict, dict]:
    thread_id = _thread_id(call)
    run = call.state.fetch(collection(thread_id), call.request.params["run_id"], "run")
    progress = call.state.get(PROGRESS, run["id"]) or lifecycle.start({"id": run["id"], "outcome": {"kind": "reply"}}, [])
    progress = copy.deepcopy(progress)
    if "pending" in progress:  # a state file from before the one lifecycle
        progress["steps"] = progress.pop("pending")
    return copy.deepcopy(run), progress  # changed here, stored by _store: never in place


def _tick(call, progress: dict) -> None:
    """A run moved on by time, nobody polling it (`runs(progress=<seconds>)`)."""
    run = call.state.get(collection(progress["thread_id"]), progress["id"]) if progress.get("thread_id") else None
    if run is None or not progress.get("steps"):
        return
    run, progress = copy.deepcopy(run), copy.deepcopy(progress)
    _catch_up(call, run, progress, polled=False)
    _store(call, run, progress)


lifecycle.register("runs", lifecycle.Kind(store=PROGRESS, route="beta.threads.runs.retrieve", catch_up=_tick,
                                          path=lambda p: f"/v1/threads/{p.get('thread_id')}/runs/{p['id']}"))


def list_runs(call) -> Any:
    return pages.page(call, collection(_thread_id(call)))


def retrieve(call) -> Any:
    run, progress = _load(call)
    if not _sequence_step(call, run, progress, "retrieve"):
        _catch_up(call, run, progress, polled=True)
    return _save(call, run, progress)


def update(call) -> Any:
    body = params.json_body(call.request)
    run, progress = _load(call)
    run["metadata"] = params.metadata(body.get("metadata")) or {}
    if not _sequence_step(call, run, progress, "update"):
        _catch_up(call, run, progress, polled=False)
    return _save(call, run, progress)


def cancel(call) -> Any:
    run, progress = _load(call)
    _catch_up(call, run, progress, polled=False)
    _store(call, run, progress)  # what time did to the run stays, whatever the answer
    if not _sequence_step(call, run, progress, "cancel"):
        if run["status"] in _TERMINAL or run["status"] == "cancelling":
            raise OpenAIError(400, f"Cannot cancel run with status '{run['status']}'.", param="run_id")
        run.update({"status": "cancelling", "required_action": None})
        lifecycle.start(progress, ["cancelled"])
    return _save(call, run, progress)


def submit_tool_outputs(call) -> Any:
    body = params.json_body(call.request)
    outputs = params.require(body, "tool_outputs", list)
    stream = params.wants_stream(body)
    run, progress = _load(call)
    _catch_up(call, run, progress, polled=False)
    _store(call, run, progress)  # what time did to the run stays, whatever the answer
    if run["status"] not in _WAITING:
        raise OpenAIError(400, f'Runs in status "{run["status"]}" do not accept tool outputs.', param="tool_outputs")
    expected = {c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]}
    given = {o.get("tool_call_id") for o in outputs if isinstance(o, dict)}
    if given != expected:
        missing = sorted(expected - given)
        raise errors.invalid_value("tool_outputs", f"Expected tool outputs for call_ids {sorted(expected)}, got {sorted(g for g in given if g)}." + (f" Missing: {missing}." if missing else ""))
    by_id = {o["tool_call_id"]: o.get("output") for o in outputs}
    done = []  # the tool-calls steps these outputs complete
    with call.state.lock:
        for step in call.state.all(steps_collection(run)):
            if step["type"] == "tool_calls" and step["status"] == "in_progress":
                details = [dict(c, function=dict(c["function"], output=by_id.get(c["id"]))) for c in step["step_details"]["tool_calls"]]
                done.append(call.state.update(steps_collection(run), step["id"], {
                    "status": "completed", "completed_at": _now(), "step_details": {"type": "tool_calls", "tool_calls": details}}))
    progress["outcome"] = _decide(call, run["thread_id"], first_turn=False)
    lifecycle.start(progress, ["in_progress", "outcome"])
    run.update({"status": "queued", "required_action": None})
    known = {s["id"] for s in call.state.all(steps_collection(run))}
    _sequence_step(call, run, progress, "submit_tool_outputs")
    if not stream:
        return _save(call, run, progress)
    return _stream(call, run, progress, [("thread.run.step.completed", sdk.RunStep, step) for step in done], known)


def list_steps(call) -> Any:
    run, _ = _load(call)
    return pages.page(call, steps_collection(run))


def retrieve_step(call) -> Any:
    run, _ = _load(call)
    return Reply.json(200, call.state.fetch(steps_collection(run), call.request.params["step_id"], "run step"))


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "beta.threads.create_and_run": create_thread_and_run,
    "beta.threads.runs.create": create,
    "beta.threads.runs.list": list_runs,
    "beta.threads.runs.retrieve": retrieve,
    "beta.threads.runs.update": update,
    "beta.threads.runs.cancel": cancel,
    "beta.threads.runs.submit_tool_outputs": submit_tool_outputs,
    "beta.threads.runs.steps.list": list_steps,
    "beta.threads.runs.steps.retrieve": retrieve_step,
}
