from __future__ import annotations

from typing import Any

from openai.types.beta.thread import Thread

from ._base import answered, body_of, made

__all__ = ["thread_from_create_request"]


def thread_from_create_request(request: Any, *, extra: dict | None = None) -> Thread:
    """The thread this create request makes (a fresh id; its messages are not kept), `extra` over it."""
    body = body_of(request)
    body.pop("messages", None)
    return made(Thread, answered("POST", "/v1/threads", body), extra, prefix="thread_")
