"""The generic resource: any row of the route table that has no behaviour of its own.

What a row does follows from its shape in the table, as the real API's REST layout has it:

- **create**: `POST` to a collection (a path that also has `/{id}` rows): an object of the
  row's return type, with the request's fields merged in where the type has them, stored
  under its parent (`fine_tuning/jobs/ftjob-1/checkpoints` lives under `fine_tuning/jobs`).
- **list**: a page of that collection, with the one pagination rule (`pages.page`).
- **retrieve**, **update**, **delete**: the object at `/{id}`, or the real API's 404;
  update merges the request's fields; delete forgets the object and every child under
  its path, and answers `{"id", "deleted": true}` in the row's type.
- **action**: `POST /{id}/cancel`, `/archive`, `/pause`, ...: the object, with its `status`
  moved to what the verb means, where the type has such a status.
- **content**: raw bytes stored with an object (what a multipart create uploaded), else none.
- **singleton**: a `GET` (and a `POST` that sets it) of a path that holds one object
  (`/organization/projects/{id}/service_tier_settings`).
- **compute**: a `POST` that stores nothing (`/realtime/client_secrets`, `/traces/ingest`): the
  row's return type built from the request, or an empty 200 without one.

Every reply is an instance of the row's return type that validates (`instances.instance`).
Rows whose endpoint really does work (batches that run, audio, videos) answer consistent
objects only, until a hand-written module gives them behaviour (docs/reference/endpoints.md).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .. import errors, forms, pages, params, validation
from ..bodies import first_error
from ..errors import OpenAIError
from ..instances import fields_of, instance, literal_values, resolve
from ..rows import Row
from ..wire import Reply

#: Generic rows take only the common knobs (latency, failures, failure_status, retry_after, handler).
KNOBS: dict[str, type] = {}

_PARAM = re.compile(r"\{[^}]+\}")
_SINGLETON = "_"  # the id of the one object a singleton path holds

# The status each action verb moves an object to, in order of preference (the first its type allows).
_VERBS = {
    "cancel": ("cancelled", "canceled", "cancelling"), "archive": ("archived",), "unarchive": ("active",),
    "pause": ("paused",), "resume": ("running", "active", "in_progress", "queued"), "activate": ("active",),
    "deactivate": ("inactive", "disabled"), "disable": ("disabled",), "enable": ("enabled", "active"),
    "hangup": ("completed", "ended"), "reject": ("rejected",), "accept": ("accepted", "active"),
}

# Id prefixes the real API uses, by SDK type name; others get one made from the type's name.
_PREFIXES = {
    "Batch": "batch_", "FineTuningJob": "ftjob-", "FineTuningJobEvent": "ftevent-", "FineTuningJobCheckpoint": "ftckpt_",
    "EvalCreateResponse": "eval_", "RunCreateResponse": "evalrun_", "ContainerCreateResponse": "cntr_",
    "FileCreateResponse": "cfile_", "Video": "video_", "Project": "proj_", "ProjectServiceAccount": "svc_acct_", "ServiceAccountCreateResponse": "svc_acct_",
    "Invite": "invite-", "AdminAPIKey": "key_", "Certificate": "cert_", "Skill": "skill_", "Agent": "agent_",
    "AgentSession": "sess_", "ImagesResponse": "img_", "PermissionCreateResponse": "cp_",
}


def _empty(row: Row) -> Reply:
    """The answer of a row whose SDK method expects no body: 200 and nothing, as the API sends (204 for the
    agents SDK's trace upload, which is what the tracing endpoint answers)."""
    if row.name == "traces.ingest":
        return Reply(204, b"")
    return Reply(200, b"", {"content-type": "application/json"})


# What a row of raw bytes answers as; any other, application/octet-stream.
_MEDIA = {"skills.content.retrieve": "application/zip", "skills.versions.content.retrieve": "application/zip",
          "videos.download_content": "video/mp4", "audio.speech.create": "audio/mpeg",
          "realtime.calls.create": "application/sdp", "live.sessions.download_recording": "audio/wav"}
#: Lists the API names other than "list" (the SDK's page types do not say; the OpenAPI description does).
_LIST_OBJECT = {
    "admin.organization.certificates.activate": "organization.certificate.activation",
    "admin.organization.certificates.deactivate": "organization.certificate.deactivation",
    "admin.organization.projects.certificates.activate": "organization.project.certificate.activation",
    "admin.organization.projects.certificates.deactivate": "organization.project.certificate.deactivation",
}

#: Nested fields the API sends as null where it has nothing (the OpenAPI description requires them, the SDK
#: types them optional). Top-level ones are always sent; nested ones only here, as other descriptions call
#: their nested optional fields non-null.
_NESTED_NULLS = {
    "beta.chatkit.sessions.create": ("chatkit_configuration.file_upload.max_file_size", "chatkit_configuration.file_upload.max_files",
                                     "chatkit_configuration.history.recent_threads", "workflow.state_variables", "workflow.version"),
    "admin.organization.groups.roles.create": ("role.description",),
    "admin.organization.projects.groups.roles.create": ("role.description",),
    "admin.organization.projects.users.roles.create": ("role.description",),
}
#: Creates the API answers 201 Created (its description says so; every other create answers 200).
CREATED = frozenset({"evals.create", "evals.runs.create"})
_NESTED_NULLS["beta.chatkit.sessions.cancel"] = _NESTED_NULLS["beta.chatkit.sessions.create"]


class Shape:
    """What the route table says about a row's path: which rows are items, collections, singletons."""

    def __init__(self, rows: tuple[Row, ...]) -> None:
        self.collections: set[str] = set()  # normalised collection paths: listed, or with a `/{id}` under them
        self.singletons: set[str] = set()  # normalised static paths with a plain GET of one object
        self.items: set[str] = set()  # normalised paths of one stored object (`/v1/batches/{}`)
        creates = {normalise(r.path) for r in rows if r.method == "POST" and not r.binary}
        for row in rows:
            norm = normalise(row.path)
            parent = norm.rsplit("/", 1)[0]
            if norm.endswith("/{}"):
                self.collections.add(norm[:-3])
                self.items.add(norm)
            elif row.page is not None:
                self.collections.add(norm)
            elif row.method == "GET" and not row.binary:
                self.singletons.add(norm)
            if parent.endswith("/{}") and parent[:-3] in creates and not norm.endswith("/{}"):
                self.collections.add(parent[:-3])  # made by a create, reached only by its actions (`/{id}/cancel`)
                self.items.add(parent)

    def kind(self, row: Row) -> str:
        norm = normalise(row.path)
        if row.page is not None:
            return "create_many" if row.method == "POST" else "list"
        if norm.endswith("/{}"):
            return {"GET": "retrieve", "DELETE": "delete"}.get(row.method, "update")
        if norm in self.collections:
            return "create" if row.method == "POST" else "singleton"
        if norm in self.singletons:
            return "singleton"
        parent = norm.rsplit("/", 1)[0]
        if parent.endswith("/{}"):
            if row.binary and row.method == "GET":
                return "content"
            return "action" if row.method != "GET" else "singleton"
        return "compute"


def normalise(path: str) -> str:
    return _PARAM.sub("{}", path)


def handler(row: Row, shape: Shape, generic_items: set[str]) -> Callable:
    """The handler that serves `row` by its shape; `generic_items`: the normalised item paths this module serves
    (a parent served by a hand-written module is not checked here)."""
    kind = shape.kind(row)
    serve = _KINDS[kind]
    returns = row.returns

    def generic(call) -> Any:
        if row.streams and params.wants_stream(_body(call, row) if row.body == "json" else {}):
            raise OpenAIError(400, f"openai-fake answers {row.name} whole, not streamed: call it without `stream`.",
                              param="stream", code="unsupported_parameter")
        _check_parents(call, row, generic_items)
        return serve(call, row, resolve(returns) if returns else None, generic_items)

    generic.__name__ = f"generic_{kind}"
    generic.kind = kind
    return generic


# -- the kinds ---------------------------------------------------------------------------


def _create(call, row: Row, tp: Any, items: set[str]) -> Reply:
    fields, files = _fields(call, row)
    with call.state.lock:
        obj = _store_new(call, row, tp, fields)
        for data in files.values():
            call.state.put_blob(f"{_collection(call, row.path)}/{obj['id']}", data)
    return Reply.json(201 if row.name in CREATED else 200, obj)


def _create_many(call, row: Row, tp: Any, items: set[str]) -> Reply:
    """A create that answers a page of what it made: one object per id of the body's `*_ids` list
    (`permissions.create(project_ids=[...])`), else one."""
    fields, _ = _fields(call, row)
    item = resolve(row.item) if row.item else None
    listed = next(((k, v) for k, v in fields.items() if k.endswith("_ids") and isinstance(v, list)), None)
    each = [{listed[0][:-1]: value} for value in listed[1]] if listed else [{}]
    rest = {k: v for k, v in fields.items() if not listed or k != listed[0]}
    with call.state.lock:
        made = [_store_new(call, row, item, {**rest, **one}) for one in each]
    return pages.list_reply(made, False, row.page, _LIST_OBJECT.get(row.name, "list"))


def _store_new(call, row: Row, tp: Any, fields: dict) -> dict:
    """A new object of `tp` in the row's collection. A create that links an existing object (`{"user_id": ...}`
    posted to `.../users`) stores it under that id; fields named as the path's ids (`project_id`) are filled."""
    collection = _collection(call, row.path)
    link = f"{_noun(collection).replace(' ', '_')}_id"
    oid = fields.get(link) if isinstance(fields.get(link), str) and fields.get(link) else call.state.new_id(_prefix(tp))
    parents = {name: value for name, value in call.request.params.items() if name in fields_of(tp)}
    obj = _build(call, tp, {**parents, **fields, "id": oid, **_custom(call)}, row)
    if "id" not in obj:  # a type without an id (a version, a session wrapper) is still stored by one
        obj = {**_nested_ids(tp, obj, oid), "id": oid}
    call.state.put(collection, obj)
    return obj


def _nested_ids(tp: Any, obj: dict, oid: str) -> dict:
    """An id-less wrapper (`{"session": {...}}`) gets the stored id on the object it wraps."""
    out = dict(obj)
    for key, value in obj.items():
        if isinstance(value, dict) and "id" in value and not value["id"]:
            out[key] = {**value, "id": oid}
    return out


def _list(call, row: Row, tp: Any, items: set[str]) -> Reply:
    item = resolve(row.item) if row.item else None

    def as_item(obj: dict) -> dict:  # the create's type may not be the list's (`CertificateCreateResponse`)
        return _as(item, obj, call, row)

    page = pages.page(call, _collection(call, row.path), kind=row.page, shape=as_item)
    custom = _custom(call)
    if not custom:
        return page
    body = {**page.payload, **custom}  # a handler's page: its own `data`, `has_more`, ...
    if item is not None and isinstance(body.get("data"), list):
        body["data"] = [as_item(obj) if isinstance(obj, dict) else obj for obj in body["data"]]
    return Reply.json(200, body)


def _retrieve(call, row: Row, tp: Any, items: set[str]) -> Reply:
    collection, oid = _item(call, row.path)
    obj = _fetch(call, collection, oid, row)
    return Reply.json(200, _as(tp, obj, call, row))


def _update(call, row: Row, tp: Any, items: set[str]) -> Reply:
    collection, oid = _item(call, row.path)
    fields, _ = _fields(call, row)
    with call.state.lock:
        obj = _fetch(call, collection, oid, row)
        updated = _build(call, tp, {**obj, **fields, **_custom(call)}, row) if tp else {**obj, **fields}
        call.state.put(collection, {**updated, "id": obj["id"]})
    return Reply.json(200, updated)


def _delete(call, row: Row, tp: Any, items: set[str]) -> Reply:
    collection, oid = _item(call, row.path)
    with call.state.lock:
        gone = _fetch(call, collection, oid, row)
        call.state.delete_tree(collection, oid)
        call.state.delete_blob(f"{collection}/{oid}")
    if tp is None:
        return _empty(row)
    said = {"id": oid, "deleted": True, list(call.request.params)[-1]: oid}  # `run_id` too, where the type has it
    if isinstance(gone.get("object"), str):
        said["object"] = f"{gone['object']}.deleted"  # "eval.run" -> "eval.run.deleted", where the type takes any
    return Reply.json(200, _build(call, tp, {**said, **_custom(call)}, row))


def _action(call, row: Row, tp: Any, items: set[str]) -> Reply:
    parent, verb = row.path.rsplit("/", 1)
    if normalise(parent) not in items:  # an object the API made elsewhere (a SIP call, say): nothing stored to move
        fields, _ = _fields(call, row)
        return _empty(row) if tp is None else Reply.json(200, _build(call, tp, {**fields, **_custom(call)}, row))
    collection, oid = _item(call, parent)
    with call.state.lock:
        obj = _fetch(call, collection, oid, row)
        if tp is None:
            return _empty(row)
        fields, _ = _fields(call, row)
        moved = _moved_status(tp, verb)
        if first_error(tp, obj) is None or moved is not None:  # the action answers the object itself
            changed = {**obj, **({"status": moved} if moved else {})}
            answer = _build(call, tp, {**changed, **_custom(call)}, row)
            call.state.put(collection, {**obj, **{k: v for k, v in answer.items() if k in obj or k == "status"}})
            return Reply.json(200, answer)
    return Reply.json(200, _build(call, tp, {**fields, **_custom(call)}, row))


def _content(call, row: Row, tp: Any, items: set[str]) -> Reply:
    collection, oid = _item(call, row.path.rsplit("/", 1)[0])
    _fetch(call, collection, oid, row)
    return Reply(200, call.state.blob(f"{collection}/{oid}") or b"", {"content-type": _MEDIA.get(row.name, "application/octet-stream")})


def _singleton(call, row: Row, tp: Any, items: set[str]) -> Reply:
    """The one object a path holds: GET it (its type's defaults until set), POST to set it, DELETE to clear it."""
    collection = _collection(call, row.path)
    with call.state.lock:
        stored = {k: v for k, v in (call.state.get(collection, _SINGLETON) or {}).items() if k != "id"}
        if row.method == "DELETE":
            call.state.delete(collection, _SINGLETON)
            return _empty(row) if tp is None else Reply.json(200, _build(call, tp, {"deleted": True, **_custom(call)}, row))
        if row.method == "GET":
            return _empty(row) if tp is None else Reply.json(200, _build(call, tp, {**stored, **_custom(call)}, row))
        fields, _ = _fields(call, row)
        body = {**stored, **fields, **_custom(call)}
        if tp is not None:
            body = _build(call, tp, body, row)
        call.state.put(collection, {**body, "id": _SINGLETON})
    return _empty(row) if tp is None else Reply.json(200, body)


def _compute(call, row: Row, tp: Any, items: set[str]) -> Reply:
    if row.binary:
        return Reply(200, b"", {"content-type": _MEDIA.get(row.name, "application/octet-stream")})
    if tp is None:
        return _empty(row)
    fields, _ = _fields(call, row)
    return Reply.json(200, _build(call, tp, {**fields, **_custom(call)}, row))


_KINDS = {"create": _create, "create_many": _create_many, "list": _list, "retrieve": _retrieve, "update": _update, "delete": _delete,
          "action": _action, "content": _content, "singleton": _singleton, "compute": _compute}


# -- parts -------------------------------------------------------------------------------


def _body(call, row: Row) -> dict:
    if row.body == "multipart" or call.request.headers.get("content-type", "").startswith("multipart/"):
        return {}
    if not call.request.body:
        return {}
    body = params.json_body(call.request)
    if not isinstance(body, dict):
        raise OpenAIError(400, "The request body must be a JSON object.")
    return body


def _fields(call, row: Row) -> tuple[dict, dict[str, bytes]]:
    """The request's fields (JSON, or a multipart form's text fields) and its uploaded files."""
    if row.body == "multipart" and call.request.headers.get("content-type", "").startswith("multipart/"):
        form = forms.parse(call.request)
        fields = {name.removesuffix("[]"): f.text for name, f in form.items() if f.filename is None}
        files = {name: f.value for name, f in form.items() if f.filename is not None}
        if call.profile.validate_requests:  # a form's values are text: its names are what can be checked
            validation.validate(row, fields | {name: True for name in files}, types=False)
        return fields, files
    body = _body(call, row) if row.method != "GET" else {}
    if call.profile.validate_requests:
        validation.validate(row, body)
    return body, {}


def _custom(call) -> dict:
    """The profile handler's partial answer, laid over the default (a dict), or nothing; anything else is a
    mistake said loudly (a 500 naming the route), never ignored."""
    custom = call.custom()
    if custom is None:
        return {}
    if not isinstance(custom, dict):
        raise call.unfit(custom)
    return custom


def _build(call, tp: Any, fields: dict, row: Row) -> Any:
    obj = instance(tp, fields)
    for path in _NESTED_NULLS.get(row.name, ()):
        *outer, last = path.split(".")
        holder = obj
        for key in outer:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.setdefault(last, None)
    found = first_error(tp, obj)
    if found is not None:  # pragma: no cover - instance() always validates; a profile's partial may not
        raise OpenAIError(500, f"openai-fake: {call.where} produced a {row.returns} that does not validate: {found}",
                          type="server_error", headers={"x-should-retry": "false"})
    return obj


def _as(tp: Any, obj: dict, call, row: Row) -> dict:
    """A stored object as the row's type (a retrieve's type may differ a little from its create's)."""
    if tp is None or first_error(tp, obj) is None:
        return obj
    return _build(call, tp, obj, row)


def _collection(call, template: str) -> str:
    """The state collection a path names, its parameters filled in: `fine_tuning/jobs/ftjob-1/events`."""
    values = iter(call.request.params.values())
    return _PARAM.sub(lambda _: next(values), template.removeprefix("/v1/"))


def _item(call, template: str) -> tuple[str, str]:
    """(collection, id) of the object at a path that ends with its id."""
    path = _collection(call, template)
    collection, _, oid = path.rpartition("/")
    return collection, oid


def _fetch(call, collection: str, oid: str, row: Row) -> dict:
    obj = call.state.get(collection, oid)
    if obj is None:
        raise errors.no_such(_noun(collection), oid)
    return obj


def _check_parents(call, row: Row, generic_items: set[str]) -> None:
    """Every object the path goes through must exist, where this module keeps it: children live under their parent."""
    segments = row.path.split("/")
    for end in range(3, len(segments)):
        prefix = "/".join(segments[:end + 1])
        if not prefix.endswith("}") or prefix == row.path or normalise(prefix) not in generic_items:
            continue
        collection, oid = _item(call, prefix)
        if call.state.get(collection, oid) is None:
            raise errors.no_such(_noun(collection), oid)


def _moved_status(tp: Any, verb: str) -> str | None:
    """The status an action verb moves an object of type `tp` to: the first its `Literal` allows, or, where
    the status is any string, the verb's first."""
    wanted = _VERBS.get(verb, ())
    allowed = literal_values(tp, "status")
    if allowed:
        return next((s for s in wanted if s in allowed), None)
    return wanted[0] if wanted and "status" in fields_of(tp) else None


def _noun(collection: str) -> str:
    """`fine_tuning/jobs` -> "job", `batches` -> "batch", `vector_stores` -> "vector store"."""
    last = collection.rsplit("/", 1)[-1].replace("_", " ")
    if last.endswith(("ches", "shes", "sses", "xes")):
        return last[:-2]
    if last.endswith("ies"):
        return last[:-3] + "y"
    return last[:-1] if last.endswith("s") else last


def _prefix(tp: Any) -> str:
    name = getattr(tp, "__name__", "obj")
    if name in _PREFIXES:
        return _PREFIXES[name]
    words = re.findall(r"[A-Z][a-z0-9]*", name) or [name]
    return "".join(w.lower() for w in words[:2] if w not in ("Response", "Create", "Retrieve")) + "_"
