from __future__ import annotations

from typing import Any

from openai.types.chat.chat_completion import ChatCompletion

from ._base import answered, body_of, made

__all__ = ["chat_completion_from_create_request"]


def chat_completion_from_create_request(request: Any, *, extra: dict | None = None) -> ChatCompletion:
    """The completion the fake answers this create request with (restating the last user message), `extra` over it."""
    return made(ChatCompletion, answered("POST", "/v1/chat/completions", body_of(request)), extra)
