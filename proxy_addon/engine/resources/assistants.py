"""Assistants: create, list, retrieve, update, delete (`client.beta.assistants`).

No knobs of its own. A profile can store assistants up front with
`profile.state.put("assistants", {...})` so that one exists with a known id.
`tool_resources.file_search.vector_stores` on create makes those vector stores, as the API does,
and the assistant names them in `vector_store_ids`.
"""

from __future__ import annotations

import time
from typing import Any


from .. import pages, params
from . import vector_stores
from ..bodies import check
from ..wire import Reply
from .. import sdk
from .. import stores

RULE = "beta.assistants"
KNOBS: dict[str, type] = {}
COLLECTION = stores.ASSISTANTS.path
_FIELDS = ("description", "instructions", "metadata", "name", "response_format", "temperature", "tool_resources", "top_p", "tools", "model", "reasoning_effort")


def defaults(oid: str) -> dict:
    """An assistant with nothing set, for create and for profiles that preload one."""
    return {"id": oid, "object": "assistant", "created_at": int(time.time()), "name": None, "description": None,
            "instructions": None, "model": "gpt-4o", "tools": [], "metadata": {}, "tool_resources": None,
            "temperature": 1.0, "top_p": 1.0, "response_format": "auto"}


def check_body(body: dict) -> None:
    """The 400s for the fields an assistant echoes (create and update): the API's own checks first, then
    the SDK type of each field, so that nothing stored can fail to parse."""
    params.text(body.get("name"), "name", 256)
    params.text(body.get("description"), "description", 512)
    params.text(body.get("instructions"), "instructions", 256_000)
    params.optional(body, "model", str)
    params.optional(body, "reasoning_effort", str)
    params.sampling(body)
    params.tools(body, params.ASSISTANT_TOOLS, max_items=128)
    params.response_format(body, auto=True)
    params.tool_resources(body.get("tool_resources"))
    params.metadata(body.get("metadata"))
    for name in _FIELDS:
        if body.get(name) is not None and name in sdk.Assistant.model_fields:
            params.conforms(sdk.Assistant, body[name], name, field=name)


def create(call) -> Any:
    body = params.json_body(call.request)
    params.require(body, "model", str)
    check_body(body)
    obj = defaults(call.state.new_id("asst_"))
    obj.update({k: body[k] for k in _FIELDS if body.get(k) is not None})
    custom = call.custom()
    if isinstance(custom, dict):
        obj.update(custom)
    check(sdk.Assistant, obj, call.where)
    with call.state.lock:
        obj["tool_resources"] = vector_stores.from_tool_resources(call, obj.get("tool_resources"))
        call.state.put(COLLECTION, obj)
    return Reply.json(200, obj)


def list_assistants(call) -> Any:
    return pages.page(call, COLLECTION)


def retrieve(call) -> Any:
    return Reply.json(200, call.state.fetch(COLLECTION, call.request.params["assistant_id"], "assistant"))


def update(call) -> Any:
    body = params.json_body(call.request)
    check_body(body)
    oid = call.request.params["assistant_id"]
    call.state.fetch(COLLECTION, oid, "assistant")
    return Reply.json(200, call.state.update(COLLECTION, oid, {k: body[k] for k in _FIELDS if k in body}))


def delete(call) -> Any:
    oid = call.request.params["assistant_id"]
    call.state.fetch(COLLECTION, oid, "assistant")
    call.state.delete(COLLECTION, oid)
    return Reply.json(200, {"id": oid, "object": "assistant.deleted", "deleted": True})


def preload(state, partial: dict) -> None:
    """Store an assistant a profile declares up front (`profile.state.put("assistants", {...})`)."""
    obj = defaults(partial.get("id") or state.new_id("asst_"))
    obj.update(partial)
    check(sdk.Assistant, obj, "profile state")
    state.put(COLLECTION, obj)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "beta.assistants.create": create,
    "beta.assistants.list": list_assistants,
    "beta.assistants.retrieve": retrieve,
    "beta.assistants.update": update,
    "beta.assistants.delete": delete,
}
