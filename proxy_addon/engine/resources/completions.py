"""Legacy completions: `POST /v1/completions`.

Knob: `choices`, a list of partial choices such as `{"text": "Hi"}`.
"""

from __future__ import annotations

import time
from typing import Any

from openai.types import Completion

from .. import params, tokens
from ..bodies import merge, reply, stable_id

RULE = "completions"
KNOBS = {"choices": list}


def create(call) -> Any:
    body = params.json_body(call.request)
    model = params.require(body, "model", str)
    prompt = params.require(body, "prompt", (str, list))
    n = params.optional(body, "n", int, 1, minimum=1, maximum=128)
    params.reject_stream(body)
    prompts = [prompt] if isinstance(prompt, str) else [p if isinstance(p, str) else "" for p in prompt] or [""]

    rest, partial_choices = call.choices("text")
    if partial_choices is None:
        # One answer per prompt and per n, as the real API does.
        partial_choices = [{"text": _continue(p)} for p in prompts for _ in range(n)]
    choices = [
        merge({"index": i, "text": "", "finish_reason": "stop", "logprobs": None}, dict(c, index=i))
        for i, c in enumerate(partial_choices)
    ]
    prompt_tokens = sum(tokens.count(p) for p in prompts)
    completion_tokens = sum(tokens.count(c.get("text") or "") for c in choices)
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
    return reply(Completion, merge(data, rest), call.where)


def _continue(prompt: str) -> str:
    return " and this is how openai-fake continues it." if prompt else "This is a fake completion from openai-fake."
