"""Reply bodies: defaults merged with the profile's partial dicts, validated by the SDK's own types."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import pydantic

from . import errors
from .wire import Reply


def merge(base: Any, partial: Any) -> Any:
    """`partial` laid over `base`: dicts merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(partial, dict):
        out = dict(base)
        for key, value in partial.items():
            out[key] = merge(base.get(key), value)
        return out
    return partial


def stable_id(prefix: str, *parts: Any, length: int = 24) -> str:
    """An id derived from its inputs, so the same request gets the same id."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return prefix + digest[:length]


def as_partial(value: Any) -> Any:
    """A handler's answer as a plain partial dict (SDK models keep only the fields that were set)."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    return value


@functools.lru_cache(maxsize=None)
def _adapter(model: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(model)


def first_error(model: Any, data: Any) -> tuple[tuple, str] | None:
    """Where and why `data` is not a valid SDK `model` (`(("status",), "Input should be ...")`), or None.

    `model` is a pydantic model or a union the SDK declares as a type alias
    (`openai.types.conversations.ConversationItem`, `ResponseItem`, ...).
    """
    try:
        if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
            model.model_validate(data)
        else:
            _adapter(model).validate_python(data)
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        return tuple(first["loc"]), first["msg"]
    return None


def problem(model: Any, data: Any) -> str | None:
    """Why `data` is not a valid SDK `model` ("loc: message"), or None when it is."""
    found = first_error(model, data)
    return None if found is None else f"{'.'.join(str(p) for p in found[0])}: {found[1]}"


def check(model: Any, data: dict, where: str) -> None:
    """Check `data` against the SDK type `model`; a mismatch is a 500 naming the profile rule at fault."""
    found = problem(model, data)
    if found is not None:
        # A union alias has no useful name: say which item type it was.
        name = model.__name__ if isinstance(model, type) else f"{data.get('type')!r} item"
        raise errors.OpenAIError(
            500,
            f"openai-fake: {where} produced a {name} that does not validate: {found}",
            type="server_error",
            headers={"x-should-retry": "false"},
        )


def reply(model: type[pydantic.BaseModel], data: dict, where: str) -> Reply:
    """A 200 reply of `data`, once `check` passes."""
    check(model, data, where)
    return Reply.json(200, data)


def function_call(partial: dict) -> dict:
    """A profile's partial function call made whole: `arguments` as a JSON string (a dict is accepted)."""
    fn = dict(partial.get("function") or {})
    if not isinstance(fn.get("arguments", ""), str):
        fn["arguments"] = json.dumps(fn["arguments"])
    fn.setdefault("arguments", "{}")
    return fn


def echo_answer(said: str) -> str:
    """The default answer: a deterministic restatement of what the user last said."""
    words = said.split()
    gist = " ".join(words[:12]) + (" ..." if len(words) > 12 else "")
    return f"This is a fake answer from openai-fake. You said: {gist}" if gist else "This is a fake answer from openai-fake."
