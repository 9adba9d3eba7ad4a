"""Runs and run steps (`client.beta.threads.runs`, `.runs.steps`), and create-and-run.

Without a `sequence`, a run moves queued -> in_progress -> its outcome, one
step per retrieve (what `create_and_poll` does), or one step per `progress`
seconds. The outcome is decided when the run is created (and again when tool
outputs arrive), by the profile's handler or knobs:

- `reply`: the assistant's answer, written as a thread message when the run completes
  (default: a deterministic answer restating the last user message);
- `tool_calls`: function calls that stop the run at `requires_action`; `submit_tool_outputs`
  then moves it on to the reply;
- a handler `(request, state)` returning a string (the reply), `{"tool_calls": [...]}`,
  `{"reply": "..."}`, or raising an OpenAIError, which makes the run fail with that error.
  At create `request.json` is the create body; at submit it holds `tool_outputs`.

`sequence` works as in openai-responses: a list of partial runs for retrieve, or
a dict of lists per operation ("create", "retrieve", "update", "cancel",
"submit_tool_outputs"); each call consumes the next, and the last is held.
`validate_thread_exists` / `validate_assistant_exists` answer 404 for unknown ids.
"""

from __future__ import annotations

import time
from typing import Any

from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import RunStep

from .. import errors, pages, params, tokens
from ..bodies import check, echo_answer, function_call, merge
from ..errors import OpenAIError
from ..wire import Reply
from . import assistants, messages, threads

RULE = "beta.threads.runs"
KNOBS = {
    "sequence": (list, dict), "validate_thread_exists": bool, "validate_assistant_exists": bool,
    "reply": str, "tool_calls": list, "progress": (str, int, float), "poll_after_ms": int,
}

_PROGRESS = "run_progress"
_WAITING = {"requires_action"}
_TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


def collection(thread_id: str) -> str:
    return f"runs:{thread_id}"


def steps_collection(run_id: str) -> str:
    return f"run_steps:{run_id}"


# -- the turn: what the "model" does with the thread --------------------------------


def _decide(call, thread_id: str, first_turn: bool) -> dict:
    """The outcome of a turn: {"kind": "reply", "text"} | {"kind": "tool_calls", "calls"} | {"kind": "error", ...}."""
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
    if calls:
        return {"kind": "tool_calls", "calls": [_tool_call(call, c) for c in calls]}
    text = custom.get("reply", custom.get("content"))
    if text is None:
        text = call.knob("reply")
    if text is None:
        last = next((messages.text_of(m) for m in reversed(call.state.all(messages.collection(thread_id))) if m["role"] == "user"), "")
        text = echo_answer(last)
    return {"kind": "reply", "text": text}


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
    check(RunStep, step, call.where)
    call.state.put(steps_collection(run["id"]), step)
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


def _advance(call, run: dict, progress: dict) -> dict:
    """Apply one pending status change."""
    nxt = progress["pending"].pop(0)
    if nxt == "outcome":
        changes = _resolve(call, run, progress)
    elif nxt == "in_progress":
        changes = {"status": "in_progress", "started_at": run.get("started_at") or _now()}
    elif nxt == "cancelled":
        changes = {"status": "cancelled", "cancelled_at": _now(), "required_action": None}
    else:
        changes = {"status": nxt}
    progress["changed_at"] = time.time()
    run.update(changes)
    return run


def _catch_up(call, run: dict, progress: dict, polled: bool) -> None:
    interval = call.knob("progress", "polls")
    if interval == "polls":
        if polled and progress["pending"]:
            _advance(call, run, progress)
        return
    while progress["pending"] and time.time() - progress["changed_at"] >= float(interval):
        changed_at = progress["changed_at"]
        _advance(call, run, progress)
        progress["changed_at"] = changed_at + float(interval)


def _sequence_step(call, run: dict, progress: dict, op: str) -> bool:
    """Apply the profile's `sequence` for `op`, if it has one; True when it did."""
    sequence = call.knob("sequence")
    if isinstance(sequence, list):
        sequence = {"retrieve": sequence}
    entries = (sequence or {}).get(op)
    if not entries:
        return False
    used = progress.setdefault("sequence_used", {})
    index = min(used.get(op, 0), len(entries) - 1)
    used[op] = used.get(op, 0) + 1
    partial = entries[index]
    progress["pending"] = []  # the sequence decides, not the clock
    run.update(merge(run, partial))
    if run.get("status") == "completed" and progress["outcome"]["kind"] == "reply":
        run.update({k: v for k, v in _complete(call, run, progress).items() if k not in partial})
    elif run.get("status") == "requires_action" and not run.get("required_action") and progress["outcome"]["kind"] == "tool_calls":
        run.update(_resolve(call, run, progress))
    return True


def _save(call, run: dict, progress: dict) -> Reply:
    check(Run, run, call.where)
    with call.state.lock:
        call.state.put(collection(run["thread_id"]), run)
        call.state.put(_PROGRESS, progress)
    return Reply.json(200, run, {"openai-poll-after-ms": str(call.knob("poll_after_ms", 100))})


# -- endpoints -------------------------------------------------------------------------


def _thread_id(call) -> str:
    thread_id = call.request.params["thread_id"]
    if call.knob("validate_thread_exists", False):
        call.state.fetch(threads.COLLECTION, thread_id, "thread")
    return thread_id


def _start(call, thread_id: str, body: dict) -> Reply:
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
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
    }
    params.reject_stream(body)
    progress = {"id": run["id"], "thread_id": thread_id, "pending": ["in_progress", "outcome"],
                "outcome": _decide(call, thread_id, first_turn=True), "changed_at": time.time()}
    _sequence_step(call, run, progress, "create")
    return _save(call, run, progress)


def create(call) -> Any:
    return _start(call, _thread_id(call), params.json_body(call.request))


def create_thread_and_run(call) -> Any:
    body = params.json_body(call.request)
    thread = threads.new_thread(call, params.optional(body, "thread", dict, {}) or {})
    return _start(call, thread["id"], body)


def _load(call) -> tuple[dict, dict]:
    thread_id = _thread_id(call)
    run = call.state.fetch(collection(thread_id), call.request.params["run_id"], "run")
    progress = call.state.get(_PROGRESS, run["id"]) or {"id": run["id"], "pending": [], "outcome": {"kind": "reply"}, "changed_at": time.time()}
    return dict(run), dict(progress)


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
    if not _sequence_step(call, run, progress, "cancel"):
        if run["status"] in _TERMINAL or run["status"] == "cancelling":
            raise OpenAIError(400, f"Cannot cancel run with status '{run['status']}'.", param="run_id")
        run.update({"status": "cancelling", "required_action": None})
        progress["pending"] = ["cancelled"]
        progress["changed_at"] = time.time()
    return _save(call, run, progress)


def submit_tool_outputs(call) -> Any:
    body = params.json_body(call.request)
    outputs = params.require(body, "tool_outputs", list)
    run, progress = _load(call)
    _catch_up(call, run, progress, polled=False)
    if run["status"] not in _WAITING:
        raise OpenAIError(400, f'Runs in status "{run["status"]}" do not accept tool outputs.', param="tool_outputs")
    expected = {c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]}
    given = {o.get("tool_call_id") for o in outputs if isinstance(o, dict)}
    if given != expected:
        missing = sorted(expected - given)
        raise errors.invalid_value("tool_outputs", f"Expected tool outputs for call_ids {sorted(expected)}, got {sorted(g for g in given if g)}." + (f" Missing: {missing}." if missing else ""))
    by_id = {o["tool_call_id"]: o.get("output") for o in outputs}
    with call.state.lock:
        for step in call.state.all(steps_collection(run["id"])):
            if step["type"] == "tool_calls" and step["status"] == "in_progress":
                details = [dict(c, function=dict(c["function"], output=by_id.get(c["id"]))) for c in step["step_details"]["tool_calls"]]
                call.state.update(steps_collection(run["id"]), step["id"], {
                    "status": "completed", "completed_at": _now(), "step_details": {"type": "tool_calls", "tool_calls": details}})
    params.reject_stream(body)
    progress["outcome"] = _decide(call, run["thread_id"], first_turn=False)
    progress["pending"] = ["in_progress", "outcome"]
    progress["changed_at"] = time.time()
    run.update({"status": "queued", "required_action": None})
    _sequence_step(call, run, progress, "submit_tool_outputs")
    return _save(call, run, progress)


def list_steps(call) -> Any:
    run, _ = _load(call)
    return pages.page(call, steps_collection(run["id"]))


def retrieve_step(call) -> Any:
    run, _ = _load(call)
    return Reply.json(200, call.state.fetch(steps_collection(run["id"]), call.request.params["step_id"], "run step"))
