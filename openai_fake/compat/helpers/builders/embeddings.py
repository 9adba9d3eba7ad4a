from __future__ import annotations

from typing import Any

from openai.types.create_embedding_response import CreateEmbeddingResponse

from ._base import answered, body_of, made

__all__ = ["embedding_create_response_from_create_request"]


def embedding_create_response_from_create_request(request: Any, *, extra: dict | None = None) -> CreateEmbeddingResponse:
    """The embeddings the fake answers this create request with, `extra` over them."""
    return made(CreateEmbeddingResponse, answered("POST", "/v1/embeddings", body_of(request)), extra)
