"""Messages: create, list, retrieve, update, delete (`client.beta.threads.messages`).

Knob: `validate_thread_exists` (default False, as in openai-responses): when
True, a message for an unknown thread is a 404; when False the thread id is
taken as it is, so tests need not create threads first.
"""

from __future__ import annotations

import time
from typing import Any


from .. import errors, knobs, pages, params
from ..bodies import check
from ..wire import Reply
from .. import sdk
from .. import stores

RULE = "beta.threads.messages"
KNOBS = {"validate_thread_exists": bool}
DOCS = {
    "validate_thread_exists": knobs.Doc("`False`: any thread id is taken as it is",
                                        "`True`: a message call naming a thread that does not exist answers the API's "
                                        "404 `No thread found with id '...'.`; off by default, as in openai-responses, "
                                        "so that tests need not create threads first."),
}


def collection(thread_id: str) -> str:
    return stores.MESSAGES.key(thread_id=thread_id)


def content_parts(content: Any, param: str) -> list[dict]:
    """A message's content as the API stores it: a list of typed parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    if not isinstance(content, list):
        raise errors.invalid_type(param, "a string or an array", content)
    if not content:
        raise errors.invalid_value(param, f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead.")
    parts = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise errors.invalid_type(where, "an object", part)
        kind = params.kind(part, where, _PARTS)
        if part.get(kind) is None:
            raise errors.missing_param(f"{where}.{kind}")
        if kind == "text":
            parts.append({"type": "text", "text": {"value": params.text(part["text"], f"{where}.text"), "annotations": []}})
        else:
            inner = params.obj(part[kind], f"{where}.{kind}")
            field = _PART_FIELD[kind]
            if inner.get(field) is None:
                raise errors.missing_param(f"{where}.{kind}.{field}")
            params.text(inner[field], f"{where}.{kind}.{field}")
            params.optional(inner, "detail", str)
            parts.append(part)
    return parts


_PARTS = ("image_file", "image_url", "text")
_PART_FIELD = {"image_file": "file_id", "image_url": "url"}


def _attachments(value: Any, prefix: str) -> list:
    """`attachments`: `[{"file_id", "tools": [{"type": "code_interpreter" | "file_search"}]}]`."""
    name = f"{prefix}attachments"
    for i, item in enumerate(params.array(value, name) or ()):
        where = f"{name}[{i}]"
        if not isinstance(item, dict):
            raise errors.invalid_type(where, "an object", item)
        params.text(item.get("file_id"), f"{where}.file_id")
        for j, tool in enumerate(params.array(item.get("tools"), f"{where}.tools") or ()):
            if not isinstance(tool, dict):
                raise errors.invalid_type(f"{where}.tools[{j}]", "an object", tool)
            params.kind(tool, f"{where}.tools[{j}]", ("code_interpreter", "file_search"))
    return value or []


def build(state, where: str, thread_id: str, body: dict, param: str = "", **extra: Any) -> dict:
    """A message from a create body (or a thread's initial message), checked but not stored."""
    if not isinstance(body, dict):
        raise errors.invalid_type(param, "an object", body)
    prefix = f"{param}." if param else ""
    role = body.get("role")
    if role not in ("user", "assistant"):
        if role is None:
            raise errors.missing_param(f"{prefix}role")
        raise errors.invalid_value(f"{prefix}role", f"Invalid value: '{role}'. Supported values are: 'user' and 'assistant'.")
    if body.get("content") is None:
        raise errors.missing_param(f"{prefix}content")
    now = int(time.time())
    message = {
        "id": state.new_id("msg_"), "object": "thread.message", "created_at": now, "thread_id": thread_id,
        "role": role, "content": content_parts(body["content"], f"{prefix}content"),
        "attachments": _attachments(body.get("attachments"), prefix), "metadata": params.metadata(body.get("metadata")) or {},
        "assistant_id": None, "run_id": None, "status": "completed", "completed_at": now,
        "incomplete_at": None, "incomplete_details": None,
    }
    message.update(extra)
    check(sdk.Message, message, where)
    return message


def text_of(message: dict) -> str:
    return " ".join(p["text"]["value"] for p in message.get("content", []) if p.get("type") == "text")


def _thread(call) -> str:
    thread_id = call.request.params["thread_id"]
    if call.knob("validate_thread_exists", False):
        call.state.fetch("threads", thread_id, "thread")
    return thread_id


def create(call) -> Any:
    body = params.json_body(call.request)
    thread_id = _thread(call)
    message = build(call.state, call.where, thread_id, body)
    custom = call.custom()
    if isinstance(custom, dict):
        message.update(custom)
    call.state.put(collection(thread_id), message)
    return Reply.json(200, message)


def list_messages(call) -> Any:
    thread_id = _thread(call)
    run_id = call.request.query.get("run_id")
    return pages.page(call, collection(thread_id), where=(lambda m: m.get("run_id") == run_id) if run_id else None)


def retrieve(call) -> Any:
    return Reply.json(200, call.state.fetch(collection(_thread(call)), call.request.params["message_id"], "message"))


def update(call) -> Any:
    body = params.json_body(call.request)
    thread_id = _thread(call)
    oid = call.request.params["message_id"]
    call.state.fetch(collection(thread_id), oid, "message")
    return Reply.json(200, call.state.update(collection(thread_id), oid, {"metadata": params.metadata(body.get("metadata")) or {}}))


def delete(call) -> Any:
    thread_id = _thread(call)
    oid = call.request.params["message_id"]
    call.state.fetch(collection(thread_id), oid, "message")
    call.state.delete(collection(thread_id), oid)
    return Reply.json(200, {"id": oid, "object": "thread.message.deleted", "deleted": True})


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "beta.threads.messages.create": create,
    "beta.threads.messages.list": list_messages,
    "beta.threads.messages.retrieve": retrieve,
    "beta.threads.messages.update": update,
    "beta.threads.messages.delete": delete,
}
