"""Models: `GET /v1/models`, `GET /v1/models/{model}` and `DELETE /v1/models/{model}`.

Knob: `models`, the ids the fake lists (strings, or partial Model dicts); the models of the fine-tuning
jobs that have succeeded are listed after them, owned by the organization.
Retrieving an id that is not listed answers the real API's 404. A listed fine-tuned
model (`ft:...`) can be deleted, and is gone from the list until the state is reset;
a base model cannot (403, as for a model your organization does not own).
"""

from __future__ import annotations

from typing import Any


from .. import errors, knobs
from ..bodies import check
from ..wire import Reply
from .. import sdk
from .. import stores
from . import fine_tuning

RULE = "models"
KNOBS = {"models": list[str | dict]}

#: What the fake lists when the profile does not say.
DEFAULT_MODELS = (
    "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini",
    "o3", "o4-mini", "gpt-3.5-turbo", "gpt-3.5-turbo-instruct",
    "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
    "omni-moderation-latest", "text-moderation-latest",
)
DOCS = {
    "models": knobs.Doc(f"{len(DEFAULT_MODELS)} current ids: " + ", ".join(f"`{m}`" for m in DEFAULT_MODELS),
                        'The ids `models.list` answers, as strings or partial Model dicts (`{"id": "my-model", '
                        '"owned_by": "me"}`), followed by the models this fake\'s fine-tuning jobs made; retrieving any '
                        "other id is the API's 404 `model_not_found`. A listed fine-tuned model (`ft:...`) can be "
                        "deleted; a base model answers 403."),
}
_CREATED = 1_700_000_000


_DELETED = stores.MODELS_DELETED  # fine-tuned models deleted since the last reset


def _catalogue(call) -> list[dict]:
    custom = call.custom()
    listed = custom.get("models") if isinstance(custom, dict) else custom
    if listed is None:
        listed = call.knob("models", DEFAULT_MODELS)
    out = []
    for entry in listed:
        named = isinstance(entry, str)
        item = {"id": entry} if named else dict(entry)
        item.setdefault("object", "model")
        item.setdefault("created", _CREATED)
        item.setdefault("owned_by", "system" if not item["id"].startswith("ft:") else "user-openai-fake")
        if not named:  # an id alone makes a valid Model; a partial dict may not (and checking imports the SDK types)
            check(sdk.Model, item, call.where)
        if call.state.get(_DELETED, item["id"]) is None:
            out.append(item)
    listed_ids = {item["id"] for item in out}
    for item in fine_tuning.trained_models(call.state):  # the models this fake's jobs have made
        if item["id"] not in listed_ids and call.state.get(_DELETED, item["id"]) is None:
            out.append(item)
    return out


def list_models(call) -> Any:
    return Reply.json(200, {"object": "list", "data": _catalogue(call)})


def retrieve(call) -> Any:
    wanted = call.request.params["model"]
    for item in _catalogue(call):
        if item["id"] == wanted:
            return Reply.json(200, item)
    raise errors.OpenAIError(404, f"The model '{wanted}' does not exist or you do not have access to it.", code="model_not_found")


def delete(call) -> Any:
    wanted = call.request.params["model"]
    with call.state.lock:
        if not any(item["id"] == wanted for item in _catalogue(call)):
            raise errors.OpenAIError(404, f"The model '{wanted}' does not exist or you do not have access to it.",
                                     code="model_not_found")
        if not wanted.startswith("ft:"):
            raise errors.OpenAIError(403, f"You do not have permission to delete the model '{wanted}'.",
                                     code="model_not_deletable")
        call.state.put(_DELETED, {"id": wanted})
    return Reply.json(200, {"id": wanted, "object": "model", "deleted": True})


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "models.list": list_models,
    "models.retrieve": retrieve,
    "models.delete": delete,
}
