"""Conversations (`client.conversations`) and their items (`client.conversations.items`).

Routes: POST /v1/conversations (create, with up to 20 `items` and `metadata`),
GET/POST/DELETE /v1/conversations/{conversation_id} (retrieve, update `metadata`,
delete), POST /v1/conversations/{conversation_id}/items (add up to 20 items),
GET /v1/conversations/{conversation_id}/items (list; the one pagination rule,
`order=desc` by default as the real API), GET and DELETE
/v1/conversations/{conversation_id}/items/{item_id} (delete answers the conversation).

A response created with `conversation=` sees the conversation's items as its
context, and its input and output items are appended to it (responses.py).

No knobs; a handler's dict is merged over a created conversation, as threads do.
Unknown ids are the real API's 404s.

Items come in as the Responses API's input items (`{"role": "user", "content": "Hi"}`,
`{"type": "function_call_output", ...}`) and are stored as the items the API gives
back: with an `id`, a `status`, and content as a list of typed parts. `new_items`
does that for both resources.
"""

from __future__ import annotations

import time
from typing import Any


from .. import errors, pages, params
from ..bodies import check, merge
from ..wire import Reply
from .. import sdk
from .. import stores

RULE = "conversations"
KNOBS: dict[str, type] = {}
COLLECTION = stores.CONVERSATIONS.path
_MAX_ITEMS = 20

_ROLES = ("user", "assistant", "system", "developer")
# Item types whose ids the real API gives a prefix of their own.
PREFIX = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_", "reasoning": "rs_"}


def items_collection(conversation_id: str) -> str:
    """Where a conversation's items are stored, oldest first."""
    return stores.CONVERSATION_ITEMS.key(conversation_id=conversation_id)


def not_found(conversation_id: str) -> errors.OpenAIError:
    """The real API's 404 for an unknown conversation."""
    return errors.OpenAIError(404, f"Conversation with id '{conversation_id}' not found.")


def fetch(state, conversation_id: str) -> dict:
    """The stored conversation, or the real API's 404."""
    found = state.get(COLLECTION, conversation_id)
    if found is None:
        raise not_found(conversation_id)
    return found


# -- items ----------------------------------------------------------------------------


def content_parts(content: Any, role: str) -> Any:
    """A message's content as typed parts: a string becomes one text part (output_text for the assistant).

    Anything that is not a string or a list of parts is left as it is, for the type check to name.
    """
    text_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        content = [{"type": text_type, "text": content}]
    if not isinstance(content, list):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text"):
            # An assistant's earlier answer may come back as input_text, and the other way round.
            part = {**part, "type": text_type}
            if text_type == "output_text":
                part.setdefault("annotations", [])
                part.setdefault("logprobs", [])  # the API sends the list, empty unless logprobs were asked for
        parts.append(part)
    return parts


def _require(item: dict, param: str, *names: str) -> None:
    for name in names:
        if item.get(name) is None:
            raise errors.missing_param(f"{param}.{name}")


def new_item(state, raw: Any, param: str) -> dict:
    """One input item as the API stores it (with an id and a status), or the real API's 400."""
    if not isinstance(raw, dict):
        raise errors.invalid_type(param, "an object", raw)
    item = dict(raw)
    kind = item.setdefault("type", "message" if "role" in item else None)
    if kind is None:
        raise errors.missing_param(f"{param}.type")
    if not isinstance(kind, str):
        raise errors.invalid_type(f"{param}.type", "a string", kind)
    if kind == "message":
        _require(item, param, "role", "content")
        if item["role"] not in _ROLES:
            raise errors.invalid_value(f"{param}.role", f"Invalid value: '{item['role']}'. Supported values are: "
                                                        "'assistant', 'system', 'developer', and 'user'.")
        item["content"] = content_parts(item["content"], item["role"])
    elif kind == "function_call":
        _require(item, param, "call_id", "name", "arguments")
    elif kind == "function_call_output":
        _require(item, param, "call_id", "output")
    if kind in PREFIX or "status" in item:
        item.setdefault("status", "completed")
    if not item.get("id"):
        item["id"] = state.new_id(PREFIX.get(kind, "item_"))
    params.conforms(sdk.ResponseItem, item, param)
    return item


def new_items(state, raw: Any, param: str) -> list[dict]:
    """A list of input items (or a string: one user message) as stored items."""
    if isinstance(raw, str):  # built here, so valid by construction: no need to check it against the SDK type
        return [{"role": "user", "content": content_parts(raw, "user"), "type": "message", "status": "completed",
                 "id": state.new_id(PREFIX["message"])}]
    if not isinstance(raw, list):
        raise errors.invalid_type(param, "one of a string or array of input items", raw)
    return [new_item(state, item, f"{param}[{i}]") for i, item in enumerate(raw)]


def append(state, conversation_id: str, items: list[dict], where: str) -> None:
    """Add items to a conversation, in order."""
    for item in items:
        check(sdk.ConversationItem, item, where)
    with state.lock:
        for item in items:
            state.put(items_collection(conversation_id), item)


def _limited(raw: list, name: str) -> list:
    """`raw`, or the real API's 400 when it holds more items than can be added at once."""
    if len(raw) > _MAX_ITEMS:
        raise errors.invalid_value(name, f"Invalid '{name}': array too long. Expected an array with maximum length "
                                         f"{_MAX_ITEMS}, but got an array with length {len(raw)} instead.")
    return raw


# -- endpoints ------------------------------------------------------------------------


def create(call) -> Any:
    """POST /v1/conversations, with its first `items` and `metadata`."""
    body = params.json_body(call.request)
    items = new_items(call.state, _limited(params.optional(body, "items", list, []), "items"), "items")
    conversation = {"id": call.state.new_id("conv_"), "object": "conversation", "created_at": int(time.time()),
                    "metadata": params.metadata(body.get("metadata")) or {}}
    custom = call.custom()
    if isinstance(custom, dict):
        conversation = merge(conversation, custom)
    check(sdk.Conversation, conversation, call.where)
    with call.state.lock:
        call.state.put(COLLECTION, conversation)
        append(call.state, conversation["id"], items, call.where)
    return Reply.json(200, conversation)


def retrieve(call) -> Any:
    """GET /v1/conversations/{conversation_id}."""
    with call.state.lock:  # encode under the lock: the object is live
        return Reply.json(200, fetch(call.state, call.request.params["conversation_id"]))


def update(call) -> Any:
    """POST /v1/conversations/{conversation_id}: replaces `metadata`, the one field that can change."""
    body = params.json_body(call.request)
    if "metadata" not in body:
        raise errors.missing_param("metadata")
    metadata = params.metadata(body["metadata"]) or {}
    with call.state.lock:
        cid = fetch(call.state, call.request.params["conversation_id"])["id"]
        return Reply.json(200, call.state.update(COLLECTION, cid, {"metadata": metadata}))


def delete(call) -> Any:
    """DELETE /v1/conversations/{conversation_id}, with its items."""
    cid = call.request.params["conversation_id"]
    with call.state.lock:
        fetch(call.state, cid)
        call.state.delete(COLLECTION, cid)
        call.state.drop(items_collection(cid))
    data = {"id": cid, "object": "conversation.deleted", "deleted": True}
    check(sdk.ConversationDeletedResource, data, call.where)
    return Reply.json(200, data)


def create_items(call) -> Any:
    """POST /v1/conversations/{conversation_id}/items: up to 20 items, answered as a list of the stored ones."""
    body = params.json_body(call.request)
    raw = _limited(params.require(body, "items", list), "items")
    if not raw:
        raise errors.invalid_value("items", "Invalid 'items': empty array. Expected an array with minimum length 1, but got an empty array instead.")
    cid = fetch(call.state, call.request.params["conversation_id"])["id"]
    items = new_items(call.state, raw, "items")
    append(call.state, cid, items, call.where)
    return pages.list_reply(items, False)


def list_items(call) -> Any:
    """GET /v1/conversations/{conversation_id}/items: newest first by default."""
    cid = fetch(call.state, call.request.params["conversation_id"])["id"]
    return pages.page(call, items_collection(cid), default_order="desc")


def _item_not_found(item_id: str) -> errors.OpenAIError:
    return errors.OpenAIError(404, f"Item with id '{item_id}' not found.")


def retrieve_item(call) -> Any:
    """GET /v1/conversations/{conversation_id}/items/{item_id}."""
    cid = fetch(call.state, call.request.params["conversation_id"])["id"]
    item_id = call.request.params["item_id"]
    with call.state.lock:
        item = call.state.get(items_collection(cid), item_id)
        if item is None:
            raise _item_not_found(item_id)
        return Reply.json(200, item)


def delete_item(call) -> Any:
    """DELETE /v1/conversations/{conversation_id}/items/{item_id}: answers the conversation."""
    item_id = call.request.params["item_id"]
    with call.state.lock:
        conversation = fetch(call.state, call.request.params["conversation_id"])
        if call.state.delete(items_collection(conversation["id"]), item_id) is None:
            raise _item_not_found(item_id)
        return Reply.json(200, conversation)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "conversations.create": create,
    "conversations.retrieve": retrieve,
    "conversations.update": update,
    "conversations.delete": delete,
    "conversations.items.create": create_items,
    "conversations.items.list": list_items,
    "conversations.items.retrieve": retrieve_item,
    "conversations.items.delete": delete_item,
}
