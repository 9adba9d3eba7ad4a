"""The pagination rule, once for every list endpoint: `after`, `before`, `limit`, `order`.

Lists are `{"object": "list", "data", "first_id", "last_id", "has_more"}`, with
`has_more` always present (the Python SDK keeps paging while it is missing).
"""

from __future__ import annotations

from typing import Callable

from . import errors
from .wire import Reply


def list_reply(items: list[dict], has_more: bool, kind: str = "cursor", object_name: str = "list") -> Reply:
    """A list body around `items`; `kind`, the SDK's page type, adds the cursor its next page asks with
    (`next` for the "next" and "token" pages); a few lists name their `object` otherwise."""
    body = {
        "object": object_name,
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }
    if kind in ("next", "token"):
        body["next"] = body["last_id"] if has_more else None
    return Reply.json(200, body)


def page(call, collection: str, *, default_limit: int = 20, max_limit: int = 100, default_order: str = "desc",
         where: Callable[[dict], bool] | None = None, kind: str = "cursor",
         shape: Callable[[dict], dict] | None = None) -> Reply:
    """One page of a stored collection, as the request's query asks (a "token" page's cursor is `page`);
    `shape` makes each stored object what the list answers."""
    query = call.request.query
    raw_limit = query.get("limit")
    try:
        limit = default_limit if raw_limit in (None, "") else int(raw_limit)
    except ValueError:
        raise errors.invalid_type("limit", "an integer", raw_limit) from None
    if not 1 <= limit <= max_limit:
        raise errors.invalid_value("limit", f"Invalid 'limit': expected a value between 1 and {max_limit}, but got {limit} instead.")
    order = query.get("order") or default_order
    if order not in ("asc", "desc"):
        raise errors.invalid_value("order", f"Invalid value for 'order': {order!r}. Supported values are: 'asc' and 'desc'.")
    state = call.state
    with state.lock:  # encode under the lock: the objects are live
        items, more = state.collection(collection).page(
            limit=limit, order=order, after=query.get("after") or (query.get("page") if kind == "token" else None) or None,
            before=query.get("before") or None, where=where)
        return list_reply([shape(i) for i in items] if shape else items, more, kind)
