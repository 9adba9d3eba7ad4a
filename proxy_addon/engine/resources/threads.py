"""Threads: create (with initial messages), retrieve, update, delete (`client.beta.threads`)."""

from __future__ import annotations

import time
from typing import Any


from .. import params
from ..bodies import check, merge
from ..wire import Reply
from . import messages, vector_stores
from .. import sdk
from .. import stores

RULE = "beta.threads"
KNOBS: dict[str, type] = {}
COLLECTION = stores.THREADS.path


def check_body(body: dict, prefix: str = "") -> list:
    """The 400s for a thread's create body (`prefix` names it inside create-and-run's `thread`); its messages."""
    initial = params.array(body.get("messages"), f"{prefix}messages") or []
    params.tool_resources(body.get("tool_resources"), f"{prefix}tool_resources")
    params.metadata(body.get("metadata"))
    return initial


def new_thread(call, body: dict, prefix: str = "", partial: dict | None = None) -> dict:
    """Store a thread and its initial messages; shared with create-and-run (where `prefix` is "thread.").
    `partial`: a profile handler's answer, laid over the thread."""
    initial = check_body(body, prefix)
    thread = {"id": call.state.new_id("thread_"), "object": "thread", "created_at": int(time.time()),
              "metadata": params.metadata(body.get("metadata")) or {}, "tool_resources": body.get("tool_resources")}
    if partial:
        thread = merge(thread, partial)
    check(sdk.Thread, thread, call.where)
    built = [messages.build(call.state, call.where, thread["id"], m, f"{prefix}messages[{i}]") for i, m in enumerate(initial)]
    with call.state.lock:
        # `file_search.vector_stores`: made now, named by id, as the API does
        thread["tool_resources"] = vector_stores.from_tool_resources(call, thread.get("tool_resources"), f"{prefix}tool_resources")
        call.state.put(COLLECTION, thread)
        for message in built:
            call.state.put(messages.collection(thread["id"]), message)
    return thread


def create(call) -> Any:
    body = params.json_body(call.request)
    custom = call.custom()
    return Reply.json(200, new_thread(call, body, partial=custom if isinstance(custom, dict) else None))


def retrieve(call) -> Any:
    return Reply.json(200, call.state.fetch(COLLECTION, call.request.params["thread_id"], "thread"))


def update(call) -> Any:
    body = params.json_body(call.request)
    params.metadata(body.get("metadata"))
    params.tool_resources(body.get("tool_resources"))
    oid = call.request.params["thread_id"]
    call.state.fetch(COLLECTION, oid, "thread")
    return Reply.json(200, call.state.update(COLLECTION, oid, {k: body[k] for k in ("metadata", "tool_resources") if k in body}))


def delete(call) -> Any:
    from . import runs  # runs build on threads

    oid = call.request.params["thread_id"]
    with call.state.lock:
        call.state.fetch(COLLECTION, oid, "thread")
        for run in call.state.all(runs.collection(oid)):
            call.state.delete(runs.PROGRESS, run["id"])  # bookkeeping lives apart: forget it by hand
        call.state.delete_tree(COLLECTION, oid)  # its messages, runs and their steps go with it
    return Reply.json(200, {"id": oid, "object": "thread.deleted", "deleted": True})


def preload(state, partial: dict) -> None:
    """Store a thread a profile declares up front, with its `messages` (role and content)."""
    partial = dict(partial)
    initial = partial.pop("messages", [])
    thread = {"id": partial.get("id") or state.new_id("thread_"), "object": "thread", "created_at": int(time.time()),
              "metadata": {}, "tool_resources": None}
    thread.update(partial)
    check(sdk.Thread, thread, "profile state")
    state.put(COLLECTION, thread)
    for i, m in enumerate(initial):
        state.put(messages.collection(thread["id"]), messages.build(state, "profile state", thread["id"], m, f"messages[{i}]"))


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "beta.threads.create": create,
    "beta.threads.retrieve": retrieve,
    "beta.threads.update": update,
    "beta.threads.delete": delete,
}
