"""Vector stores: the stores, their files, file batches, file content and search.

Routes: POST/GET /v1/vector_stores, GET/POST/DELETE /v1/vector_stores/{vector_store_id},
POST .../search, POST/GET .../files, GET/POST/DELETE .../files/{file_id},
GET .../files/{file_id}/content, POST .../file_batches, GET .../file_batches/{batch_id},
POST .../file_batches/{batch_id}/cancel, GET .../file_batches/{batch_id}/files.

Processing is asynchronous, as the real API's is: a new vector store file (and
a batch) is `in_progress` in the answer that creates it and becomes
`completed` on a later read of its vector store (any GET on the store, its
files or batches, or a search), so the SDK's `*_and_poll` helpers see one
`in_progress` answer and then a finished one. Knobs:

- `processing_reads` (int, default 1): the read that completes pending work;
  1 = the first read after the create, 3 = two polls still see `in_progress`,
  0 = the create's own answer is already `completed`.
- `poll_after_ms` (int, default 10): the `openai-poll-after-ms` header sent with
  answers that are still in progress, which the SDK's pollers wait for.
- `batch_cancel` (`"on_read"`, the default, or `"immediate"`): by default a cancel
  answers the batch still `in_progress` and its files in progress end `cancelled` on the
  next read, and a finished batch cannot be cancelled (400); `"immediate"` answers it
  `cancelled` at once, finished or not (openai-responses' behaviour, which its
  compatibility layer, `openai_fake.compat`, sets).

A handler's dict is merged over each new object on the create routes (the
store; each vector store file, also those a batch creates), e.g.
`{"status": "failed", "last_error": {"code": "invalid_file", "message": "..."}}`;
on `vector_stores.search` a list of results (or `{"data": [...]}`) replaces the
ranking.

Search ranks chunks of the completed files' text: each file is cut into windows
of its chunking strategy (`max_chunk_size_tokens`, `chunk_overlap_tokens`;
`auto` is 800/400), and each chunk scored by BM25 normalised to 0..1 (each
query term contributes at most its IDF share). Chunks with none of the query's
terms are left out; ties go to the older file, then the earlier chunk.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Any, Literal


from .. import errors, knobs, lifecycle, pages, params, tokens
from ..bodies import check, merge, reply
from ..wire import Reply
from . import files
from .. import sdk
from .. import stores

RULE = "vector_stores"
KNOBS = {**lifecycle.KNOBS, "processing_reads": knobs.Count, "poll_after_ms": knobs.Count,
         "batch_cancel": Literal["on_read", "immediate"]}
DOCS = {
    **lifecycle.DOCS,
    "progress": knobs.Doc('`"polls"`', '`"polls"`: each read of the store is a step (any GET on it, its files or its '
                          "batches, a list, a search); a number: one step every that many seconds, read or not, so that "
                          "a file takes `processing_reads` times that, e.g. `0.5`."),
    "time_scale": lifecycle.UNCLOCKED,
    "fail_at": knobs.Doc("none: files complete", '`"read"`, the one step: the next step fails every file still in '
                         'progress (`status: "failed"`, `last_error.code: "server_error"`), and a batch whose files all '
                         "failed is `failed`."),
    "fail_message": knobs.Doc('`"The file could not be processed."`', "The `last_error.message` of the files "
                              "`fail_at` fails."),
    "processing_reads": knobs.Doc("`1`: the first read after the create",
                                  "Which read of the store finishes a new file or batch: `1` the first after the "
                                  "create, `3` lets two polls see `in_progress`, `0` answers it `completed` in the "
                                  "create itself."),
    "poll_after_ms": knobs.Doc("`10`", "The `openai-poll-after-ms` header on file and batch answers still "
                               "`in_progress`, which the SDK's `*_and_poll` helpers wait for (1 s without it)."),
    "batch_cancel": knobs.Doc('`"on_read"`', '`"on_read"`: a cancel answers the batch still `in_progress`, and the next '
                              "read makes it and its unfinished files `cancelled`; cancelling a finished batch is a "
                              '400. `"immediate"`: the cancel answers it `cancelled` at once, finished or not '
                              "(openai-responses' behaviour, which its compatibility layer sets)."),
}

COLLECTION = stores.VECTOR_STORES.path
_FILES = stores.VECTOR_STORE_FILES  # its VectorStoreFile objects (id = the File's id)
_BATCHES = stores.FILE_BATCHES
_MEMBERS = stores.BATCH_MEMBERS  # {"id": batch id, "file_ids": [...]}
_PENDING = stores.VECTOR_STORE_PENDING  # {"id": store id, "files": {file id: reads left}, "batches": [...], "cancel": [...]}

_STATUSES = ("in_progress", "completed", "failed", "cancelled")
_AUTO_CHUNKING = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
_DAY = 86_400


# -- errors ------------------------------------------------------------------------


def store_not_found(vs_id: str) -> errors.OpenAIError:
    return errors.OpenAIError(404, f"No vector store found with id '{vs_id}'.", param="vector_store_id")


def _file_not_found(vs_id: str, file_id: str) -> errors.OpenAIError:
    return errors.OpenAIError(404, f"No file found with id '{file_id}' in vector store '{vs_id}'.", param="file_id")


def _batch_not_found(vs_id: str, batch_id: str) -> errors.OpenAIError:
    return errors.OpenAIError(404, f"No file batch found with id '{batch_id}' in vector store '{vs_id}'.", param="batch_id")


# -- lookups -----------------------------------------------------------------------


def get(state, vs_id: str) -> dict:
    """The stored vector store, or the real API's 404."""
    obj = state.get(COLLECTION, vs_id)
    if obj is None:
        raise store_not_found(vs_id)
    return obj


def _vs_file(state, vs_id: str, file_id: str) -> dict:
    obj = state.get(_FILES.key(vector_store_id=vs_id), file_id)
    if obj is None:
        raise _file_not_found(vs_id, file_id)
    return obj


def _batch(state, vs_id: str, batch_id: str) -> dict:
    obj = state.get(_BATCHES.key(vector_store_id=vs_id), batch_id)
    if obj is None:
        raise _batch_not_found(vs_id, batch_id)
    return obj


# -- parameters --------------------------------------------------------------------


def _attributes(value: Any, name: str = "attributes") -> dict:
    """File attributes: at most 16 keys (<= 64 chars) of strings (<= 512 chars), numbers or booleans."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.invalid_type(name, "an object", value)
    if len(value) > 16:
        raise errors.invalid_value(name, f"Invalid '{name}': too many properties. Expected an object with at most 16 properties, but got an object with {len(value)} properties instead.")
    for key, item in value.items():
        if len(key) > 64:
            raise errors.invalid_value(name, f"Invalid '{name}': key too long. Expected a key with maximum length 64, but got a key with length {len(key)} instead.")
        if not isinstance(item, (str, int, float, bool)):
            raise errors.invalid_type(f"{name}.{key}", "a string, number or boolean", item)
        if isinstance(item, str) and len(item) > 512:
            raise errors.invalid_value(f"{name}.{key}", f"Invalid '{name}.{key}': string too long. Expected a string with maximum length 512, but got a string with length {len(item)} instead.")
    return dict(value)


def _expires_after(value: Any) -> dict:
    if not isinstance(value, dict):
        raise errors.invalid_type("expires_after", "an object", value)
    if value.get("anchor") != "last_active_at":
        raise errors.invalid_value("expires_after.anchor", f"Invalid value for 'expires_after.anchor': {value.get('anchor')!r}. Supported values are: 'last_active_at'.")
    days = value.get("days")
    if not isinstance(days, int) or isinstance(days, bool):
        raise errors.invalid_type("expires_after.days", "an integer", days)
    if not 1 <= days <= 365:
        raise errors.invalid_value("expires_after.days", f"Invalid 'expires_after.days': expected a value between 1 and 365, but got {days} instead.")
    return {"anchor": "last_active_at", "days": days}


def _chunking(value: Any, name: str = "chunking_strategy") -> dict:
    """The chunking strategy as the API reports it: `auto` is static 800/400."""
    if value is None or (isinstance(value, dict) and value.get("type") == "auto"):
        return {"type": "static", "static": dict(_AUTO_CHUNKING["static"])}
    if not isinstance(value, dict):
        raise errors.invalid_type(name, "an object", value)
    kind = value.get("type")
    if kind != "static":
        raise errors.invalid_value(f"{name}.type", f"Invalid value for '{name}.type': {kind!r}. Supported values are: 'auto' and 'static'.")
    static = value.get("static")
    if not isinstance(static, dict):
        raise errors.missing_param(f"{name}.static")
    size = params.require(static, "max_chunk_size_tokens", int)
    overlap = params.require(static, "chunk_overlap_tokens", int)
    if not 100 <= size <= 4096:
        raise errors.invalid_value(f"{name}.static.max_chunk_size_tokens", f"Invalid '{name}.static.max_chunk_size_tokens': expected a value between 100 and 4096, but got {size} instead.")
    if not 0 <= overlap <= size // 2:
        raise errors.invalid_value(f"{name}.static.chunk_overlap_tokens", f"Invalid '{name}.static.chunk_overlap_tokens': the overlap must be between 0 and half of max_chunk_size_tokens ({size // 2}), but got {overlap} instead.")
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def _file_ids(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise errors.invalid_type(name, "an array", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise errors.invalid_type(f"{name}[{i}]", "a string", item)
    return list(dict.fromkeys(value))  # once each, in order


def _status_filter(call) -> str | None:
    wanted = call.request.query.get("filter") or None
    if wanted is not None and wanted not in _STATUSES:
        raise errors.invalid_value("filter", f"Invalid value for 'filter': {wanted!r}. Supported values are: 'in_progress', 'completed', 'failed' and 'cancelled'.")
    return wanted


# -- processing ------------------------------------------------------------------------


def _counts(objs) -> dict:
    counts = Counter(o["status"] for o in objs)
    out = {status: counts.get(status, 0) for status in _STATUSES}
    out["total"] = sum(counts.values())
    return out


def _refresh(state, vs_id: str) -> dict:
    """Recount the store's files; its usage, status and expiry follow. Call under the lock, after any other change."""
    store = state.get(COLLECTION, vs_id)
    attached = state.all(_FILES.key(vector_store_id=vs_id))
    store["file_counts"] = _counts(attached)
    store["usage_bytes"] = sum(f["usage_bytes"] for f in attached if f["status"] == "completed")
    store["status"] = "in_progress" if store["file_counts"]["in_progress"] else "completed"
    if store.get("expires_after"):
        store["expires_at"] = store["last_active_at"] + store["expires_after"]["days"] * _DAY
        if store["expires_at"] <= time.time():
            store["status"] = "expired"
    else:
        store["expires_at"] = None
    state.touch(COLLECTION, vs_id)  # the counts were changed in place
    return store


def _complete(state, obj: dict) -> None:
    obj["status"] = "completed"
    obj["usage_bytes"] = len(state.blob(obj["id"]) or b"")


def _pending(state, vs_id: str) -> dict:
    return state.get(_PENDING, vs_id) or lifecycle.start({"id": vs_id, "files": {}, "batches": [], "cancel": []}, [])


def _save_pending(state, pending: dict) -> None:
    """Keep the store's pending work, its lifecycle one "read" step per read its slowest file still needs."""
    if pending["files"] or pending["batches"]:
        pending.setdefault("changed_at", time.time())  # a record from before the one lifecycle
        pending["steps"] = ["read"] * max(1, max(pending["files"].values(), default=1))
        state.put(_PENDING, pending)
    else:
        state.delete(_PENDING, pending["id"])


def _attach(call, vs_id: str, file_id: str, attributes: dict, chunking: dict, custom: Any, pending: dict) -> dict:
    """A new vector store file, in progress unless the profile says otherwise. Call under the lock."""
    reads = call.knob("processing_reads", 1)
    obj = {
        "id": file_id, "object": "vector_store.file", "usage_bytes": 0, "created_at": int(time.time()),
        "vector_store_id": vs_id, "status": "in_progress", "last_error": None,
        "chunking_strategy": chunking, "attributes": attributes,
    }
    if isinstance(custom, dict):
        obj = merge(obj, custom)
    if obj["status"] == "in_progress" and reads is not None and reads <= 0:
        obj["status"] = "completed"
    if obj["status"] == "completed" and not obj["usage_bytes"]:
        _complete(call.state, obj)
    check(sdk.VectorStoreFile, obj, call.where)
    call.state.put(_FILES.key(vector_store_id=vs_id), obj)
    if obj["status"] == "in_progress":
        pending["files"][file_id] = max(1, reads if reads is not None else 1)
    else:
        pending["files"].pop(file_id, None)
    return obj


def _settle(call, vs_id: str) -> None:
    """A read of the store: the reads due on the one lifecycle (this one, by polls; those the time passed
    covers, by `progress=<seconds>`) move pending work on: files complete, cancelled batches finish; the
    profile's `fail_at="read"` fails the files still in progress."""
    state = call.state
    with state.lock:
        pending = state.get(_PENDING, vs_id)
        if pending is None:
            return
        pending = {"changed_at": time.time(), **pending}
        pending["steps"] = pending.get("steps") or ["read"]
        steps = list(lifecycle.due(call, pending, polled=True))
        if not steps:
            state.put(_PENDING, pending)
            return
        reads, failed = len(steps), steps[-1] == "failed"
        cancelling = set(pending["cancel"])
        doomed: set[str] = set()
        for batch_id in cancelling:
            member = state.get(_MEMBERS.format(vector_store_id=vs_id), batch_id)
            if member is not None:
                doomed.update(member["file_ids"])
        left = {}
        for file_id, needs in pending["files"].items():
            obj = state.get(_FILES.key(vector_store_id=vs_id), file_id)
            if obj is None or obj["status"] != "in_progress":
                continue
            if file_id in doomed:
                obj["status"] = "cancelled"
            elif failed:
                obj.update(status="failed", last_error={"code": "server_error", "message": lifecycle.fail_message(
                    call, "The file could not be processed.")})
            elif needs <= reads:
                _complete(state, obj)
            else:
                left[file_id] = needs - reads
                continue
            state.touch(_FILES.key(vector_store_id=vs_id), file_id)
        pending["files"] = left
        pending["batches"] = [b for b in pending["batches"] if not _finish_batch(state, vs_id, b, b in cancelling)]
        pending["cancel"] = [b for b in pending["cancel"] if b in pending["batches"]]
        _refresh(state, vs_id)
        _save_pending(state, pending)


lifecycle.register("vector_stores", lifecycle.Kind(store=_PENDING, route="vector_stores.retrieve",
                                                   path=lambda record: f"/v1/vector_stores/{record['id']}",
                                                   catch_up=lambda call, record: _settle(call, record["id"])))


def _batch_counts(state, vs_id: str, batch_id: str) -> dict:
    member = state.get(_MEMBERS.format(vector_store_id=vs_id), batch_id) or {"file_ids": []}
    return _counts(f for f in (state.get(_FILES.key(vector_store_id=vs_id), fid) for fid in member["file_ids"]) if f is not None)


def _finish_batch(state, vs_id: str, batch_id: str, cancelling: bool) -> bool:
    """Recount an unfinished batch; True when it is now finished."""
    batch = state.get(_BATCHES.key(vector_store_id=vs_id), batch_id)
    if batch is None:
        return True
    counts = batch["file_counts"] = _batch_counts(state, vs_id, batch_id)
    if not counts["in_progress"]:
        if cancelling:
            batch["status"] = "cancelled"
        elif counts["total"] and counts["failed"] == counts["total"]:
            batch["status"] = "failed"
        else:
            batch["status"] = "completed"
    state.touch(_BATCHES.key(vector_store_id=vs_id), batch_id)
    return not counts["in_progress"]


def _poll_reply(call, model, obj: dict, busy: bool) -> Reply:
    """A vector store file or batch; while it is in progress, with the SDK pollers' hint."""
    out = reply(model, obj, call.where)
    if busy:
        out.headers["openai-poll-after-ms"] = str(max(0, call.knob("poll_after_ms", 10) or 0))
    return out


# -- vector stores ---------------------------------------------------------------------


def create(call) -> Any:
    body = params.json_body(call.request)
    return reply(sdk.VectorStore, _new_store(call, body, call.custom), call.where)


def _new_store(call, body: dict, custom: Any = None, prefix: str = "") -> dict:
    """Check a store's create body (`prefix` names it inside another body), store it and attach its files;
    `custom`: asked for the profile handler's answer once the body is known good."""
    name = params.optional(body, "name", str, "")
    params.optional(body, "description", str)
    file_ids = _file_ids(body["file_ids"], f"{prefix}file_ids") if body.get("file_ids") is not None else []
    metadata = params.metadata(body.get("metadata")) or {}
    expires_after = _expires_after(body["expires_after"]) if body.get("expires_after") is not None else None
    chunking = _chunking(body.get("chunking_strategy"), f"{prefix}chunking_strategy")
    state = call.state
    for file_id in file_ids:
        files.get(state, file_id)
    custom = custom() if custom is not None else None
    now = int(time.time())
    obj = {
        "id": state.new_id("vs_"), "object": "vector_store", "created_at": now, "name": name, "usage_bytes": 0,
        "file_counts": _counts(()), "status": "completed", "last_active_at": now, "metadata": metadata,
        "expires_after": expires_after, "expires_at": None,
    }
    if isinstance(custom, dict):
        obj = merge(obj, custom)
    check(sdk.VectorStore, obj, call.where)
    with state.lock:
        state.put(COLLECTION, obj)
        pending = _pending(state, obj["id"])
        for file_id in file_ids:
            _attach(call, obj["id"], file_id, {}, chunking, None, pending)
        _save_pending(state, pending)
        return _refresh(state, obj["id"])


def from_tool_resources(call, value: Any, name: str = "tool_resources") -> Any:
    """`tool_resources` of an assistant or a thread as the API stores it: the vector stores that
    `file_search.vector_stores` asks for (each `{"file_ids", "chunking_strategy", "metadata"}`) made now,
    as `vector_stores.create` makes them (its rule's knobs), and named in `file_search.vector_store_ids`.
    Call once the rest of the body is known good."""
    search = (value or {}).get("file_search") if isinstance(value, dict) else None
    specs = search.get("vector_stores") if isinstance(search, dict) else None
    if not specs:
        return value
    if search.get("vector_store_ids"):
        raise errors.invalid_value(f"{name}.file_search", f"Invalid '{name}.file_search': 'vector_store_ids' and "
                                   "'vector_stores' are mutually exclusive; provide only one.")
    from .. import Call  # the engine's, made for the stores' own rule: their knobs, not the caller's
    from ..wire import Request

    rule = call.profile.rule_for("vector_stores.create", RULE)
    inner = Call(Request("POST", "/v1/vector_stores", route="vector_stores.create"), rule, call.state, call.profile, 0,
                 call.engine)
    ids = [_new_store(inner, spec, prefix=f"{name}.file_search.vector_stores[{i}].")["id"] for i, spec in enumerate(specs)]
    rest = {k: v for k, v in search.items() if k != "vector_stores"}
    return {**value, "file_search": {**rest, "vector_store_ids": ids}}


def list_stores(call) -> Any:
    state = call.state
    with state.lock:
        for pending in state.all(_PENDING):
            _settle(call, pending["id"])
    return pages.page(call, COLLECTION)


def retrieve(call) -> Any:
    vs_id = call.request.params["vector_store_id"]
    with call.state.lock:
        store = get(call.state, vs_id)
        _settle(call, vs_id)
        return reply(sdk.VectorStore, store, call.where)


def update(call) -> Any:
    body = params.json_body(call.request)
    changes: dict = {}
    if body.get("name") is not None:  # null leaves the name as it is
        changes["name"] = params.require(body, "name", str)
    if body.get("metadata") is not None:
        changes["metadata"] = params.metadata(body["metadata"]) or {}
    if "expires_after" in body:  # null removes the expiry
        changes["expires_after"] = _expires_after(body["expires_after"]) if body["expires_after"] is not None else None
    vs_id = call.request.params["vector_store_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        store = state.update(COLLECTION, vs_id, changes)
        _refresh(state, vs_id)
        return reply(sdk.VectorStore, store, call.where)


def delete(call) -> Any:
    vs_id = call.request.params["vector_store_id"]
    state = call.state
    with state.lock:
        if state.delete_tree(COLLECTION, vs_id) is None:  # its files and batches go with it
            raise store_not_found(vs_id)
        state.drop(_MEMBERS.format(vector_store_id=vs_id))
        state.delete(_PENDING, vs_id)
    return reply(sdk.VectorStoreDeleted, {"id": vs_id, "object": "vector_store.deleted", "deleted": True}, call.where)


# -- vector store files -------------------------------------------------------------------


def create_file(call) -> Any:
    body = params.json_body(call.request)
    file_id = params.require(body, "file_id", str)
    attributes = _attributes(body.get("attributes"))
    chunking = _chunking(body.get("chunking_strategy"))
    vs_id = call.request.params["vector_store_id"]
    state = call.state
    get(state, vs_id)
    files.get(state, file_id)
    custom = call.custom()
    with state.lock:
        get(state, vs_id)
        pending = _pending(state, vs_id)
        obj = _attach(call, vs_id, file_id, attributes, chunking, custom, pending)
        _save_pending(state, pending)
        state.update(COLLECTION, vs_id, {"last_active_at": int(time.time())})
        _refresh(state, vs_id)
        return _poll_reply(call, sdk.VectorStoreFile, obj, obj["status"] == "in_progress")


def list_files(call) -> Any:
    vs_id = call.request.params["vector_store_id"]
    wanted = _status_filter(call)
    get(call.state, vs_id)
    _settle(call, vs_id)
    return pages.page(call, _FILES.key(vector_store_id=vs_id), where=(lambda f: f["status"] == wanted) if wanted else None)


def retrieve_file(call) -> Any:
    vs_id, file_id = call.request.params["vector_store_id"], call.request.params["file_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        _settle(call, vs_id)
        obj = _vs_file(state, vs_id, file_id)
        return _poll_reply(call, sdk.VectorStoreFile, obj, obj["status"] == "in_progress")


def update_file(call) -> Any:
    body = params.json_body(call.request)
    if "attributes" not in body:
        raise errors.missing_param("attributes")
    attributes = _attributes(body["attributes"])
    vs_id, file_id = call.request.params["vector_store_id"], call.request.params["file_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        _vs_file(state, vs_id, file_id)
        obj = state.update(_FILES.key(vector_store_id=vs_id), file_id, {"attributes": attributes})
        return reply(sdk.VectorStoreFile, obj, call.where)


def delete_file(call) -> Any:
    """Detach a file from the store; the File itself stays."""
    vs_id, file_id = call.request.params["vector_store_id"], call.request.params["file_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        if state.delete(_FILES.key(vector_store_id=vs_id), file_id) is None:
            raise _file_not_found(vs_id, file_id)
        pending = state.get(_PENDING, vs_id)
        if pending is not None and file_id in pending["files"]:
            del pending["files"][file_id]
            # Batches wait for their files: recount them now that one has gone.
            pending["batches"] = [b for b in pending["batches"] if not _finish_batch(state, vs_id, b, b in pending["cancel"])]
            pending["cancel"] = [b for b in pending["cancel"] if b in pending["batches"]]
            _save_pending(state, pending)
        _refresh(state, vs_id)
    return reply(sdk.VectorStoreFileDeleted, {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}, call.where)


def _text(state, file_id: str) -> str:
    data = state.blob(file_id) or b""
    return data.decode("utf-8", errors="replace").lstrip("\ufeff")


def file_content(call) -> Any:
    vs_id, file_id = call.request.params["vector_store_id"], call.request.params["file_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        _settle(call, vs_id)
        _vs_file(state, vs_id, file_id)
        files.get(state, file_id)
        text = _text(state, file_id)
    data = [{"type": "text", "text": text}] if text else []
    for item in data:
        check(sdk.FileContentResponse, item, call.where)
    return Reply.json(200, {"object": "vector_store.file_content.page", "data": data, "has_more": False, "next_page": None})


# -- file batches --------------------------------------------------------------------------


def create_batch(call) -> Any:
    body = params.json_body(call.request)
    has_ids, has_files = body.get("file_ids") is not None, body.get("files") is not None
    if has_ids and has_files:
        raise errors.invalid_value("files", "The 'file_ids' and 'files' parameters are mutually exclusive; provide only one.")
    if not has_ids and not has_files:
        raise errors.missing_param("file_ids")
    attributes = _attributes(body.get("attributes"))
    chunking = _chunking(body.get("chunking_strategy"))
    entries: list[tuple[str, dict, dict]] = []
    if has_ids:
        entries = [(fid, attributes, chunking) for fid in _file_ids(body["file_ids"], "file_ids")]
    else:
        listed = body["files"]
        if not isinstance(listed, list):
            raise errors.invalid_type("files", "an array", listed)
        seen: dict[str, tuple[str, dict, dict]] = {}
        for i, item in enumerate(listed):
            if not isinstance(item, dict):
                raise errors.invalid_type(f"files[{i}]", "an object", item)
            fid = params.require(item, "file_id", str)
            seen[fid] = (fid, _attributes(item.get("attributes"), f"files[{i}].attributes"),
                         _chunking(item.get("chunking_strategy"), f"files[{i}].chunking_strategy"))
        entries = list(seen.values())
    name = "file_ids" if has_ids else "files"
    if not entries:
        raise errors.invalid_value(name, f"Invalid '{name}': empty array. Expected an array with minimum length 1, but got an empty array instead.")
    if len(entries) > 2000:
        raise errors.invalid_value(name, f"Invalid '{name}': array too long. Expected an array with maximum length 2000, but got an array with length {len(entries)} instead.")
    vs_id = call.request.params["vector_store_id"]
    state = call.state
    get(state, vs_id)
    for fid, _, _ in entries:
        files.get(state, fid)
    custom = call.custom()
    with state.lock:
        get(state, vs_id)
        pending = _pending(state, vs_id)
        batch_id = state.new_id("vsfb_")
        for fid, attrs, chunks in entries:
            _attach(call, vs_id, fid, attrs, chunks, custom, pending)
        state.put(_MEMBERS.format(vector_store_id=vs_id), {"id": batch_id, "file_ids": [fid for fid, _, _ in entries]})
        batch = {"id": batch_id, "object": "vector_store.files_batch", "created_at": int(time.time()),
                 "vector_store_id": vs_id, "status": "in_progress", "file_counts": _counts(())}
        state.put(_BATCHES.key(vector_store_id=vs_id), batch)
        if not _finish_batch(state, vs_id, batch_id, False):
            pending["batches"].append(batch_id)
        _save_pending(state, pending)
        state.update(COLLECTION, vs_id, {"last_active_at": int(time.time())})
        _refresh(state, vs_id)
        return _poll_reply(call, sdk.VectorStoreFileBatch, batch, batch["status"] == "in_progress")


def retrieve_batch(call) -> Any:
    vs_id, batch_id = call.request.params["vector_store_id"], call.request.params["batch_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        _settle(call, vs_id)
        batch = _batch(state, vs_id, batch_id)
        return _poll_reply(call, sdk.VectorStoreFileBatch, batch, batch["status"] == "in_progress")


def cancel_batch(call) -> Any:
    """Cancel an unfinished batch: its files still in progress end `cancelled` on the next read.

    The answer itself still says `in_progress` (the SDK's type has no `cancelling`).
    """
    vs_id, batch_id = call.request.params["vector_store_id"], call.request.params["batch_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        batch = _batch(state, vs_id, batch_id)
        if call.knob("batch_cancel", "on_read") == "immediate":
            return _cancel_now(call, vs_id, batch)
        if batch["status"] != "in_progress":
            raise errors.OpenAIError(400, f"Cannot cancel a vector store file batch with status '{batch['status']}'. Only a batch in progress can be cancelled.", param="batch_id")
        pending = _pending(state, vs_id)
        if batch_id not in pending["cancel"]:
            pending["cancel"].append(batch_id)
            _save_pending(state, pending)
        return _poll_reply(call, sdk.VectorStoreFileBatch, batch, True)


def _cancel_now(call, vs_id: str, batch: dict) -> Reply:
    """`batch_cancel="immediate"`: the batch is `cancelled` in the cancel's own answer, finished or not, and
    its files still in progress with it (openai-responses' answer). Call under the lock."""
    state = call.state
    member = state.get(_MEMBERS.format(vector_store_id=vs_id), batch["id"]) or {"file_ids": []}
    pending = _pending(state, vs_id)
    for file_id in member["file_ids"]:
        obj = state.get(_FILES.key(vector_store_id=vs_id), file_id)
        if obj is not None and obj["status"] == "in_progress":
            obj["status"] = "cancelled"
            state.touch(_FILES.key(vector_store_id=vs_id), file_id)
            pending["files"].pop(file_id, None)
    pending["batches"] = [b for b in pending["batches"] if b != batch["id"]]
    pending["cancel"] = [b for b in pending["cancel"] if b != batch["id"]]
    _save_pending(state, pending)
    batch["file_counts"] = _batch_counts(state, vs_id, batch["id"])
    batch["status"] = "cancelled"
    state.touch(_BATCHES.key(vector_store_id=vs_id), batch["id"])
    _refresh(state, vs_id)
    return _poll_reply(call, sdk.VectorStoreFileBatch, batch, False)


def list_batch_files(call) -> Any:
    vs_id, batch_id = call.request.params["vector_store_id"], call.request.params["batch_id"]
    wanted = _status_filter(call)
    state = call.state
    with state.lock:
        get(state, vs_id)
        _settle(call, vs_id)
        _batch(state, vs_id, batch_id)
        members = set((state.get(_MEMBERS.format(vector_store_id=vs_id), batch_id) or {"file_ids": []})["file_ids"])

    def where(f: dict) -> bool:
        return f["id"] in members and (wanted is None or f["status"] == wanted)

    return pages.page(call, _FILES.key(vector_store_id=vs_id), where=where)


# -- search --------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
_SPAN = re.compile(r"\S+")
_STOP = frozenset(
    "a an and are as at be been but by can could did do does for from had has have how i if in into is it its me my "
    "no not of on or our she he so than that the their them then there these they this to was we were what when "
    "where which who why will with would you your".split())
_K1, _B = 1.2, 0.75


def _stem(word: str) -> str:
    """A very light stemmer: plural endings, so "whales" finds "whale"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _terms(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


def chunks(text: str, max_tokens: int = 800, overlap: int = 400) -> list[str]:
    """`text` cut into windows of at most `max_tokens` tokens that share about `overlap` tokens."""
    words = [(m.start(), m.end(), tokens.count(m.group())) for m in _SPAN.finditer(text)]
    out: list[str] = []
    i = 0
    while i < len(words):
        total, j = 0, i
        while j < len(words) and (j == i or total + words[j][2] <= max_tokens):
            total += words[j][2]
            j += 1
        out.append(text[words[i][0]:words[j - 1][1]])
        if j >= len(words):
            break
        shared, k = 0, j
        while k > i + 1 and shared + words[k - 1][2] <= overlap:
            k -= 1
            shared += words[k][2]
        i = k
    return out


def _matches(flt: Any, attrs: dict) -> bool:
    """Does a file's attributes pass a comparison or compound filter?"""
    kind = flt.get("type")
    if kind in ("and", "or"):
        parts = flt.get("filters") or []
        results = (_matches(p, attrs) for p in parts)
        return all(results) if kind == "and" else any(results)
    key, value = flt.get("key"), flt.get("value")
    if key not in attrs:
        return kind in ("ne", "nin")
    have = attrs[key]
    if kind == "eq":
        return have == value
    if kind == "ne":
        return have != value
    if kind in ("in", "nin"):
        inside = isinstance(value, list) and have in value
        return inside if kind == "in" else not inside
    numeric = isinstance(have, (int, float)) and isinstance(value, (int, float))
    if not numeric and not (isinstance(have, str) and isinstance(value, str)):
        return False
    return {"gt": have > value, "gte": have >= value, "lt": have < value, "lte": have <= value}[kind]


def _check_filter(flt: Any, name: str = "filters") -> None:
    if not isinstance(flt, dict):
        raise errors.invalid_type(name, "an object", flt)
    kind = flt.get("type")
    if kind in ("and", "or"):
        parts = flt.get("filters")
        if not isinstance(parts, list):
            raise errors.invalid_type(f"{name}.filters", "an array", parts)
        for i, part in enumerate(parts):
            _check_filter(part, f"{name}.filters[{i}]")
        return
    if kind not in ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"):
        raise errors.invalid_value(f"{name}.type", f"Invalid value for '{name}.type': {kind!r}. Supported values are: 'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'and' and 'or'.")
    params.require(flt, "key", str)
    if "value" not in flt:
        raise errors.missing_param(f"{name}.value")


def rank(query_terms: list[str], passages: list[tuple[Any, str]]) -> list[tuple[float, int, Any, str]]:
    """BM25 scores of `passages` ((tag, text) pairs) normalised to 0..1, best first; ties keep passage order.

    Each distinct query term contributes at most its IDF share of 1; a term's
    share saturates with its count in the passage, as BM25's does.
    """
    wanted = list(dict.fromkeys(query_terms))
    if not wanted or not passages:
        return []
    bags = [Counter(_terms(text)) for _, text in passages]
    n = len(bags)
    lengths = [sum(b.values()) for b in bags]
    avg = (sum(lengths) / n) or 1.0
    df = Counter(t for b in bags for t in set(b) if t in wanted)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in wanted}
    norm = sum(idf.values())
    out = []
    for i, ((tag, text), bag, length) in enumerate(zip(passages, bags, lengths)):
        score = 0.0
        for t in wanted:
            tf = bag.get(t, 0)
            if tf:
                score += idf[t] * tf / (tf + _K1 * (1 - _B + _B * length / avg))
        if score > 0:
            out.append((round(score / norm, 6), i, tag, text))
    out.sort(key=lambda r: (-r[0], r[1]))
    return out


def search(call) -> Any:
    body = params.json_body(call.request)
    query = params.require(body, "query", (str, list))
    queries = [query] if isinstance(query, str) else query
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise errors.invalid_type(f"query[{i}]", "a string", q)
    if not queries:
        raise errors.invalid_value("query", "Invalid 'query': empty array. Expected an array with minimum length 1, but got an empty array instead.")
    limit = params.optional(body, "max_num_results", int, 10, minimum=1, maximum=50)
    rewrite = params.optional(body, "rewrite_query", bool, False)
    flt = body.get("filters")
    if flt is not None:
        _check_filter(flt)
    ranking = params.optional(body, "ranking_options", dict, {})
    threshold = params.optional(ranking, "score_threshold", float, 0.0, minimum=0, maximum=1)
    vs_id = call.request.params["vector_store_id"]
    state = call.state
    with state.lock:
        get(state, vs_id)
        _settle(call, vs_id)
        state.update(COLLECTION, vs_id, {"last_active_at": int(time.time())})
        _refresh(state, vs_id)
        passages = []
        for f in state.all(_FILES.key(vector_store_id=vs_id)):
            stored = state.get(files.COLLECTION, f["id"])
            if f["status"] != "completed" or stored is None:
                continue
            if flt is not None and not _matches(flt, f.get("attributes") or {}):
                continue
            static = (f.get("chunking_strategy") or _AUTO_CHUNKING).get("static") or _AUTO_CHUNKING["static"]
            for piece in chunks(_text(state, f["id"]), static["max_chunk_size_tokens"], static["chunk_overlap_tokens"]):
                passages.append(((f["id"], stored["filename"], dict(f.get("attributes") or {})), piece))
    if rewrite:
        words = [w for q in queries for w in _WORD.findall(q.lower()) if w not in _STOP]
        search_query = [" ".join(dict.fromkeys(words))]
    else:
        search_query = list(queries)
    custom = call.custom()
    if isinstance(custom, dict) and "data" in custom:
        custom = custom["data"]
    if isinstance(custom, list):
        data = custom
    else:
        terms = [t for q in queries for t in _terms(q)]
        data = [
            {"file_id": fid, "filename": filename, "score": score, "attributes": attrs,
             "content": [{"type": "text", "text": text}]}
            for score, _, (fid, filename, attrs), text in rank(terms, passages) if score >= threshold
        ][:limit]
    for item in data:
        check(sdk.VectorStoreSearchResponse, item, call.where)
    return Reply.json(200, {"object": "vector_store.search_results.page", "search_query": search_query,
                            "data": data, "has_more": False, "next_page": None})


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "vector_stores.create": create,
    "vector_stores.list": list_stores,
    "vector_stores.retrieve": retrieve,
    "vector_stores.update": update,
    "vector_stores.delete": delete,
    "vector_stores.search": search,
    "vector_stores.files.create": create_file,
    "vector_stores.files.list": list_files,
    "vector_stores.files.retrieve": retrieve_file,
    "vector_stores.files.update": update_file,
    "vector_stores.files.delete": delete_file,
    "vector_stores.files.content": file_content,
    "vector_stores.file_batches.create": create_batch,
    "vector_stores.file_batches.retrieve": retrieve_batch,
    "vector_stores.file_batches.cancel": cancel_batch,
    "vector_stores.file_batches.list_files": list_batch_files,
}
