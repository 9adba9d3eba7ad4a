from __future__ import annotations

from typing import Any

from openai.types.beta.threads.message import Message

from ._base import answered, body_of, made, whole

__all__ = ["message_from_create_request", "build_message"]


def message_from_create_request(thread_id: str, request: Any, *, extra: dict | None = None) -> Message:
    """The message this create request adds to `thread_id` (a fresh id), `extra` over it."""
    data = answered("POST", f"/v1/threads/{thread_id}/messages", body_of(request))
    return made(Message, data, extra, prefix="msg_")


def build_message(partial: dict) -> Message:
    """A message from a partial: a fresh `msg_` id and `created_at` now, the fields it lacks filled in."""
    return whole(Message, partial, "msg_", "thread.message")
