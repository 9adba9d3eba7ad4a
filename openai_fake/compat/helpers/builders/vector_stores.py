from __future__ import annotations

from typing import Any

from openai.types.vector_store import VectorStore

from ._base import answered, body_of, made

__all__ = ["vector_store_from_create_request"]


def vector_store_from_create_request(request: Any, *, extra: dict | None = None) -> VectorStore:
    """The vector store this create request makes (a fresh id; its `file_ids` are not attached), `extra` over it."""
    body = body_of(request)
    body.pop("file_ids", None)
    return made(VectorStore, answered("POST", "/v1/vector_stores", body), extra, prefix="vs_")
