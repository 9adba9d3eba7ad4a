"""Chat completions: `POST /v1/chat/completions`.

Knob: `choices`, a list of partial choices such as `{"message": {"content": "Hi"}}`.
Without one, the default answer is deterministic: it honours `response_format`
JSON schemas and forced tool calls, and otherwise restates the last user message.
"""

from __future__ import annotations

import json
import time
from typing import Any

from openai.types.chat import ChatCompletion

from .. import errors, params, tokens
from ..bodies import merge, reply, stable_id
from ..examples import example

RULE = "chat.completions"
KNOBS = {"choices": list}

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def create(call) -> Any:
    body = params.json_body(call.request)
    model = params.require(body, "model", str)
    messages = params.require(body, "messages", list)
    if not messages:
        raise errors.invalid_value("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise errors.invalid_type(f"messages[{i}]", "an object", m)
        if m.get("role") not in _ROLES:
            raise errors.invalid_value(f"messages[{i}].role", f"Invalid value: {m.get('role')!r}. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.")
    n = params.optional(body, "n", int, 1, minimum=1, maximum=128)
    params.optional(body, "tools", list)
    params.reject_stream(body)

    rest, partial_choices = call.choices("message.content")
    if partial_choices is None:
        partial_choices = [_default_choice(body, messages)]
    # Fewer configured choices than `n`: repeat them, as a model would answer n times.
    while len(partial_choices) < n:
        partial_choices = partial_choices + partial_choices[: n - len(partial_choices)]

    choices = [_choice(i, p, call.where) for i, p in enumerate(partial_choices)]
    completion_tokens = sum(_choice_tokens(c) for c in choices)
    prompt_tokens = tokens.count_messages(messages)
    data = {
        "id": stable_id("chatcmpl-", call.request.body),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_openai_fake",
    }
    return reply(ChatCompletion, merge(data, rest), call.where)


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
    fn = dict(partial.get("function") or {})
    if not isinstance(fn.get("arguments", ""), str):
        fn["arguments"] = json.dumps(fn["arguments"])  # a dict is accepted for convenience
    fn.setdefault("arguments", "{}")
    return {
        "id": partial.get("id") or stable_id("call_", choice, index, fn.get("name"), fn["arguments"]),
        "type": "function",
        **{k: v for k, v in partial.items() if k not in ("id", "function")},
        "function": fn,
    }


def _choice_tokens(choice: dict) -> int:
    message = choice.get("message") or {}
    total = tokens.count(message.get("content") or "") + tokens.count(message.get("refusal") or "")
    for c in message.get("tool_calls") or ():
        total += tokens.count(c["function"].get("name", "")) + tokens.count(c["function"]["arguments"])
    return total


def _default_choice(body: dict, messages: list) -> dict:
    """A deterministic answer that fits what the request asked for."""
    forced = _forced_tool(body)
    if forced is not None:
        args = example(forced.get("parameters") or {"type": "object", "properties": {}})
        return {"message": {"tool_calls": [{"function": {"name": forced.get("name", "tool"), "arguments": json.dumps(args)}}]}}
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        return {"message": {"content": json.dumps(example(schema))}}
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
    last = next((tokens.text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    words = last.split()
    gist = " ".join(words[:12]) + (" ..." if len(words) > 12 else "")
    return f"This is a fake answer from openai-fake. You said: {gist}" if gist else "This is a fake answer from openai-fake."
