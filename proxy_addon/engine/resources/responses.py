"""The Responses API (`client.responses`): create, streamed or not, and the stored responses.

Routes: POST /v1/responses (create), GET /v1/responses/{response_id} (retrieve;
with `?stream=true&starting_after=N` it replays the events after sequence number N),
DELETE /v1/responses/{response_id}, POST /v1/responses/{response_id}/cancel
(`background=true` responses only), GET /v1/responses/{response_id}/input_items
(the one pagination rule, `order=desc` by default as the real API) and
POST /v1/responses/input_tokens (`{"object": "response.input_tokens", "input_tokens": N}`).

What the model sees is its context: the chain of `previous_response_id` (each
earlier input and output), or the items of `conversation`, then this `input`.
`input_items` lists that context. A response with `conversation` appends its
input and output items to the conversation. `store` defaults to true, as the
real API's does; a stored streamed response keeps its events for replay.
`background=true` answers `queued`, then moves to `in_progress` and to its end
one step per retrieve (as runs do); cancel makes it `cancelled`.

Knobs (a handler's answer wins over them):

- `output_text`: the answer, as a string;
- `output`: the whole output, a list of partial items (`{"type": "message", "content": "Hi"}`,
  `{"type": "function_call", "name": "f", "arguments": {...}}`, `{"type": "reasoning", "summary": "..."}`,
  or any other item type the SDK knows); ids, call ids and statuses are filled in;
- `tool_calls`: functions to call, `[{"name": "get_weather", "arguments": {"city": "Oslo"}}]`
  (arguments default to an example of the tool's JSON schema). They answer a turn
  that does not already end in tool outputs, so the round trip ends;
- `reasoning`: True, or a summary string: a reasoning item before the answer, with
  its summary streamed, and `usage.output_tokens_details.reasoning_tokens`;
- `status`: "completed" (the default), "incomplete" (with `incomplete_details`
  `max_output_tokens`) or "failed" (with an `error`); a stream ends with
  `response.completed`, `response.incomplete` or `response.failed` to match.

A handler `(request, state)` may return a string (the answer text), a dict with any
of the knobs above and any Response fields to merge over the default (`usage`,
`metadata`, `incomplete_details`, ...), an SDK `Response`, or raise/return an
OpenAIError. `request.json["input"]` holds what the app sent, such as its
`function_call_output` items.

Without knobs, the default answer is deterministic: a forced function call when
`tool_choice` is "required" or names a function (arguments from its schema; on
every turn, after tool outputs too, as the API does), JSON matching a `text.format` json_schema, "The tool returned: ..." after tool
outputs, and otherwise a restatement of the last user message.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Literal


from .. import errors, knobs, lifecycle, logprobs, pages, params, tokens
from ..prompt_cache import PromptCache
from ..bodies import check, echo_answer, function_call, merge, problem, reply, stable_id
from ..errors import OpenAIError
from ..streams import Event, sse
from ..wire import Reply
from . import conversations
from .. import sdk
from .. import stores

RULE = "responses"
KNOBS = {**lifecycle.KNOBS, "output_text": str, "output": list[dict], "tool_calls": list[dict], "reasoning": (bool, str),
         "status": Literal["completed", "incomplete", "failed"], "stream": object}
DOCS = {
    **lifecycle.DOCS,
    "progress": knobs.Doc('`"polls"`', '`"polls"`: a `background=true` response moves one step per retrieve '
                          "(`queued`, `in_progress`, then its end; a streamed retrieve plays it to its end); a number: "
                          "one step every that many seconds, retrieved or not. Only background responses progress: the "
                          "others are finished in their create's answer."),
    "time_scale": lifecycle.UNCLOCKED,
    "fail_at": knobs.Doc("none: a background response reaches its `status`",
                         'The step at which a background response fails instead (`status: "failed"`, `error.code: '
                         '"server_error"`): `"in_progress"`, or `"done"` (where it would reach its final status). For '
                         'any response, `status="failed"` does it in the answer itself.'),
    "fail_message": knobs.Doc('`"The model failed to generate a response."`', "The `error.message` of a `fail_at` "
                              "failure."),
    "output_text": knobs.Doc("a restatement of the last user message of the context; a JSON example for a "
                             "`text.format` schema, a forced function's call, `The tool returned: ...` after tool outputs",
                             'The answer, as a string: one `message` item, e.g. `"Hello from the fake"`.'),
    "output": knobs.Doc("a message of `output_text`, then the `tool_calls`, else the default answer",
                        'The whole output, as partial items: `{"type": "message", "content": "Hi"}`, `{"type": '
                        '"function_call", "name": "f", "arguments": {...}}`, `{"type": "reasoning", "summary": "..."}` '
                        "or any item type the SDK knows; ids, call ids, statuses and content parts are filled in. It wins "
                        "over `output_text` and `tool_calls`."),
    "tool_calls": knobs.Doc("none, unless `tool_choice` forces a function: then its call, arguments made from its "
                            "schema",
                            'Functions to call, e.g. `[{"name": "get_weather", "arguments": {"city": "Oslo"}}]` '
                            "(arguments default to an example of the tool's schema): `function_call` items, after any "
                            "`output_text`. They answer only a turn that does not end in tool outputs, so that a round "
                            "trip ends."),
    "reasoning": knobs.Doc("no reasoning item", '`True` or a summary string: a `reasoning` item before the answer '
                           '(`True`: `"Thinking about how to answer: ..."`), streamed with its summary events and counted '
                           "in `usage.output_tokens_details.reasoning_tokens`."),
    "status": knobs.Doc('`"completed"`', 'The response\'s final status: `"completed"`, `"incomplete"` '
                        '(`incomplete_details.reason: "max_output_tokens"`) or `"failed"` (`error.code: '
                        '"server_error"`); a stream ends with `response.completed`, `.incomplete` or `.failed` to match.'),
    "stream": knobs.stream_doc("`stream: true` responses", "the text, refusal, function-call arguments and "
                               "reasoning-summary deltas of the Responses events"),
}

COLLECTION = stores.RESPONSES.path


def _inputs(response_id: str) -> str:
    """Where the context a response saw is kept (its input items)."""
    return stores.INPUT_ITEMS.key(response_id=response_id)


# {"id": response id, "events": [str, ...]}: a streamed response's events as sent, numbered by their place.
# Kept encoded: strings are not tracked by the garbage collector, and 23 nested dicts a response
# made every collection slower as responses piled up (bench/engine.py).
_EVENTS = stores.RESPONSE_EVENTS
_PENDING = stores.RESPONSE_PENDING  # {"id", "steps": [...], "final": {...}}: a background response's way to its end

# The stream's last event for each final status.
_FINAL = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}
# Parameters echoed into the response: checked here, so a wrong one is the client's 400, not the fake's 500.
_TYPED = {"instructions": str, "max_tool_calls": int, "parallel_tool_calls": bool, "truncation": str, "user": str,
          "tools": list, "tool_choice": (str, dict), "text": dict, "reasoning": dict, "prompt_cache_key": str,
          "safety_identifier": str}
_SHAPED = {"text": "ResponseTextConfig", "reasoning": "Reasoning", "tool_choice": "ToolChoice"}  # names in `sdk`
# A delta's text, per content part type: (the part's text field, the event type's stem).
_PART_TEXT = {"output_text": ("text", "response.output_text"), "refusal": ("refusal", "response.refusal")}


def not_found(response_id: str) -> OpenAIError:
    """The real API's 404 for an unknown (or unstored, or deleted) response."""
    return OpenAIError(404, f"Response with id '{response_id}' not found.")


def _fail(where: str, message: str) -> OpenAIError:
    return OpenAIError(500, f"openai-fake: {where}: {message}", type="server_error", headers={"x-should-retry": "false"})


# -- the request -------------------------------------------------------------------------


def _check_params(body: dict) -> None:
    """The 400s for parameters the response echoes back: their types, then their shapes."""
    for name, kind in _TYPED.items():
        if name in body:  # most are absent: no call for them
            params.optional(body, name, kind)
    params.sampling(body)
    params.integer(body, "max_output_tokens", minimum=16)
    params.integer(body, "top_logprobs", minimum=0, maximum=20)
    for name, model in _SHAPED.items():
        if body.get(name) is not None and (found := problem(getattr(sdk, model), body[name])) is not None:
            raise errors.invalid_value(name, f"Invalid '{name}': {found}")
    for i, tool in enumerate(body.get("tools") or ()):
        if not isinstance(tool, dict):
            raise errors.invalid_type(f"tools[{i}]", "an object", tool)
        params.kind(tool, f"tools[{i}]", params.union_types(sdk.Tool))
        if (found := problem(sdk.Tool, tool)) is not None:
            raise errors.invalid_value(f"tools[{i}]", f"Invalid 'tools[{i}]': {found}")


def _links(state, body: dict) -> tuple[dict | None, str | None]:
    """The previous response and the conversation id the request names, or the real API's errors."""
    previous_id = params.optional(body, "previous_response_id", str)
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if conversation is not None and not isinstance(conversation, str):
        raise errors.invalid_type("conversation", "a string or an object", body["conversation"])
    if previous_id and conversation:
        raise OpenAIError(400, "Mutually exclusive parameters: Ensure you are only providing one of: "
                               "'previous_response_id' or 'conversation'.", code="mutually_exclusive_parameters")
    previous = None
    if previous_id:
        previous = state.get(COLLECTION, previous_id)
        if previous is None:
            raise OpenAIError(400, f"Previous response with id '{previous_id}' not found.",
                              param="previous_response_id", code="previous_response_not_found")
    if conversation:
        conversations.fetch(state, conversation)
    return previous, conversation or None


def _context(state, body: dict) -> tuple[dict | None, str | None, list[dict], list[dict]]:
    """(previous response, conversation id, context, new input items): everything the model sees, in order."""
    previous, conversation = _links(state, body)
    raw = body.get("input")
    inputs = conversations.new_items(state, [] if raw is None else raw, "input")
    if previous is not None:
        earlier = state.all(_inputs(previous["id"])) + previous["output"]
    elif conversation is not None:
        earlier = state.all(conversations.items_collection(conversation))
    else:
        earlier = []
    context = earlier + inputs
    _check_tool_outputs(context)
    return previous, conversation, context, inputs


def _check_tool_outputs(context: list[dict]) -> None:
    """The real API's 400s: every function call needs its output, every output its call."""
    calls: list[str] = []
    answered: set[str] = set()
    for item in context:
        if item["type"] == "function_call":
            calls.append(item["call_id"])
        elif item["type"] == "function_call_output":
            if item["call_id"] not in calls:
                raise OpenAIError(400, f"No tool call found for function call output with call_id {item['call_id']}.",
                                  param="input")
            answered.add(item["call_id"])
    missing = next((c for c in calls if c not in answered), None)
    if missing is not None:
        raise OpenAIError(400, f"No tool output found for function call {missing}.", param="input")


def _text(item: dict) -> str:
    """An item's text, for token counts and for the default answer."""
    kind = item.get("type")
    if kind == "message":
        return tokens.text_of(item.get("content"))
    if kind == "function_call":
        return f"{item.get('name', '')} {item.get('arguments', '')}"
    if kind == "function_call_output":
        return tokens.text_of(item.get("output"))
    if kind == "reasoning":
        return " ".join(s.get("text", "") for s in item.get("summary") or ())
    return ""


def _input_tokens(context: list[dict], body: dict) -> int:
    """Input tokens: the context's items with a little framing each, the instructions and the tools."""
    model = body.get("model")
    framing = 3 + 3 * len(context)
    return (framing + sum(tokens.count(_text(i), model) for i in context)
            + tokens.count(body.get("instructions") or "", model) + tokens.count_tools(body.get("tools"), model))


# -- the answer ----------------------------------------------------------------------------


def _tool_results(context: list[dict]) -> list[dict]:
    """The function call outputs the context ends with (the app's answer to the last calls)."""
    results = []
    for item in reversed(context):
        if item["type"] != "function_call_output":
            break
        results.insert(0, item)
    return results


def _function_tools(body: dict) -> dict[str, dict]:
    return {t["name"]: t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"}


def _forced_tool(body: dict) -> dict | None:
    """The function tool `tool_choice` forces: "required" (the first one) or `{"type": "function", "name": ...}`."""
    tools = _function_tools(body)
    choice = body.get("tool_choice")
    if not tools:
        return None
    if choice == "required":
        return next(iter(tools.values()))
    if isinstance(choice, dict) and choice.get("type") == "function":
        return tools.get(choice.get("name"))
    return None


def _last_said(context: list[dict]) -> str:
    return next((_text(i) for i in reversed(context) if i["type"] == "message" and i.get("role") == "user"), "")


def _default(body: dict, context: list[dict]) -> dict:
    """A deterministic answer that fits the request: a partial output item."""
    results = _tool_results(context)
    forced = _forced_tool(body)
    if forced is not None:  # after tool outputs too, as the API does (hence the Agents SDK's reset_tool_choice)
        return {"type": "function_call", "name": forced["name"]}
    if results:
        said = "The tool returned: " + "; ".join(tokens.text_of(r["output"])[:500] for r in results)
    else:
        said = echo_answer(_last_said(context))
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        said = json.dumps(params.example_of(fmt.get("schema") or {}, "text.format.schema", f"response_format '{fmt.get('name')}'"))
    elif fmt.get("type") == "json_object":
        said = json.dumps({"answer": said})
    return {"type": "message", "content": said}


_SHAPING_KNOBS = ("output", "output_text", "tool_calls", "reasoning")
#: The request parameters a response echoes as they were sent, and what it says when one is left out.
_ECHOED = {"instructions": None, "max_output_tokens": None, "max_tool_calls": None, "parallel_tool_calls": True,
           "temperature": 1.0, "tool_choice": "auto", "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
           "user": None, "prompt_cache_key": None, "safety_identifier": None}


def planned(call, body: dict, context: list[dict]) -> tuple[list[dict], dict, bool]:
    """The handler's or the knobs' answer as (partial output items, partial Response to merge, whether the
    profile shaped it). Realtime answers its `response.create` with it too (`engine/realtime.py`)."""
    if call.rule is None:  # no rule for responses in the profile: no handler, no knobs, the default answer
        return [_default(body, context)], {}, False
    custom = call.custom()
    shaped = custom is not None or any(call.knob(k) is not None for k in _SHAPING_KNOBS)
    if isinstance(custom, str):
        custom = {"output_text": custom}
    rest = dict(custom) if isinstance(custom, dict) else {}
    # A handler that answers anything decides the whole output; otherwise the knobs do.
    own = {k: rest.pop(k) for k in ("output", "output_text", "tool_calls") if k in rest}
    reasoning = rest.pop("reasoning") if isinstance(rest.get("reasoning"), (bool, str)) else call.knob("reasoning")
    if not own:
        own = {k: call.knob(k) for k in ("output", "output_text")}
        if not _tool_results(context):  # tool calls answer a turn, not the tools' results
            own["tool_calls"] = call.knob("tool_calls")
    output = own.get("output")
    if output is not None and not isinstance(output, list):
        raise _fail(call.where, f"`output` must be a list of partial output items, not {type(output).__name__}")
    if output is None:
        output = []
        if own.get("output_text") is not None:
            output.append({"type": "message", "content": own["output_text"]})
        for c in own.get("tool_calls") or ():
            if not isinstance(c, dict):
                raise _fail(call.where, "each of `tool_calls` must be a dict such as "
                                        f"{{'name': 'f', 'arguments': {{}}}}, not {type(c).__name__}")
            output.append({"type": "function_call", **c})
        if not output:
            output.append(_default(body, context))
    if reasoning and not any(isinstance(i, dict) and i.get("type") == "reasoning" for i in output):
        summary = reasoning if isinstance(reasoning, str) else f"Thinking about how to answer: {echo_answer(_last_said(context))}"
        output = [{"type": "reasoning", "summary": summary}, *output]
    return output, rest, shaped


def output_item(partial: Any, index: int, response_id: str, body: dict, where: str) -> dict:
    """A partial output item made whole: ids, status, content parts, arguments as a JSON string."""
    if not isinstance(partial, dict):
        raise _fail(where, f"each output item must be a dict, not {type(partial).__name__}")
    kind = partial.get("type", "message")
    item = {"id": stable_id(conversations.PREFIX.get(kind, "item_"), response_id, index), "type": kind}
    if kind == "message":
        item.update(role="assistant", status="completed")
    elif kind == "function_call":
        item.update(call_id=stable_id("call_", response_id, index), status="completed")
    item.update(partial)
    if kind == "message":
        item["content"] = conversations.content_parts(item.get("content", ""), "assistant")
    elif kind == "function_call":
        if "arguments" not in item:
            tool = _function_tools(body).get(item.get("name"), {"name": item.get("name")})
            item["arguments"] = params.arguments_for(tool)
        item["arguments"] = function_call({"function": item})["arguments"]
    elif kind == "reasoning":
        summary = item.setdefault("summary", [])
        if isinstance(summary, str):
            item["summary"] = [{"type": "summary_text", "text": summary}]
    return item


def _usage(context: list[dict], output: list[dict], body: dict, cache: PromptCache | None = None) -> dict:
    """The response's usage; with `cache`, the input's cached part (`prompt_cache`) is reported too."""
    model = body.get("model")
    counts = [(i["type"], tokens.count(_text(i), model)) for i in output]
    reasoning = sum(n for kind, n in counts if kind == "reasoning")
    produced = sum(n for _, n in counts)
    used = _input_tokens(context, body)
    cached = cache.cached(used, model, body.get("prompt_cache_key"), tools=body.get("tools"),
                          instructions=body.get("instructions"),
                          turns=((i.get("role") or i.get("type"), _text(i)) for i in context)) if cache is not None else 0
    return {"input_tokens": used, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": produced, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": used + produced}


def _finish(data: dict) -> None:
    """Fill in what the final status implies: when it completed, why it is incomplete, what failed."""
    status = data["status"]
    if status == "completed":
        data["completed_at"] = data.get("completed_at") or int(time.time())
    elif status == "incomplete":
        data["incomplete_details"] = data.get("incomplete_details") or {"reason": "max_output_tokens"}
        for item in data["output"][-1:]:
            if item["type"] == "message" and item.get("status") == "completed":
                item["status"] = "incomplete"
    elif status == "failed":
        data["error"] = data.get("error") or {"code": "server_error", "message": "The model failed to generate a response."}


def _build(call, body: dict, response_id: str, context: list[dict], previous: dict | None,
           conversation: str | None) -> dict:
    """The finished response this request gets."""
    partials, rest, shaped = planned(call, body, context)
    output = [output_item(p, i, response_id, body, call.where) for i, p in enumerate(partials)]
    if "message.output_text.logprobs" in (body.get("include") or ()):
        top = body.get("top_logprobs") or 0
        for item in output:
            for part in item.get("content") or () if item["type"] == "message" else ():
                if part.get("type") == "output_text" and not part.get("logprobs"):
                    part["logprobs"] = logprobs.entries(part.get("text") or "", top, body.get("model"))
    status = rest.pop("status", None) or call.knob("status") or "completed"
    if status not in _FINAL:
        raise _fail(call.where, f"`status` must be one of {', '.join(map(repr, _FINAL))}, not {status!r}")
    data = {
        "id": response_id, "object": "response", "created_at": int(time.time()), "status": status,
        "background": bool(body.get("background")), "completed_at": None, "error": None, "incomplete_details": None,
        "model": body["model"], "output": output,
        "previous_response_id": previous["id"] if previous else None,
        "conversation": {"id": conversation} if conversation else None,
        "reasoning": merge({"effort": None, "summary": None}, body.get("reasoning") or {}),
        "service_tier": "default", "store": body.get("store") is not False,
        "text": merge({"format": {"type": "text"}, "verbosity": "medium"}, body.get("text") or {}),
        "tools": body.get("tools") or [], "usage": _usage(context, output, body, call.state.prompt_cache),
        "metadata": params.metadata(body.get("metadata")) or {},
        **_ECHOED, **{name: value for name, value in body.items() if name in _ECHOED and value is not None},
    }
    data = merge(data, rest)
    _finish(data)
    if shaped:
        # Only a profile can make a response the SDK would reject; the defaults are valid by construction
        # (tests/test_engine_responses.py checks them), and checking costs more than building (bench/engine.py).
        check(sdk.Response, data, call.where)
    return data


def _waiting(response: dict, status: str) -> dict:
    """`response` as it looks before it has any output: queued or in progress."""
    return {**response, "status": status, "output": [], "usage": None, "completed_at": None, "error": None,
            "incomplete_details": None}


# -- streams -------------------------------------------------------------------------------


def _events(response: dict, split: Callable[[str], list[str]]) -> list[dict]:
    """A finished response as the events of its stream, numbered 0, 1, 2... (deltas cut by `split`)."""
    events: list[dict] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, **fields, "sequence_number": len(events)})

    first = "queued" if response.get("background") else "in_progress"
    emit("response.created", response=_waiting(response, first))
    if first == "queued":
        emit("response.queued", response=_waiting(response, "queued"))
    emit("response.in_progress", response=_waiting(response, "in_progress"))
    for index, item in enumerate(response["output"]):
        at = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        if kind == "message":
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
            for c, part in enumerate(item["content"]):
                where = {**at, "content_index": c}
                field, stem = _PART_TEXT.get(part.get("type"), (None, None))
                if field is None:
                    emit("response.content_part.added", **where, part=part)
                else:
                    # Logprobs asked for (`include`): each delta carries its own tokens', the done event all.
                    asked = field == "text" and bool(part.get("logprobs"))
                    top = response.get("top_logprobs") or 0
                    emit("response.content_part.added", **where, part={**part, field: ""})
                    for piece in split(part[field]):
                        extra = ({"logprobs": logprobs.entries(piece, top, response.get("model")) if asked else []}
                                 if field == "text" else {})
                        emit(f"{stem}.delta", **where, delta=piece, **extra)
                    done = {"logprobs": part.get("logprobs") or []} if field == "text" else {}
                    emit(f"{stem}.done", **where, **{field: part[field]}, **done)
                emit("response.content_part.done", **where, part=part)
        elif kind == "function_call":
            emit("response.output_item.added", output_index=index, item={**item, "arguments": "", "status": "in_progress"})
            for piece in split(item["arguments"]):
                emit("response.function_call_arguments.delta", **at, delta=piece)
            emit("response.function_call_arguments.done", **at, name=item["name"], arguments=item["arguments"])
        elif kind == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            for s, part in enumerate(item["summary"]):
                where = {**at, "summary_index": s}
                emit("response.reasoning_summary_part.added", **where, part={**part, "text": ""})
                for piece in split(part["text"]):
                    emit("response.reasoning_summary_text.delta", **where, delta=piece)
                emit("response.reasoning_summary_text.done", **where, text=part["text"])
                emit("response.reasoning_summary_part.done", **where, part=part)
        else:
            emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    if response["status"] in _FINAL:  # a cancelled response just stops
        emit(_FINAL[response["status"]], response=response)
    return events


def _error_event(error: OpenAIError, sequence: int) -> bytes:
    """The Responses stream's own error event."""
    return sse({"type": "error", "code": error.code or error.type, "message": error.message, "param": error.param,
                "sequence_number": sequence}, event="error")


def _encoded(events: list[dict]) -> list[Event]:
    return [Event(sse(e, event=e["type"]), e["type"].endswith(".delta"), *_said(e)) for e in events]


def _said(event: dict) -> tuple[str | None, str | None]:
    """(text, call) an event carries for the journal's summary: a text, refusal or arguments delta; a
    function call it starts."""
    kind = event["type"]
    if kind in ("response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta"):
        return event.get("delta"), None
    if kind == "response.output_item.added" and event["item"].get("type") == "function_call":
        return None, event["item"].get("name")
    return None, None


def _decoded(stored: dict) -> list[Event]:
    """Stored events back as Events, with what each said (a state file from before they were kept encoded
    holds dicts)."""
    texts = stored["events"]
    if texts and isinstance(texts[0], dict):
        return _encoded(texts)
    said = stored.get("said") or [(None, None)] * len(texts)
    return [Event(t.encode(), t.split("\n", 1)[0].endswith(".delta"), *s) for t, s in zip(texts, said)]


def _stream(call, events: list[Event], offset: int = 0, usage: dict | None = None) -> Reply:
    """A streamed reply of `events`, the first numbered `offset` (the tail of a stored stream keeps its numbers);
    `usage`: the tokens it generated (a create's; a stored stream's were counted when it was made)."""
    return call.stream(events, lambda error, index: _error_event(error, offset + index), usage)


# -- endpoints -----------------------------------------------------------------------------


def create(call) -> Any:
    """POST /v1/responses: the answer, whole or streamed; stored unless `store=false`."""
    body = params.json_body(call.request)
    params.require(body, "model", str)
    _check_params(body)
    store = params.optional(body, "store", bool, True)
    background = params.optional(body, "background", bool, False)
    stream = params.wants_stream(body)
    if background and not store:
        raise errors.invalid_value("background", "Background mode requires 'store' to be true.")
    previous, conversation, context, inputs = _context(call.state, body)
    # A stored response needs an id of its own, even for a request seen before.
    response_id = call.state.new_id("resp_") if store else stable_id("resp_", call.request.body)
    data = _build(call, body, response_id, context, previous, conversation)
    events = _encoded(_events(data, call.pace.split)) if stream else None
    answer = data
    if store:
        # A background response that is not streamed is worked on between retrieves.
        pending = background and not stream
        if pending:
            answer = _waiting(data, "queued")
        with call.state.lock:
            call.state.replace_all(_inputs(response_id), context)  # a handler's fixed id replaces an earlier response whole
            call.state.put(COLLECTION, answer)
            if pending:
                call.state.put(_PENDING, lifecycle.start({"id": response_id, "final": data}, ["in_progress", "done"]))
            if events is not None:
                call.state.put(_EVENTS, {"id": response_id, "events": [e.data.decode() for e in events],
                                         "said": [(e.text, e.call) for e in events]})
            if conversation is not None:
                conversations.append(call.state, conversation, inputs + ([] if pending else data["output"]), call.where)
            if background and not pending:  # streamed: it has ended already
                lifecycle.emit(call, f"response.{data['status']}", response_id)
    if events is not None:
        return _stream(call, events, usage=data.get("usage"))
    return Reply.json(200, answer, usage=data.get("usage"))


def _load(call) -> dict:
    """The stored response the path names, or the real API's 404."""
    response_id = call.request.params["response_id"]
    response = call.state.get(COLLECTION, response_id)
    if response is None:
        raise not_found(response_id)
    return response


def _advance(call, response: dict, to_the_end: bool) -> dict:
    """A background response's steps that have come due on the one lifecycle (all of them, `to_the_end`, for
    a stream that plays it out): in progress, then its final state (or `failed`, at the profile's `fail_at`)."""
    pending = call.state.get(_PENDING, response["id"])
    if pending is None:
        return response
    pending = {"changed_at": time.time(), **pending, "steps": list(pending["steps"])}  # changed_at: an older record
    steps = [pending["steps"].pop(0) for _ in list(pending["steps"])] if to_the_end else list(lifecycle.due(call, pending, True))
    for step in steps:
        if step == "in_progress":
            response = _waiting(response, "in_progress")
        elif step == "failed":
            response = {**_waiting(response, "failed"), "error": {
                "code": "server_error", "message": lifecycle.fail_message(call, "The model failed to generate a response.")}}
        else:
            response = pending["final"]
            conversation = (response.get("conversation") or {}).get("id")
            if conversation and call.state.get(conversations.COLLECTION, conversation) is not None:
                conversations.append(call.state, conversation, response["output"], call.where)
    if steps:
        call.state.put(COLLECTION, response)
    if response["status"] in ("queued", "in_progress"):
        call.state.put(_PENDING, pending)
    else:
        call.state.delete(_PENDING, response["id"])
        lifecycle.emit(call, f"response.{response['status']}", response["id"])
    return response


def _tick(call, record: dict) -> None:
    """A background response moved on by time, nobody polling it (`responses(progress=<seconds>)`)."""
    response = call.state.get(COLLECTION, record["id"])
    if response is None:
        call.state.delete(_PENDING, record["id"])
    else:
        _advance(call, response, to_the_end=False)


lifecycle.register("responses", lifecycle.Kind(store=_PENDING, route="responses.retrieve",
                                               path=lambda record: f"/v1/responses/{record['id']}", catch_up=_tick))


def retrieve(call) -> Any:
    """GET /v1/responses/{response_id}: the response, or with `stream=true` its events after `starting_after`."""
    query = call.request.query
    streamed = str(query.get("stream", "")).lower() == "true"
    raw_after = query.get("starting_after")
    try:
        after = -1 if raw_after in (None, "") else int(raw_after)
    except ValueError:
        raise errors.invalid_type("starting_after", "an integer", raw_after) from None
    with call.state.lock:  # encode under the lock: the object is live
        response = _advance(call, _load(call), to_the_end=streamed)
        if not streamed:
            return Reply.json(200, response)
        stored = call.state.get(_EVENTS, response["id"])
        events = _decoded(stored) if stored else _encoded(_events(response, call.pace.split))
    start = max(after + 1, 0)
    return _stream(call, events[start:], start)


def delete(call) -> Any:
    """DELETE /v1/responses/{response_id}: the response, its input items and its events."""
    response_id = call.request.params["response_id"]
    with call.state.lock:
        if call.state.delete(COLLECTION, response_id) is None:
            raise not_found(response_id)
        call.state.drop(_inputs(response_id))
        call.state.delete(_EVENTS, response_id)
        call.state.delete(_PENDING, response_id)
    return Reply.json(200, {"id": response_id, "object": "response", "deleted": True})


def cancel(call) -> Any:
    """POST /v1/responses/{response_id}/cancel: a background response still under way becomes `cancelled`."""
    with call.state.lock:
        response = _load(call)
        if not response.get("background"):
            raise OpenAIError(400, "Cannot cancel a synchronous response.")
        if call.state.delete(_PENDING, response["id"]) is not None:  # still under way: stop it
            response = call.state.put(COLLECTION, {**response, "status": "cancelled"})
            lifecycle.emit(call, "response.cancelled", response["id"])
        return reply(sdk.Response, response, call.where)  # a finished one stays as it is


def list_input_items(call) -> Any:
    """GET /v1/responses/{response_id}/input_items: the context the model saw, newest first by default."""
    response = _load(call)
    return pages.page(call, _inputs(response["id"]), default_order="desc")


def input_tokens(call) -> Any:
    """POST /v1/responses/input_tokens: what `usage.input_tokens` of the same request would be."""
    body = params.json_body(call.request)
    params.optional(body, "model", str)
    _check_params(body)
    _, _, context, _ = _context(call.state, body)
    return reply(sdk.InputTokenCountResponse, {"object": "response.input_tokens",
                                           "input_tokens": _input_tokens(context, body)}, call.where)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "responses.create": create,
    "responses.input_tokens.count": input_tokens,
    "responses.retrieve": retrieve,
    "responses.delete": delete,
    "responses.cancel": cancel,
    "responses.input_items.list": list_input_items,
}
