from __future__ import annotations

import time
from typing import Any

from openai.types.vector_stores.vector_store_file import VectorStoreFile

from ._base import body_of, made

__all__ = ["vector_store_file_from_create_request"]


def vector_store_file_from_create_request(request: Any, *, extra: dict | None = None) -> VectorStoreFile:
    """The vector store file this create request attaches (completed; its id is the file's), `extra` over it."""
    body = body_of(request)
    path = str(getattr(getattr(request, "url", None), "path", None) or getattr(request, "path", ""))
    parts = path.strip("/").split("/")
    vs_id = parts[parts.index("vector_stores") + 1] if "vector_stores" in parts[:-1] else ""
    data = {"id": body.get("file_id", ""), "object": "vector_store.file", "usage_bytes": 0,
            "created_at": int(time.time()), "vector_store_id": vs_id, "status": "completed", "last_error": None,
            "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
            "attributes": body.get("attributes") or {}}
    return made(VectorStoreFile, data, extra)
