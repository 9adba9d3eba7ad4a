"""Request bodies checked against the SDK's own params types, as the real API checks them.

    validate(row, body)   # raises the real API's 400, or returns

For a row whose SDK method sends a JSON body typed by a `*Params` TypedDict
(`BatchCreateParams`): a field it does not have is `Unrecognized request argument
supplied: X`; a required one missing is `Missing required parameter: 'X'.`; a value of
the wrong type or outside a `Literal` is `invalid_type` / `invalid_value`, with `param`
naming the field as the API does (`data_source.source.type`, `items[0].id`). Multipart
bodies (uploads) are checked for their required fields only. A profile can turn this
off with `Profile(validate_requests=False)`, for tests that send odd bodies on purpose.
"""

from __future__ import annotations

import functools
import re
import typing
from typing import Any

import pydantic

from . import errors
from .instances import required_keys, resolve
from .rows import Row

_TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "int_from_float": "an integer", "float_type": "a number",
    "bool_type": "a boolean", "list_type": "an array", "dict_type": "an object", "model_type": "an object",
    "typed_dict_type": "an object", "iterable_type": "an array", "none_required": "null",
}


def _checker_or_none(params: str):
    """The checker of a params type, or None when it cannot be had now (its module half-imported by the thread
    that warms the SDK's types, say): a request is never refused because its validator could not be built."""
    try:
        return _checker(params)
    except Exception:  # not cached: the next call tries again
        return None


@functools.lru_cache(maxsize=None)
def _checker(params: str) -> tuple[pydantic.TypeAdapter | None, frozenset[str], frozenset[str]]:
    """(adapter, every field, required fields) of a params type; no adapter where pydantic cannot make one
    (a file field's `IO[bytes]`): then only the names are checked."""
    tp = resolve(params)
    try:
        names = frozenset(typing.get_type_hints(tp))
    except Exception:
        names = frozenset(getattr(tp, "__annotations__", ()))
    try:
        adapter = pydantic.TypeAdapter(tp)
    except Exception:  # an upload's file field, or a type pydantic does not build
        adapter = None
    return adapter, names, required_keys(tp)


def validate(row: Row, body: dict[str, Any], *, types: bool = True) -> None:
    """The real API's 400 for a body its params type refuses; `types=False` checks the names only."""
    if row.params is None:
        return
    checker = _checker_or_none(row.params)
    if checker is None:
        return
    adapter, names, required = checker
    in_path = _path_names(row.path)  # the SDK types them with the body, and sends them in the URL
    for name in sorted(required - in_path):
        if name not in body:
            raise errors.missing_param(name)
    unknown = [k for k in body if k not in names]
    if unknown and names:
        raise errors.OpenAIError(400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0],
                                 code="unknown_parameter")
    if not types or adapter is None:
        return
    try:
        adapter.validate_python(body, strict=True)
    except pydantic.ValidationError as e:
        found = [f for f in e.errors(include_url=False) if not (f["type"] == "missing" and f["loc"][0] in in_path)]
        if found:
            raise _as_api_error(found[0]) from None


@functools.lru_cache(maxsize=None)
def _path_names(path: str) -> frozenset[str]:
    return frozenset(re.findall(r"\{(\w+)\}", path))


def unknown_fields(row: Row, body: Any) -> None:
    """The real API's 400 for a field the row's params type does not have (`Unrecognized request argument
    supplied: X`), for the rows whose modules check the rest of the body themselves."""
    if row.params is None or not isinstance(body, dict):
        return
    checker = _checker_or_none(row.params)
    if checker is None:
        return
    _, names, _ = checker
    for key in body:
        if names and key not in names:
            raise errors.OpenAIError(400, f"Unrecognized request argument supplied: {key}", param=key,
                                     code="unknown_parameter")


def _as_api_error(error: dict) -> errors.OpenAIError:
    param = _param(error["loc"])
    kind = error["type"]
    got = error.get("input")
    if kind == "missing":
        return errors.missing_param(param)
    if kind in _TYPE_WORDS:
        return errors.invalid_type(param, _TYPE_WORDS[kind], got)
    if kind == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        return errors.invalid_value(param, f"Invalid value: {got!r}. Supported values are: {allowed}.")
    return errors.invalid_value(param, f"Invalid '{param}': {error['msg']}.")


_TAGS = frozenset({"str", "int", "float", "bool", "bytes", "none", "dict", "list", "tuple", "set"})


def _param(loc: tuple) -> str:
    """pydantic's location as the API names a param: `a.b[0].c` (union and type tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS or "[" in part or "-" in part or part[:1].isupper():
            continue  # a union member's tag (`str`, `list[...]`, `ResponseInputParam`), not a field
        else:
            out += ("." if out else "") + part
    return out
