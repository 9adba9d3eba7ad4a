from __future__ import annotations

from typing import Any

from openai.types.beta.assistant import Assistant

from ._base import answered, body_of, made

__all__ = ["assistant_from_create_request"]


def assistant_from_create_request(request: Any, *, extra: dict | None = None) -> Assistant:
    """The assistant this create request makes (a fresh id), `extra` over it."""
    return made(Assistant, answered("POST", "/v1/assistants", body_of(request)), extra, prefix="asst_")
