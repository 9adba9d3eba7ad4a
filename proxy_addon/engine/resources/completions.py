"""Legacy completions: `POST /v1/completions`.

Knob: `choices`, a list of partial choices such as `{"text": "Hi"}`.

`stream: true` answers `data: {text_completion chunk}` events: each choice's text
cut into pieces by the profile's pace, then a chunk with its `finish_reason`
(choices interleaved, as the real API sends several prompts or `n` > 1), then,
with `stream_options.include_usage`, a last chunk with `choices: []` and the
usage (every earlier chunk then has `usage: null`), and `data: [DONE]`.
"""

from __future__ import annotations

import time
from typing import Any


from .. import errors, knobs, logprobs, params, tokens
from ..bodies import check, merge, reply, stable_id
from ..streams import Event, Pace, choice_stream, sse
from .. import sdk

RULE = "completions"
KNOBS = {"choices": knobs.Partials, "stream": object}
DOCS = {
    "choices": knobs.Doc("one choice per prompt and per `n`, continuing it (`\" and this is how openai-fake continues it.\"`)",
                         'Partial choices, e.g. `{"text": "Hi"}` or `{"text": "Hi", "finish_reason": "length"}` (`index` and '
                         '`finish_reason: "stop"` are filled in): the answer\'s choices as given, whatever the prompts and `n`.'),
    "stream": knobs.stream_doc("`stream: true` completions", "each choice's text, in `data:` chunks"),
}


def create(call) -> Any:
    body = params.json_body(call.request)
    model = params.require(body, "model", str)
    prompt = params.require(body, "prompt", (str, list))
    _check_prompt(prompt)
    n = params.optional(body, "n", int, 1, minimum=1, maximum=128)
    best_of = params.integer(body, "best_of", minimum=0, maximum=20)
    if best_of is not None and best_of < n:
        raise errors.invalid_value("best_of", f"You requested best_of={best_of} and n={n}, but best_of must be greater than or equal to n.")
    params.sampling(body, penalties=True)
    params.integer(body, "max_tokens", minimum=0)
    params.integer(body, "logprobs", minimum=0, maximum=5)
    params.optional(body, "echo", bool)
    params.optional(body, "suffix", str)
    stream = params.wants_stream(body)
    stream_options = params.optional(body, "stream_options", dict, {})
    if stream_options and not stream:
        raise errors.invalid_value("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif prompt and type(prompt[0]) is int:  # one prompt, as token ids
        prompts = [""]
    else:
        prompts = [p if isinstance(p, str) else "" for p in prompt] or [""]

    rest, partial_choices = call.choices("text")
    if partial_choices is None:
        # One answer per prompt and per n, as the real API does.
        partial_choices = [{"text": _continue(p)} for p in prompts for _ in range(n)]
    choices = [
        merge({"index": i, "text": "", "finish_reason": "stop", "logprobs": None}, dict(c, index=i))
        for i, c in enumerate(partial_choices)
    ]
    top = body.get("logprobs")  # an int: log probabilities of the chosen tokens and this many alternatives
    if top is not None:
        for c in choices:
            if c.get("logprobs") is None:
                c["logprobs"] = logprobs.legacy(c.get("text") or "", top, model=model)
    prompt_tokens = sum(tokens.count(p, model) for p in prompts)
    completion_tokens = sum(tokens.count(c.get("text") or "", model) for c in choices)
    data = {
        "id": stable_id("cmpl-", call.request.body),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "system_fingerprint": "fp_openai_fake",
    }
    data = merge(data, rest)
    if stream:
        check(sdk.Completion, data, call.where)
        return call.stream(_chunks(data, call.pace, bool(stream_options.get("include_usage")), top),
                           usage=data.get("usage"))
    answer = reply(sdk.Completion, data, call.where)
    answer.usage = data.get("usage")
    return answer


#: Prompts per request. The API states no limit; this is the one embeddings state, and it bounds the
#: reply (n x prompts choices).
MAX_PROMPTS = 2048
_PROMPT_INVALID = "'$.prompt' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def _check_prompt(prompt: Any) -> None:
    """A string, or an array (at most 2048) of strings, of token ids, or of non-empty token-id arrays: not a mix."""
    if isinstance(prompt, str):
        return
    if len(prompt) > MAX_PROMPTS:
        raise errors.invalid_value("prompt", f"Invalid 'prompt': maximum prompt array size is {MAX_PROMPTS}.")
    if not prompt:
        return
    first = type(prompt[0])
    if first is str:
        ok = all(type(p) is str for p in prompt)
    elif first is int:
        ok = all(type(p) is int for p in prompt)
    elif first is list:
        ok = all(type(p) is list and p and all(type(t) is int for t in p) for p in prompt)
    else:
        ok = False
    if not ok:
        raise errors.invalid_value("prompt", _PROMPT_INVALID)


def _chunks(completion: dict, pace: Pace, include_usage: bool, top: int | None = None) -> list[Event]:
    """`completion` as the chunks of a stream: per choice its text cut by the pace, then a chunk
    with its `finish_reason`; choices interleaved; the usage last when asked. With `top` (`logprobs: N`),
    each chunk carries its own tokens' logprobs, offsets counted from the start of the choice's text."""
    head = {"id": completion["id"], "object": "text_completion"}
    head.update((k, completion[k]) for k in ("created", "model", "system_fingerprint") if k in completion)

    def chunk(index: int, text: str, finish: str | None = None, at: int = 0) -> dict:
        said = logprobs.legacy(text, top, at) if top is not None and finish is None else None
        out = {**head, "choices": [{"index": index, "text": text, "logprobs": said, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None  # every chunk but the last, as the real API does
        return out

    per_choice = []
    for choice in completion["choices"]:
        i = choice["index"]
        events, at = [], 0
        for piece in pace.split(choice.get("text") or ""):
            events.append(Event(sse(chunk(i, piece, at=at)), True, piece if i == 0 else None))
            at += len(piece)
        events.append(Event(sse(chunk(i, "", choice.get("finish_reason") or "stop"))))
        per_choice.append(events)
    return choice_stream(per_choice, head, completion.get("usage"), include_usage)


def _continue(prompt: str) -> str:
    return " and this is how openai-fake continues it." if prompt else "This is a fake completion from openai-fake."


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "completions.create": create,
}
