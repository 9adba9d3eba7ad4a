"""Uploads: create, add parts, complete (a File whose content is the parts in order), cancel.

Routes: POST /v1/uploads, POST /v1/uploads/{upload_id}/parts, .../complete, .../cancel.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any


from .. import errors, forms, params
from ..bodies import reply
from ..wire import Reply
from . import files
from .. import sdk
from .. import stores

RULE = "uploads"
KNOBS: dict[str, type] = {}

COLLECTION = stores.UPLOADS.path


def _parts(upload_id: str) -> str:
    return stores.UPLOAD_PARTS.key(upload_id=upload_id)



def _get(state, upload_id: str) -> dict:
    obj = state.get(COLLECTION, upload_id)
    if obj is None:
        raise errors.OpenAIError(404, f"No such Upload object: {upload_id}", param="upload_id")
    return obj


def _pending(obj: dict, action: str) -> None:
    if obj["status"] != "pending":
        raise errors.OpenAIError(400, f"Cannot {action} an Upload with status '{obj['status']}'. The Upload must be pending.", param="upload_id")


def create(call) -> Any:
    body = params.json_body(call.request)
    filename = params.require(body, "filename", str)
    purpose = params.require(body, "purpose", str)
    size = params.require(body, "bytes", int)
    params.require(body, "mime_type", str)
    if purpose not in files.PURPOSES:
        raise errors.invalid_value("purpose", f"Invalid value for 'purpose': {purpose!r}.")
    now = int(time.time())
    obj = {
        "id": call.state.new_id("upload_"), "object": "upload", "bytes": size, "created_at": now,
        "expires_at": now + 3600, "filename": filename, "purpose": purpose, "status": "pending", "file": None,
    }
    call.state.put(COLLECTION, obj)
    return reply(sdk.Upload, obj, call.where)


def add_part(call) -> Any:
    upload = _get(call.state, call.request.params["upload_id"])
    _pending(upload, "add a part to")
    fields = forms.parse(call.request)
    if "data" not in fields:
        raise errors.missing_param("data")
    part = {"id": call.state.new_id("part_"), "object": "upload.part", "created_at": int(time.time()), "upload_id": upload["id"]}
    with call.state.lock:
        call.state.put_blob(part["id"], fields["data"].value)
        call.state.put(_parts(upload["id"]), part)
    return reply(sdk.UploadPart, part, call.where)


def complete(call) -> Any:
    body = params.json_body(call.request)
    part_ids = params.array(params.require(body, "part_ids", list), "part_ids", items=str)
    params.optional(body, "md5", str)
    upload = _get(call.state, call.request.params["upload_id"])
    state = call.state
    with state.lock:
        _pending(upload, "complete")
        chunks = []
        for part_id in part_ids:
            if state.get(_parts(upload["id"]), part_id) is None:
                raise errors.invalid_value("part_ids", f"No such part {part_id!r} in Upload {upload['id']}.")
            chunks.append(state.blob(part_id) or b"")
        content = b"".join(chunks)
        if len(content) != upload["bytes"]:
            raise errors.invalid_value("part_ids", f"The parts add up to {len(content)} bytes, but the Upload was created with bytes={upload['bytes']}.")
        md5 = body.get("md5")
        if md5 and hashlib.md5(content).hexdigest() != md5:
            raise errors.invalid_value("md5", "The md5 checksum does not match the uploaded bytes.")
        file = files.store(state, filename=upload["filename"], purpose=upload["purpose"], content=content)
        for part_id in list(state.all(_parts(upload["id"]))):
            state.delete_blob(part_id["id"])
        state.drop(_parts(upload["id"]))
        upload = state.update(COLLECTION, upload["id"], {"status": "completed", "file": file})
    return reply(sdk.Upload, upload, call.where)


def cancel(call) -> Any:
    state = call.state
    with state.lock:
        upload = _get(state, call.request.params["upload_id"])
        _pending(upload, "cancel")
        for part in state.all(_parts(upload["id"])):
            state.delete_blob(part["id"])
        state.drop(_parts(upload["id"]))
        upload = state.update(COLLECTION, upload["id"], {"status": "cancelled"})
    return Reply.json(200, upload)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "uploads.create": create,
    "uploads.parts.create": add_part,
    "uploads.complete": complete,
    "uploads.cancel": cancel,
}
