"""Containers (the code interpreter's sandboxes) and their files: made, listed, used, and expired on the
fake's clock.

- `POST /v1/containers`: `name` (required), `expires_after` ({anchor: "last_active_at", minutes}; 20 minutes
  by default), `file_ids` (uploaded files, copied in), `memory_limit` ("1g" by default), `network_policy`,
  `skills`, checked as the API checks them. A container answers `status: "running"`.
- Files: `POST /v1/containers/{id}/files` takes a multipart upload (`file`) or, as JSON, the `file_id` of an
  uploaded file, whose bytes are copied. A container file has `path` `/mnt/data/<32 hex>-<filename>` (the
  shape of the API's own example: the prefix keeps two uploads of one name apart) and `source: "user"`; its
  content is the bytes, byte for byte, with the media type its name says (`text/csv`, `image/png`, ...).
- **Expiry.** A container expires `expires_after.minutes` after its last activity, on the fake's clock
  (`time_scale`: with `containers(time_scale=12000)` 20 minutes pass in 0.1 s). Every call naming it (a
  retrieve, a file created, listed, read or deleted) is activity and moves `last_active_at`; listing
  containers is not. An expired container keeps answering retrieve and list, with `status: "expired"`, and
  can be deleted; its files are gone, and any call on its files answers the API's
  400 `Container is expired.` (the API's words, `param` null, as it answers a Responses call that uses one).

Knobs: `time_scale` only (lifecycle's): nothing in a container steps by polls or fails at a step, so the
other lifecycle knobs would be accepted and do nothing.
"""

from __future__ import annotations

import hashlib
import mimetypes
import time
from typing import Any

from .. import errors, forms, knobs, lifecycle, pages, params, stores, table, validation
from ..bodies import check, merge, problem
from ..errors import OpenAIError
from ..instances import resolve
from ..wire import Reply
from . import files

RULE = "containers"
KNOBS = {"time_scale": lifecycle.KNOBS["time_scale"]}
DOCS = {
    "time_scale": knobs.Doc("`1` (real time)", "How much faster than real time the containers' clock runs, for "
                            "`expires_after` and `last_active_at`, e.g. `12000`: a container's 20 minutes pass in "
                            "0.1 s. Containers take no other lifecycle knob: nothing in them steps."),
}

COLLECTION = stores.CONTAINERS.path
ACTIVITY = stores.CONTAINER_ACTIVITY
DEFAULT_MINUTES = 20  # the API's default expiry, after the last activity
MEMORY_LIMITS = ("1g", "4g", "16g", "64g")
_ROWS = {row.name: row for row in table.ROWS if row.name.startswith("containers.")}


def _type(name: str):
    return resolve(_ROWS[name].returns)


def not_found(container_id: str) -> OpenAIError:
    return errors.no_such("container", container_id)


def expired() -> OpenAIError:
    return OpenAIError(400, "Container is expired.")


def _files_key(container_id: str) -> str:
    return stores.CONTAINER_FILES.key(container_id=container_id)


def _blob_key(container_id: str, file_id: str) -> str:
    return f"{_files_key(container_id)}/{file_id}"  # under the container's path: its delete takes the bytes along


# -- the container's clock ----------------------------------------------------------------


def _catch_up(call, container: dict) -> dict:
    """The container, expired (its files gone) when its time since the last activity is up. Call under the lock."""
    record = call.state.get(ACTIVITY, container["id"])
    if container["status"] != "running" or record is None:
        return container
    minutes = (container.get("expires_after") or {}).get("minutes") or DEFAULT_MINUTES
    scale = float(call.knob("time_scale", 1) or 1)
    if (time.time() - record["active_at"]) * scale < minutes * 60:
        return container
    container = dict(container, status="expired")
    call.state.put(COLLECTION, container)
    call.state.drop_under(f"{COLLECTION}/{container['id']}/")  # its files and their bytes
    return container


def _active(call, container: dict) -> dict:
    """The container after a call that used it: `last_active_at` is now, on the fake's clock."""
    now = time.time()
    record = call.state.get(ACTIVITY, container["id"])
    if record is None:  # a container stored some other way (a state file from before): its clock starts now
        record = {"id": container["id"], "started_at": now}
    record = dict(record, active_at=now)
    call.state.put(ACTIVITY, record)
    container = dict(container, last_active_at=lifecycle.fake_time(call, record, now))
    call.state.put(COLLECTION, container)
    return container


def _load(call, *, use: bool) -> dict:
    """The path's container, caught up; with `use`, a running one (else the API's 400), marked active."""
    container_id = call.request.params["container_id"]
    container = call.state.get(COLLECTION, container_id)
    if container is None:
        raise not_found(container_id)
    container = _catch_up(call, container)
    if use:
        if container["status"] == "expired":
            raise expired()
        container = _active(call, container)
    return container


# -- containers ---------------------------------------------------------------------------


def _file_ids(body: dict) -> list[str]:
    found = params.array(body.get("file_ids"), "file_ids", items=str) or []
    return [str(f) for f in found]


def create(call) -> Any:
    """POST /v1/containers: a running container, with the uploaded files `file_ids` names copied in."""
    body = params.json_body(call.request)
    if call.profile.validate_requests:
        file_ids = _file_ids(body)
        validation.validate(_ROWS["containers.create"], body)
        minutes = params.integer(body.get("expires_after") or {}, "minutes", minimum=1, param="expires_after.minutes")
    else:
        ids = body.get("file_ids")
        file_ids = [f for f in ids if isinstance(f, str)] if isinstance(ids, list) else []
        given = (body.get("expires_after") or {}).get("minutes") if isinstance(body.get("expires_after"), dict) else None
        minutes = given if type(given) is int and given > 0 else None
    sources = []
    for i, file_id in enumerate(file_ids):
        source = call.state.get(files.COLLECTION, file_id)
        if source is None:
            raise OpenAIError(404, f"No such File object: {file_id}", param=f"file_ids[{i}]")
        sources.append(source)
    custom = call.custom()
    if custom is not None and not isinstance(custom, dict):
        raise call.unfit(custom)
    now = time.time()
    container = {
        "id": call.state.new_id("cntr_"), "object": "container", "created_at": int(now), "status": "running",
        "expires_after": {"anchor": "last_active_at", "minutes": minutes or DEFAULT_MINUTES},
        "last_active_at": int(now), "memory_limit": body["memory_limit"] if body.get("memory_limit") in MEMORY_LIMITS else "1g",
        "name": str(body.get("name", "")),
    }
    policy = body.get("network_policy")
    # Sent only when set, as the API's examples show it (one `validate_requests=False` let through odd is left out).
    if isinstance(policy, dict) and problem(_type("containers.create"), {**container, "network_policy": policy}) is None:
        container["network_policy"] = policy
    container = merge(container, custom or {})
    check(_type("containers.create"), container, call.where)
    with call.state.lock:
        call.state.put(COLLECTION, container)
        call.state.put(ACTIVITY, {"id": container["id"], "started_at": now, "active_at": now})
        for source in sources:
            _store_file(call, container, filename=source["filename"], content=call.state.blob(source["id"]) or b"")
    return Reply.json(200, container)


def retrieve(call) -> Any:
    """GET /v1/containers/{id}: the container (a read is activity), or `expired` once its time is up."""
    with call.state.lock:
        container = _load(call, use=False)
        if container["status"] == "running":
            container = _active(call, container)
        return Reply.json(200, container)


def list_containers(call) -> Any:
    """GET /v1/containers: newest first, `name` filters; listing is no activity (it keeps nothing alive)."""
    name = call.request.query.get("name")
    with call.state.lock:
        for container in call.state.all(COLLECTION):
            _catch_up(call, container)
        return pages.page(call, COLLECTION, where=(lambda c: c["name"] == name) if name else None)


def delete(call) -> Any:
    """DELETE /v1/containers/{id}: the container and its files, expired or not."""
    container_id = call.request.params["container_id"]
    with call.state.lock:
        if call.state.delete_tree(COLLECTION, container_id) is None:
            raise not_found(container_id)
        call.state.delete(ACTIVITY, container_id)
    return Reply.json(200, {"id": container_id, "object": "container.deleted", "deleted": True})


# -- container files ----------------------------------------------------------------------


def _store_file(call, container: dict, *, filename: str, content: bytes, partial: dict | None = None) -> dict:
    file_id = call.state.new_id("cfile_")
    prefix = hashlib.blake2b(file_id.encode(), digest_size=16).hexdigest()
    obj = {"id": file_id, "object": "container.file", "created_at": int(time.time()), "bytes": len(content),
           "container_id": container["id"], "path": f"/mnt/data/{prefix}-{filename}", "source": "user"}
    if partial:
        obj = merge(obj, partial)
    check(_type("containers.files.create"), obj, call.where)
    call.state.put_blob(_blob_key(container["id"], file_id), content)
    call.state.put(_files_key(container["id"]), obj)
    return obj


def _upload(call) -> tuple[str, bytes]:
    """What a file create names: a multipart `file`, or the JSON `file_id` of an uploaded file."""
    if call.request.headers.get("content-type", "").lower().startswith("multipart/"):
        fields = forms.parse(call.request)
        names = {name.split("[", 1)[0] for name in fields}
        if call.profile.validate_requests:
            validation.unknown_fields(_ROWS["containers.files.create"], dict.fromkeys(names))
        upload, file_id = fields.get("file"), fields.get("file_id")
        if upload is not None and file_id is not None:
            raise errors.invalid_value("file_id", "Provide either 'file' or 'file_id', not both.")
        if upload is not None:
            return upload.filename or "file", upload.value
        file_id = file_id.text if file_id is not None else None
    else:
        body = params.json_body(call.request)
        if call.profile.validate_requests:
            validation.unknown_fields(_ROWS["containers.files.create"], body)
            if "file" in body:  # bytes cannot travel in JSON
                raise errors.invalid_value("file", "A file's content must be sent as a multipart/form-data upload.")
        file_id = params.text(body.get("file_id"), "file_id")
    if not file_id:
        raise OpenAIError(400, "Missing required parameter: 'file' or 'file_id'.", param="file",
                          code="missing_required_parameter")
    source = call.state.get(files.COLLECTION, file_id)
    if source is None:
        raise OpenAIError(404, f"No such File object: {file_id}", param="file_id")
    return source["filename"], call.state.blob(file_id) or b""


def create_file(call) -> Any:
    """POST /v1/containers/{id}/files: an uploaded file's bytes, or a copy of an uploaded file, in the container."""
    with call.state.lock:
        container = _load(call, use=True)
        filename, content = _upload(call)
        custom = call.custom()
        if custom is not None and not isinstance(custom, dict):
            raise call.unfit(custom)
        return Reply.json(200, _store_file(call, container, filename=filename, content=content, partial=custom))


def list_files(call) -> Any:
    """GET /v1/containers/{id}/files: newest first."""
    with call.state.lock:
        container = _load(call, use=True)
        return pages.page(call, _files_key(container["id"]))


def _file(call, container: dict) -> dict:
    file_id = call.request.params["file_id"]
    obj = call.state.get(_files_key(container["id"]), file_id)
    if obj is None:
        raise errors.no_such("file", file_id)
    return obj


def retrieve_file(call) -> Any:
    """GET /v1/containers/{id}/files/{file_id}."""
    with call.state.lock:
        return Reply.json(200, _file(call, _load(call, use=True)))


def delete_file(call) -> Any:
    """DELETE /v1/containers/{id}/files/{file_id}: the file and its bytes."""
    with call.state.lock:
        container = _load(call, use=True)
        obj = _file(call, container)
        call.state.delete(_files_key(container["id"]), obj["id"])
        call.state.delete_blob(_blob_key(container["id"], obj["id"]))
    return Reply.json(200, {"id": obj["id"], "object": "container.file.deleted", "deleted": True})


def content(call) -> Any:
    """GET /v1/containers/{id}/files/{file_id}/content: the bytes, byte for byte, typed by the file's name."""
    with call.state.lock:
        container = _load(call, use=True)
        obj = _file(call, container)
        data = call.state.blob(_blob_key(container["id"], obj["id"])) or b""
    media = mimetypes.guess_type(obj["path"])[0] or "application/octet-stream"
    return Reply(200, data, {"content-type": media})


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "containers.create": create,
    "containers.retrieve": retrieve,
    "containers.list": list_containers,
    "containers.delete": delete,
    "containers.files.create": create_file,
    "containers.files.list": list_files,
    "containers.files.retrieve": retrieve_file,
    "containers.files.delete": delete_file,
    "containers.files.content.retrieve": content,
}
