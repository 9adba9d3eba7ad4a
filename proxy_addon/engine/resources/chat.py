"""Chat completions: `POST /v1/chat/completions`, and the stored ones.

Knob: `choices`, a list of partial choices such as `{"message": {"content": "Hi"}}`.
Without one, the default answer is deterministic: it honours `response_format`
JSON schemas and forced tool calls, and otherwise restates the last user message.

With `store: true` the completion (with its `metadata`) and the request's
messages are kept, and these routes serve them: GET /v1/chat/completions (list,
filters `model` and `metadata[key]=value`), GET/POST/DELETE
/v1/chat/completions/{completion_id} (retrieve, update `metadata`, delete) and
GET /v1/chat/completions/{completion_id}/messages. Both lists default to
`order=asc`, as the real API's do.
"""

from __future__ import annotations

import json
import time
from typing import Any


from .. import errors, knobs, logprobs, pages, params, tokens
from ..bodies import check, echo_answer, function_call, merge, reply, stable_id
from ..streams import Event, choice_stream, sse
from ..wire import Reply
from .. import sdk
from .. import stores

RULE = "chat.completions"
KNOBS = {"choices": knobs.Partials, "stream": object}
DOCS = {
    "choices": knobs.Doc("one choice restating the last user message (a JSON example for a `response_format` schema, "
                         "a call for a forced tool), repeated to make `n`",
                         'Partial choices, e.g. `{"message": {"content": "Hi"}}` or `{"message": {"tool_calls": [{"function": '
                         '{"name": "f", "arguments": {...}}}]}}` (ids, `type` and `finish_reason: "tool_calls"` are filled in; '
                         "arguments may be a dict). Fewer choices than `n` are repeated to make `n`."),
    "stream": knobs.stream_doc("`stream: true` completions",
                               "each choice's content, refusal and tool-call arguments, in `data:` chunks"),
}

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}

COLLECTION = stores.CHAT_COMPLETIONS.path


def _messages(completion_id: str) -> str:
    """Where a stored completion's request messages are."""
    return stores.CHAT_MESSAGES.key(completion_id=completion_id)



def create(call) -> Any:
    body = params.json_body(call.request)
    model = params.require(body, "model", str)
    messages = params.require(body, "messages", list)
    if not messages:
        raise errors.invalid_value("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise errors.invalid_type(f"messages[{i}]", "an object", m)
        role = m.get("role")
        if type(role) is not str and role is not None:
            raise errors.invalid_type(f"messages[{i}].role", "a string", role)
        if role not in _ROLES:
            raise errors.invalid_value(f"messages[{i}].role", f"Invalid value: {m.get('role')!r}. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.")
        if len(m) > 2 or type(m.get("content")) is not str:  # the common message, {role, content: str}, needs no more
            _check_message(m, f"messages[{i}]")
    n = params.optional(body, "n", int, 1, minimum=1, maximum=128)
    params.sampling(body, penalties=True)
    params.integer(body, "max_tokens", minimum=1)
    params.integer(body, "max_completion_tokens", minimum=1)
    params.integer(body, "top_logprobs", minimum=0, maximum=20)
    params.optional(body, "logprobs", bool)
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        raise errors.invalid_value("top_logprobs", "Invalid value for 'top_logprobs': 'logprobs' must be set to true "
                                                   "when 'top_logprobs' is used.")
    if body.get("stop") is not None and type(body["stop"]) is not str:
        params.array(body["stop"], "stop", max_items=4, items=str)
    params.tools(body, params.CHAT_TOOLS)
    _check_tool_choice(body.get("tool_choice"))
    params.response_format(body)
    store = params.optional(body, "store", bool, False)
    metadata = params.metadata(body.get("metadata"))
    stream = params.wants_stream(body)
    stream_options = params.optional(body, "stream_options", dict, {})
    if stream_options and not stream:
        raise errors.invalid_value("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")

    rest, partial_choices = call.choices("message.content")
    # Only a profile, or a request's own tools (a forced call's name and arguments), can make an answer
    # the SDK would reject: plain defaults are valid by construction (tests/test_engine.py checks them),
    # and the check would cost a quarter of the call (bench/engine.py).
    checked = bool(rest) or partial_choices is not None or bool(body.get("tools"))
    if partial_choices is None:
        partial_choices = [_default_choice(body, messages)]
    # Fewer configured choices than `n`: repeat them, as a model would answer n times.
    while len(partial_choices) < n:
        partial_choices = partial_choices + partial_choices[: n - len(partial_choices)]

    choices = [_choice(i, p, call.where) for i, p in enumerate(partial_choices)]
    top = _logprobs_wanted(body)
    if top is not None:
        for c in choices:
            if c.get("logprobs") is None:
                content = c["message"].get("content")
                c["logprobs"] = logprobs.chat(content if isinstance(content, str) else None, c["message"].get("refusal"),
                                              top, model)
    completion_tokens = sum(_choice_tokens(c, model) for c in choices)
    prompt_tokens = tokens.count_messages(messages, model) + tokens.count_tools(body.get("tools"), model)
    cached = call.state.prompt_cache.cached(
        prompt_tokens, model, body.get("prompt_cache_key"), tools=body.get("tools"),
        turns=((m.get("role"), tokens.text_of(m.get("content"))) for m in messages if isinstance(m, dict)))
    data = {
        # A stored completion needs an id of its own, even for a request seen before.
        "id": call.state.new_id("chatcmpl-") if store else stable_id("chatcmpl-", call.request.body),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_openai_fake",
    }
    if not store:
        data = merge(data, rest)
        if checked:
            check(sdk.ChatCompletion, data, call.where)
        if stream:
            return call.stream(_chunks(data, call.pace, bool(stream_options.get("include_usage")), top),
                               usage=data.get("usage"))
        return Reply.json(200, data, usage=data.get("usage"))
    data["metadata"] = metadata if metadata is not None else {}
    data = merge(data, rest)
    if checked:
        check(sdk.ChatCompletion, data, call.where)
    cid = data["id"]
    stored = [_store_message(cid, i, m, call.where) for i, m in enumerate(messages)]
    with call.state.lock:
        call.state.replace_all(_messages(cid), stored)  # a handler's fixed id replaces an earlier completion whole
        call.state.put(COLLECTION, data)
    if stream:
        return call.stream(_chunks(data, call.pace, bool(stream_options.get("include_usage")), top),
                           usage=data.get("usage"))
    return Reply.json(200, data, usage=data.get("usage"))


def _check_message(message: dict, where: str) -> None:
    """The parts of a request message the fake reads or stores: content, tool calls, name, refusal."""
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        params.array(content, f"{where}.content")
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                raise errors.invalid_type(f"{where}.content[{j}]", "an object", part)
            if part.get("type") in ("text", "refusal"):
                field = part["type"]
                if part.get(field) is None:
                    raise errors.missing_param(f"{where}.content[{j}].{field}")
                params.text(part[field], f"{where}.content[{j}].{field}")
            elif part.get("type") == "image_url":
                image = params.obj(part.get("image_url"), f"{where}.content[{j}].image_url") or {}
                params.text(image.get("url"), f"{where}.content[{j}].image_url.url")
    for field in ("name", "tool_call_id", "refusal"):
        params.text(message.get(field), f"{where}.{field}")
    audio = params.obj(message.get("audio"), f"{where}.audio")
    if audio:
        params.text(audio.get("id"), f"{where}.audio.id")
    for k, call in enumerate(params.array(message.get("tool_calls"), f"{where}.tool_calls") or ()):
        at = f"{where}.tool_calls[{k}]"
        if not isinstance(call, dict):
            raise errors.invalid_type(at, "an object", call)
        if params.kind(call, at, params.CHAT_TOOLS) == "custom":
            params.obj(call.get("custom"), f"{at}.custom")
            continue
        fn = call.get("function")
        if fn is None:
            raise errors.missing_param(f"{at}.function")
        params.obj(fn, f"{at}.function")
        if call.get("id") is None:
            raise errors.missing_param(f"{at}.id")
        params.text(call["id"], f"{at}.id")
        for field in ("name", "arguments"):
            if fn.get(field) is None:
                raise errors.missing_param(f"{at}.function.{field}")
            params.text(fn[field], f"{at}.function.{field}")


def _check_tool_choice(choice: Any) -> None:
    """`tool_choice`: "none", "auto", "required", or an object naming a function (or a custom tool)."""
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise errors.invalid_value("tool_choice", f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.")
        return
    params.obj(choice, "tool_choice")
    kind = params.kind(choice, "tool_choice", ("function", "custom", "allowed_tools"))
    if kind in ("function", "custom"):
        named = choice.get(kind)
        if named is None:
            raise errors.missing_param(f"tool_choice.{kind}")
        params.obj(named, f"tool_choice.{kind}")
        params.text(named.get("name"), f"tool_choice.{kind}.name")


# -- streaming -----------------------------------------------------------------------


def _logprobs_wanted(body: dict) -> int | None:
    """How many `top_logprobs` per token when `logprobs: true` asks for log probabilities, else None."""
    return (body.get("top_logprobs") or 0) if body.get("logprobs") is True else None


def _chunks(completion: dict, pace, include_usage: bool, top: int | None = None) -> list[Event]:
    """`completion` as the chunks of a stream: per choice a role chunk, deltas cut by the pace
    (content, refusal, tool-call arguments), a finish chunk; choices interleaved; usage last when asked.
    With `top` (logprobs asked for), each content or refusal delta carries the logprobs of its own tokens."""
    head = {k: completion[k] for k in ("id", "created", "model", "service_tier", "system_fingerprint") if k in completion}
    head["object"] = "chat.completion.chunk"

    def chunk(index: int, delta: dict, finish: str | None = None) -> dict:
        said = None
        if top is not None and ("content" in delta or "refusal" in delta) and "role" not in delta:
            said = logprobs.chat(delta.get("content"), delta.get("refusal"), top, completion.get("model"))
        out = {**head, "choices": [{"index": index, "delta": delta, "logprobs": said, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None  # every chunk but the last, as the real API does
        return out

    per_choice: list[list[Event]] = []
    for choice in completion["choices"]:
        i = choice["index"]
        message = choice.get("message") or {}
        refusal, content = message.get("refusal"), message.get("content")
        first: dict = {"role": "assistant", "content": "" if refusal is None else None, "refusal": None}
        events = [Event(sse(chunk(i, first)))]
        said = i == 0  # the journal's summary tells the first choice
        for piece in pace.split(content or ""):
            events.append(Event(sse(chunk(i, {"content": piece})), True, piece if said else None))
        for piece in pace.split(refusal or ""):
            events.append(Event(sse(chunk(i, {"refusal": piece})), True, piece if said else None))
        for j, call in enumerate(message.get("tool_calls") or ()):
            fn = call["function"]
            events.append(Event(sse(chunk(i, {"tool_calls": [
                {"index": j, "id": call["id"], "type": "function", "function": {"name": fn["name"], "arguments": ""}}]})),
                call=fn["name"] if said else None))
            for piece in pace.split(fn["arguments"]):
                events.append(Event(sse(chunk(i, {"tool_calls": [{"index": j, "function": {"arguments": piece}}]})), True,
                                    piece if said else None))
        events.append(Event(sse(chunk(i, {}, choice.get("finish_reason") or "stop"))))
        per_choice.append(events)
    return choice_stream(per_choice, head, completion.get("usage"), include_usage)


# -- stored completions --------------------------------------------------------------


def not_found(completion_id: str) -> errors.OpenAIError:
    return errors.OpenAIError(404, f"No chat completion found with id '{completion_id}'.", param="completion_id")


def _stored(call) -> tuple[str, dict]:
    cid = call.request.params["completion_id"]
    obj = call.state.get(COLLECTION, cid)
    if obj is None:
        raise not_found(cid)
    return cid, obj


def list_completions(call) -> Any:
    query = call.request.query
    model = query.get("model") or None
    wanted = {key[len("metadata["):-1]: value for key, value in query.items()
              if key.startswith("metadata[") and key.endswith("]")}

    def where(obj: dict) -> bool:
        if model is not None and obj.get("model") != model:
            return False
        found = obj.get("metadata") or {}
        return all(found.get(k) == v for k, v in wanted.items())

    return pages.page(call, COLLECTION, default_order="asc", where=where if model or wanted else None)


def retrieve(call) -> Any:
    with call.state.lock:  # encode under the lock: the object is live
        return Reply.json(200, _stored(call)[1])


def update(call) -> Any:
    body = params.json_body(call.request)
    if "metadata" not in body:
        raise errors.missing_param("metadata")
    metadata = params.metadata(body["metadata"])
    unknown = sorted(set(body) - {"metadata"})
    if unknown:
        raise errors.OpenAIError(400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0],
                                 code="unknown_parameter")
    with call.state.lock:
        cid, _ = _stored(call)
        obj = call.state.update(COLLECTION, cid, {"metadata": metadata if metadata is not None else {}})
        return reply(sdk.ChatCompletion, obj, call.where)


def delete(call) -> Any:
    cid = call.request.params["completion_id"]
    with call.state.lock:
        if call.state.delete(COLLECTION, cid) is None:
            raise not_found(cid)
        call.state.drop(_messages(cid))
    return reply(sdk.ChatCompletionDeleted, {"id": cid, "object": "chat.completion.deleted", "deleted": True}, call.where)


def list_messages(call) -> Any:
    cid, _ = _stored(call)
    return pages.page(call, _messages(cid), default_order="asc")




def _store_message(cid: str, index: int, message: dict, where: str) -> dict:
    """A request message as the messages list gives it back: `{id, role, content, name, content_parts, ...}`."""
    content = message.get("content")
    parts = None
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and (
            (p.get("type") == "text" and isinstance(p.get("text"), str))
            or (p.get("type") == "image_url" and isinstance((p.get("image_url") or {}).get("url"), str)))]
        content = " ".join(p["text"] for p in parts if p["type"] == "text") or None
    elif not isinstance(content, str):
        content = None
    stored = {"id": f"{cid}-{index}", "role": message["role"], "content": content,
              "name": message.get("name"), "content_parts": parts}
    for key in ("refusal", "tool_calls", "function_call", "audio", "tool_call_id"):
        if message.get(key) is not None:
            stored[key] = message[key]
    # The SDK type inherits `role: Literal["assistant"]` from ChatCompletionMessage, yet the API stores
    # every role: check everything else.
    check(sdk.ChatCompletionStoreMessage, {**stored, "role": "assistant"}, where)
    return stored


def _choice(index: int, partial: Any, where: str) -> dict:
    if not isinstance(partial, dict):
        raise errors.OpenAIError(500, f"openai-fake: {where}: each choice must be a dict, not {type(partial).__name__}", type="server_error", headers={"x-should-retry": "false"})
    message = dict(partial.get("message") or {})
    calls = message.get("tool_calls")
    if calls:
        message["tool_calls"] = [_tool_call(index, j, c) for j, c in enumerate(calls)]
        message.setdefault("content", None)
    base = {
        "index": index,
        "finish_reason": "tool_calls" if calls else "stop",
        "logprobs": None,
        "message": {"role": "assistant", "content": "", "refusal": None, "annotations": []},
    }
    choice = merge(base, {**partial, "message": message})
    choice["index"] = index
    return choice


def _tool_call(choice: int, index: int, partial: dict) -> dict:
    fn = function_call(partial)
    return {
        "id": partial.get("id") or stable_id("call_", choice, index, fn.get("name"), fn["arguments"]),
        "type": "function",
        **{k: v for k, v in partial.items() if k not in ("id", "function")},
        "function": fn,
    }


def _choice_tokens(choice: dict, model: str) -> int:
    message = choice.get("message") or {}
    total = tokens.count(message.get("content") or "", model) + tokens.count(message.get("refusal") or "", model)
    for c in message.get("tool_calls") or ():
        total += tokens.count(c["function"].get("name", ""), model) + tokens.count(c["function"]["arguments"], model)
    return total


def _default_choice(body: dict, messages: list) -> dict:
    """A deterministic answer that fits what the request asked for."""
    forced = _forced_tool(body)
    if forced is not None:
        args = params.arguments_for(forced)
        return {"message": {"tool_calls": [{"function": {"name": forced.get("name", "tool"), "arguments": json.dumps(args)}}]}}
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        example = params.example_of(schema, "response_format", f"response_format '{fmt['json_schema'].get('name')}'")
        return {"message": {"content": json.dumps(example)}}
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return {"message": {"content": json.dumps({"answer": _echo(messages)})}}
    return {"message": {"content": _echo(messages)}}


def _forced_tool(body: dict) -> dict | None:
    tools = [t.get("function") for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice")
    if not tools or choice in (None, "auto", "none"):
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t.get("name") == name), tools[0])
    return tools[0]  # "required"


def _echo(messages: list) -> str:
    return echo_answer(next((tokens.text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""))


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "chat.completions.create": create,
    "chat.completions.list": list_completions,
    "chat.completions.retrieve": retrieve,
    "chat.completions.update": update,
    "chat.completions.delete": delete,
    "chat.completions.messages.list": list_messages,
}
