"""Webhook endpoints through the API (`client.webhooks.create / retrieve / update / list / delete /
rotate_secret / test`): a program registers where the project's webhooks go, and they go there.

An endpoint made here is kept with those the control API registers (`engine/webhook_endpoints.py`,
`source: "api"`), and the fake sends it the events its `event_types` name, signed with its
`signing_secret` (answered only by `create` and `rotate_secret`, as the API does; `signing_secret_hint`
elsewhere). The fake sends nothing off this machine but to URLs its user set, so an endpoint a program
makes here gets deliveries only when its URL is on this machine (`http://` is accepted there, as a
local receiver under test needs; the real API demands HTTPS); one elsewhere is kept, listed and updated,
and sent nothing. `test` queues a sample event for the endpoint and answers at once, with
`status_code: 202`: the engine does no I/O, so the receiver's answer is in the journal, not here.
"""

from __future__ import annotations

import time
from typing import Any

from .. import instances, pages, params, table, validation
from .. import webhook_endpoints as hooks
from ..errors import OpenAIError, invalid_value, missing_param
from ..wire import Reply

RULE = "webhooks"
KNOBS: dict[str, Any] = {}

STORE = hooks.STORE
_ROWS = {row.name: row for row in table.ROWS if row.name.startswith("webhooks.")}
#: How long a rotated-out secret keeps signing with `keep_old_secret_active_for_24_hours`.
_OVERLAP = 24 * 3600


def not_found(endpoint_id: str) -> OpenAIError:
    return OpenAIError(404, f"No webhook endpoint found with id '{endpoint_id}'.", param="webhook_endpoint_id")


def _checked(call, name: str) -> dict:
    body = params.json_body(call.request)
    if call.profile.validate_requests:
        validation.validate(_ROWS[name], body)
    if "url" in body:
        try:
            hooks.check_url(body["url"])
        except (TypeError, ValueError) as e:
            raise invalid_value("url", str(e)) from None
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
        raise invalid_value("name", "name must be a non-empty string.")
    if "event_types" in body:
        kinds = body["event_types"]
        if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) and k in hooks.event_types() for k in kinds):
            raise invalid_value("event_types", f"event_types must be a non-empty list of the API's event types, not {kinds!r}.")
    return body


def _load(call) -> dict:
    endpoint_id = call.request.params["webhook_endpoint_id"]
    record = call.state.get(STORE, endpoint_id)
    if record is None or record.get("source") != "api":  # the control API's are the user's, not the project's
        raise not_found(endpoint_id)
    return record


def _shown(record: dict, with_secret: bool = False) -> dict:
    """The API's `WebhookEndpoint` (`WebhookEndpointWithSecret`) for a record."""
    secret = record["secret"]
    out = {"id": record["id"], "object": "webhook_endpoint", "created_at": record["created_at"],
           "event_types": list(record["events"]), "name": record["name"], "url": record["url"],
           "signing_secret_hint": f"{secret[:6]}...{secret[-4:]}", "updated_at": record.get("updated_at")}
    if with_secret:
        out["signing_secret"] = secret
    return out


def create(call) -> Reply:
    """POST /v1/webhook_endpoints: a new endpoint, with its signing secret."""
    body = _checked(call, "webhooks.create")
    for name in ("url", "name", "event_types"):
        if name not in body:
            raise missing_param(name)
    endpoint = hooks.make(body["url"], None, body["event_types"], id=call.state.new_id("we_"), source="api")
    record = {**endpoint.record(), "name": body["name"], "updated_at": endpoint.created_at}
    call.state.put(STORE, record)
    return Reply.json(200, _shown(record, with_secret=True))


def retrieve(call) -> Reply:
    """GET /v1/webhook_endpoints/{id}."""
    return Reply.json(200, _shown(_load(call)))


def update(call) -> Reply:
    """POST /v1/webhook_endpoints/{id}: a new url, name or set of event types."""
    body = _checked(call, "webhooks.update")
    with call.state.lock:
        record = _load(call)
        changed = {key: value for key, value in (("url", body.get("url")), ("name", body.get("name")),
                                                 ("events", body.get("event_types")))
                   if value is not None and record.get(key) != value}
        if changed:
            record = call.state.put(STORE, {**record, **changed, "updated_at": int(time.time())})
    return Reply.json(200, _shown(record))


def list_endpoints(call) -> Reply:
    """GET /v1/webhook_endpoints: newest first."""
    return pages.page(call, STORE, where=lambda r: r.get("source") == "api", shape=_shown)


def delete(call) -> Reply:
    """DELETE /v1/webhook_endpoints/{id}: no more deliveries to it."""
    with call.state.lock:
        record = _load(call)
        call.state.delete(STORE, record["id"])
    return Reply.json(200, {"id": record["id"], "deleted": True, "object": "webhook_endpoint.deleted"})


def rotate_secret(call) -> Reply:
    """POST /v1/webhook_endpoints/{id}/rotate_secret: a new secret; the old one still signs for 24 hours when asked."""
    body = _checked(call, "webhooks.rotate_secret")
    keep = params.optional(body, "keep_old_secret_active_for_24_hours", bool, False)
    with call.state.lock:
        record = _load(call)
        now = time.time()
        record = call.state.put(STORE, {**record, "secret": hooks.new_secret(), "updated_at": int(now),
                                        "previous_secret": record["secret"] if keep else None,
                                        "previous_until": now + _OVERLAP if keep else 0.0})
    return Reply.json(200, _shown(record, with_secret=True))


def test(call) -> Reply:
    """POST /v1/webhook_endpoints/{id}/test: a sample `event_type` event, sent to this endpoint alone."""
    body = _checked(call, "webhooks.test")
    event_type = params.require(body, "event_type", str)
    if event_type not in hooks.event_types():
        raise invalid_value("event_type", f"event_type must be one of the API's event types, not {event_type!r}.")
    with call.state.lock:
        record = _load(call)
        data = _sample(event_type)
        call.state.put(hooks.OUTBOX, {"id": call.state.new_id("evt_"), "type": event_type, "created_at": int(time.time()),
                                      "data": data, "to": record["id"]})
    return Reply.json(200, {"event_type": event_type, "object": "webhook_endpoint.test", "status_code": 202,
                            "success": True, "webhook_endpoint_id": record["id"]})


#: The id prefix of the object each event family is about, for `test`'s sample events.
_PREFIXES = {"batch": "batch_", "response": "resp_", "fine_tuning": "ftjob-", "eval": "evalrun_", "video": "video_",
             "realtime": "rtc_", "live": "sess_", "agent": "agent_", "safety": "safety_"}


def _sample(event_type: str) -> dict:
    """The `data` of a sample event of this type: its SDK model's, with sample ids."""
    model = hooks.event_models()[event_type]
    data = instances.instance(model, {"type": event_type})["data"] if model is not None else {"id": ""}
    prefix = _PREFIXES.get(event_type.split(".")[0].split("_identifier")[0], "obj_")
    return {k: f"{prefix}test" if v == "" and (k == "id" or k.endswith("_id")) else v for k, v in data.items()}


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "webhooks.create": create,
    "webhooks.retrieve": retrieve,
    "webhooks.update": update,
    "webhooks.list": list_endpoints,
    "webhooks.delete": delete,
    "webhooks.rotate_secret": rotate_secret,
    "webhooks.test": test,
}
