from __future__ import annotations

from typing import Any

from openai.types.moderation_create_response import ModerationCreateResponse

from ._base import answered, body_of, made

__all__ = ["moderation_create_response_from_create_request"]


def moderation_create_response_from_create_request(request: Any, *, extra: dict | None = None) -> ModerationCreateResponse:
    """The moderation openai-responses answered this request with (no results), `extra` over it."""
    return made(ModerationCreateResponse, answered("POST", "/v1/moderations", body_of(request)), extra)
