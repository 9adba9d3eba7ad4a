from __future__ import annotations

from typing import Any

from openai.types.beta.threads.run import Run

from ._base import answered, body_of, made

__all__ = ["run_from_create_request"]


def run_from_create_request(thread_id: str, request: Any, *, extra: dict | None = None) -> Run:
    """The run (queued) this create request starts on `thread_id` (a fresh id), `extra` over it. As in
    openai-responses, it does not take its assistant's model, instructions or tools: give them in `extra`."""
    data = answered("POST", f"/v1/threads/{thread_id}/runs", body_of(request))
    return made(Run, data, extra, prefix="run_")
