"""The smallest valid instance of an SDK type: what the generic resource answers for an endpoint
that has no behaviour of its own.

    instance(Batch, {"id": "batch_1", "endpoint": "/v1/chat/completions"})

Required fields are filled deterministically (a `Literal`'s first value, "" for a string, 0,
False, [], {}, a nested model's own instance, `None` where the field is optional); time
fields (`created_at`, `created`, ...) get the time of the call; the given `fields` (the
request's own, say) are laid over that where the type accepts them, and dropped where it
does not. The result always validates against the type: it is checked.
"""

from __future__ import annotations

import enum
import functools
import importlib
import time
import types
import typing
from typing import Any

import pydantic

from .bodies import first_error

_NONE = type(None)
_TIME_FIELDS = ("created_at", "created", "updated_at", "last_used_at", "added_at", "started_at", "effective_at")


@functools.lru_cache(maxsize=None)
def resolve(name: str) -> Any:
    """The SDK type a table row names (`"openai.types:Batch"`)."""
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def instance(tp: Any, fields: dict | None = None, *, now: int | None = None) -> Any:
    """A valid instance of `tp` as plain data, with `fields` merged in where they fit. For a union
    (`Automation`: periodic or one-time), the member that keeps most of `fields` (its `type`, say)."""
    now = int(time.time()) if now is None else now
    members = [m for m in _flatten(tp) if isinstance(m, type) and issubclass(m, pydantic.BaseModel)]
    if len(members) > 1 and fields:
        built = [_merged(m, fields, now) for m in members]
        return max(built, key=lambda b: sum(1 for k, v in fields.items() if b.get(k) == v))
    return _merged(tp, fields, now)


_NOW = -7_777_777_777  # stands for the time of the call in a cached template


@functools.lru_cache(maxsize=4096)
def _template(tp: Any) -> Any:
    """A type's instance with `_NOW` for its time fields: built once per type (walking a type is most of the cost)."""
    return _value(tp, "", _NOW, 0)


def _at(value: Any, now: int) -> Any:
    """A copy of a template with the call's time in place of `_NOW`."""
    if isinstance(value, dict):
        return {k: _at(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_at(v, now) for v in value]
    if value == _NOW and type(value) in (int, float):
        return type(value)(now)
    return value


def _merged(tp: Any, fields: dict | None, now: int) -> Any:
    try:
        base = _at(_template(tp), now)
    except TypeError:  # a type that cannot be a cache key
        base = _value(tp, "", now, 0)
    if not fields or not isinstance(base, dict):
        return base
    known = fields_of(tp)
    if known:  # a request field the type lacks (an image's `prompt`) is not the answer's, though the SDK allows extras
        fields = {k: v for k, v in fields.items() if k in known}
    merged = {**base, **fields}
    for _ in range(len(fields) + 1):  # drop, one by one, the given fields the type refuses
        found = first_error(tp, merged)
        if found is None:
            return merged
        key = found[0][0] if found[0] else None
        if key not in fields or key not in merged:
            break
        if key in base:
            merged[key] = base[key]
        else:
            merged.pop(key)
        fields = {k: v for k, v in fields.items() if k != key}
    return base


@functools.lru_cache(maxsize=None)
def required_keys(tp: Any) -> frozenset[str]:
    """The keys a request params TypedDict requires (the SDK marks them `Required[...]` in a `total=False` dict)."""
    try:
        hints = typing.get_type_hints(tp, include_extras=True)
    except Exception:  # an annotation that does not resolve: require nothing rather than refuse
        return frozenset(getattr(tp, "__required_keys__", ()))
    marked = {k for k, v in hints.items() if typing.get_origin(v) is typing.Required}
    return frozenset(marked | set(getattr(tp, "__required_keys__", ())))


def fields_of(tp: Any) -> dict[str, Any]:
    """A model's fields by the name they have on the wire."""
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return {(f.alias or name): f for name, f in tp.model_fields.items()}
    return {}


def literal_values(tp: Any, field: str) -> tuple:
    """The values a model's `Literal` field allows (`status` of a Batch), or ()."""
    found = fields_of(tp).get(field)
    if found is None:
        return ()
    out: list = []
    for arg in _flatten(found.annotation):
        if typing.get_origin(arg) is typing.Literal:
            out += typing.get_args(arg)
    return tuple(out)


def _flatten(tp: Any) -> list:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [a for arg in typing.get_args(tp) for a in _flatten(arg)]
    return [tp]


def _absent(field: Any) -> Any:
    """An optional field's value when nothing sets it: its default, an empty list for a list, else null."""
    default = field.get_default(call_default_factory=True)
    if default is not None:
        return default
    inner = [a for a in _flatten(field.annotation) if a is not _NONE]
    if inner and (typing.get_origin(inner[0]) in (list, tuple) or inner[0] in (list, tuple)):
        return []
    return None


def _value(tp: Any, name: str, now: int, depth: int) -> Any:
    if depth > 10:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _value(typing.get_args(tp)[0], name, now, depth)
    if origin is typing.Literal:
        return typing.get_args(tp)[0]
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if _NONE in args:
            return None
        return _value(args[0], name, now, depth + 1)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set):
        return []
    if origin is dict or tp is dict:
        return {}
    if isinstance(tp, type):
        if issubclass(tp, pydantic.BaseModel):
            out = {}
            for key, field in fields_of(tp).items():
                if field.is_required():
                    out[key] = _value(field.annotation, key, now, depth + 1)
                elif depth == 0:  # the real API sends every field of an object, null where it has nothing
                    out[key] = _absent(field)
            return out
        if issubclass(tp, bool):
            return False
        if issubclass(tp, int):
            return now if name in _TIME_FIELDS or name.endswith("_at") else 0
        if issubclass(tp, float):
            return float(now) if name in _TIME_FIELDS else 0.0
        if issubclass(tp, str):
            return ""
        if issubclass(tp, enum.Enum):
            return next(iter(tp)).value
    if tp is _NONE:
        return None
    return {}  # object, Any, a TypedDict: an empty object is the least surprising value
