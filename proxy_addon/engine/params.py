"""Reading request parameters the way the real API checks them: one place for the 400s."""

from __future__ import annotations

from typing import Any

from . import errors
from .wire import Request

_MISSING = object()
_EXPECTED = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array", dict: "an object"}


def json_body(request: Request) -> dict:
    """The body as a JSON object, or the real API's 400."""
    try:
        body = request.json
    except ValueError:
        raise errors.unparsable_json() from None
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.OpenAIError(400, "The request body must be a JSON object.", code="invalid_type")
    return body


def _check_type(name: str, value: Any, kind: type | tuple[type, ...]) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        kinds = kinds + (int,)
    # bool is an int in Python but not in JSON.
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        expected = " or ".join(_EXPECTED.get(k, k.__name__) for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise errors.invalid_type(name, expected, value)


def require(body: dict, name: str, kind: type | tuple[type, ...]) -> Any:
    """A required parameter: 400 `missing_required_parameter` or `invalid_type` when wrong."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise errors.missing_param(name)
    _check_type(name, value, kind)
    return value


def optional(body: dict, name: str, kind: type | tuple[type, ...], default: Any = None,
             minimum: float | None = None, maximum: float | None = None) -> Any:
    """An optional parameter, checked for type and range when present."""
    value = body.get(name)
    if value is None:
        return default
    _check_type(name, value, kind)
    if minimum is not None and value < minimum:
        raise errors.invalid_value(name, f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.")
    if maximum is not None and value > maximum:
        raise errors.invalid_value(name, f"Invalid '{name}': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.")
    return value


def wants_stream(body: dict) -> bool:
    """Whether the request asks for a stream (`"stream": true`)."""
    return bool(optional(body, "stream", bool, False))


def metadata(value: Any) -> dict | None:
    """`metadata` checked as the real API checks it: at most 16 string values, keys <= 64, values <= 512 chars."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.invalid_type("metadata", "an object", value)
    if len(value) > 16:
        raise errors.invalid_value("metadata", f"Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with {len(value)} properties instead.")
    for key, item in value.items():
        if len(key) > 64:
            raise errors.invalid_value("metadata", f"Invalid 'metadata': key too long. Expected a key with maximum length 64, but got a key with length {len(key)} instead.")
        if not isinstance(item, str):
            raise errors.invalid_type(f"metadata.{key}", "a string", item)
        if len(item) > 512:
            raise errors.invalid_value(f"metadata.{key}", f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512, but got a string with length {len(item)} instead.")
    return dict(value)

