"""Knob types: what each profile knob accepts, checked when the profile loads (`profiles check`, `run`).

A resource module declares its knobs as `KNOBS = {"status": Literal["completed", "failed"], ...}`:
any annotation pydantic can validate. A value the annotation refuses is an error at the
profile's line, never a 500 on every later call. Beside them, `DOCS = {"status": Doc(default, meaning)}`
says what each knob does, for the profile reference (tools/reference_docs.py, the docs site's
reference/profile page); tests/test_docs.py fails on a knob without one.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Annotated, Any, NamedTuple

import pydantic
from annotated_types import Ge, Gt, MinLen


class Doc(NamedTuple):
    """A knob's line in the profile reference."""

    #: What the rule does when the knob is not given, in words ("one step per poll").
    default: str
    #: What the knob does, in Markdown.
    meaning: str


def stream_doc(what: str, deltas: str, note: str = "") -> Doc:
    """The `Doc` of a streaming rule's `stream` knob, in the rule's own terms: `what` its streams are
    ("`stream: true` completions"), what `deltas` the pace spaces and counts, and any `note`."""
    return Doc("the profile's `stream`", f"The pace and faults of {what}, a dict of [`Pace`](#pace) knobs or a `Pace`; "
                                         f"the deltas it spaces and counts are {deltas}." + (f" {note}" if note else ""))


#: A non-empty list of partial dicts (`choices=[{"message": {...}}]`).
Partials = Annotated[list[dict], MinLen(1)]
#: A count that can't be negative.
Count = Annotated[int, Ge(0)]
#: Seconds that can't be negative.
Seconds = Annotated[float, Ge(0)]
#: How much faster than real time a clock runs (1: real time).
Scale = Annotated[float, Gt(0)]


@functools.lru_cache(maxsize=None)
def _adapter(kind: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(kind)


@functools.lru_cache(maxsize=None)
def _accepts_text(kind: Any) -> bool:
    """Whether a knob type takes a string at all ("3" must not pass for a count by coercion)."""
    try:
        _adapter(kind).validate_python("x", strict=True)
    except pydantic.ValidationError:
        return any(_accepts_literal(kind))
    return True


def _accepts_literal(kind: Any):
    for arg in typing.get_args(kind) or ():
        if isinstance(arg, str):
            yield True
        else:
            yield from _accepts_literal(arg)


def check(rule: str, key: str, value: Any, kind: Any) -> Any:
    """`value` as a `kind` (a tuple given for a list becomes a list); TypeError / ValueError naming the
    rule and the knob when it is not one."""
    if value is None or kind is object:
        return value
    if isinstance(kind, tuple) or isinstance(kind, type):
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise TypeError(f"{rule}({key}=...) must be a {names}, not {type(value).__name__}")
        return value
    if isinstance(value, (str, bytes)) and not _accepts_text(kind):  # strictly: "3" is not a count
        try:
            _adapter(kind).validate_python(value, strict=True)
        except pydantic.ValidationError as e:
            said = e.errors()[0]["msg"].removeprefix("Input should be ")
            raise TypeError(f"{rule}({key}=...) should be {said}, not a {type(value).__name__} ({_shown(value)})") from None
    try:
        return _adapter(kind).validate_python(value)
    except pydantic.ValidationError as e:
        found = e.errors()
        if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(found) > 1:  # say every way it could be
            wanted = " or ".join(dict.fromkeys(f["msg"].removeprefix("Input should be ") for f in found))
            raise ValueError(f"{rule}({key}=...) should be {wanted} (got {_shown(value)})") from None
        first = found[0]
        at = "".join(f"[{p!r}]" for p in first["loc"])
        raise ValueError(f"{rule}({key}=...){at}: {first['msg']} (got {_shown(first.get('input'))})") from None


def _shown(value: Any, limit: int = 80) -> str:
    """A value for a message, cut short: a knob may hold a whole image's bytes."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
