"""Files: upload (multipart), list, retrieve, delete, and content (exactly the uploaded bytes).

Routes: POST/GET /v1/files, GET/DELETE /v1/files/{file_id}, GET /v1/files/{file_id}/content.
No knobs of its own; `failures`, `latency` and handlers work as everywhere.
"""

from __future__ import annotations

import time
from typing import Any


from .. import errors, forms, pages
from ..bodies import check, merge
from ..wire import Reply
from .. import sdk
from .. import stores

RULE = "files"
KNOBS: dict[str, type] = {}

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
COLLECTION = stores.FILES.path


def not_found(file_id: str) -> errors.OpenAIError:
    return errors.OpenAIError(404, f"No such File object: {file_id}", param="id")


def store(state, *, filename: str, purpose: str, content: bytes, file_id: str | None = None,
          partial: dict | None = None, where: str = "files") -> dict:
    """Keep a file and its bytes, once it is a valid FileObject (`partial`, a profile's, laid over it);
    shared with uploads, which end in a file."""
    obj = {
        "id": file_id or state.new_id("file-"),
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }
    if partial:
        obj = merge(obj, partial)
    # The SDK's FileObject lags the API here: "evals" is a purpose the API takes and answers.
    check(sdk.FileObject, {**obj, "purpose": "user_data"} if obj.get("purpose") == "evals" else obj, where)
    with state.lock:
        state.put_blob(obj["id"], content)
        state.put(COLLECTION, obj)
    return obj


def get(state, file_id: str) -> dict:
    """The stored file, or the real API's 404."""
    obj = state.get(COLLECTION, file_id)
    if obj is None:
        raise not_found(file_id)
    return obj


def create(call) -> Any:
    fields = forms.parse(call.request)
    if "file" not in fields:
        raise errors.missing_param("file")
    if "purpose" not in fields:
        raise errors.missing_param("purpose")
    purpose = fields["purpose"].text
    if purpose not in PURPOSES:
        raise errors.invalid_value("purpose", f"Invalid value for 'purpose': {purpose!r}. Supported values are: {', '.join(map(repr, PURPOSES))}.")
    upload = fields["file"]
    custom = call.custom()
    obj = store(call.state, filename=upload.filename or "file", purpose=purpose, content=upload.value,
                partial=custom if isinstance(custom, dict) else None, where=call.where)
    return Reply.json(200, obj)


def list_files(call) -> Any:
    purpose = call.request.query.get("purpose")
    where = (lambda f: f["purpose"] == purpose) if purpose else None
    return pages.page(call, COLLECTION, default_limit=10_000, max_limit=10_000, where=where)


def retrieve(call) -> Any:
    return Reply.json(200, get(call.state, call.request.params["file_id"]))


def delete(call) -> Any:
    file_id = call.request.params["file_id"]
    with call.state.lock:
        if call.state.delete(COLLECTION, file_id) is None:
            raise not_found(file_id)
        call.state.delete_blob(file_id)
    return Reply.json(200, {"id": file_id, "object": "file", "deleted": True})


def content(call) -> Any:
    file_id = call.request.params["file_id"]
    get(call.state, file_id)
    return Reply(200, call.state.blob(file_id) or b"", {"content-type": "application/octet-stream"})


def preload(state, partial: dict) -> None:
    """Store a file a profile declares up front: `{"id"?, "filename", "purpose"?, "content": str | bytes}`."""
    content = partial.get("content", b"")
    store(state, filename=partial.get("filename", "file.txt"), purpose=partial.get("purpose", "assistants"),
          content=content.encode() if isinstance(content, str) else bytes(content), file_id=partial.get("id"))


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "files.create": create,
    "files.list": list_files,
    "files.retrieve": retrieve,
    "files.delete": delete,
    "files.content": content,
}
