"""A deterministic example value for a JSON schema, one the schema accepts.

It lets the default answer satisfy `response_format` schemas, `text.format` and tool parameters, so
`chat.completions.parse(response_format=Model)`, `responses.parse(text_format=Model)` and forced tool calls
work without any profile, and pydantic (or instructor, or the Agents SDK) accepts what comes back.

How a value is chosen:

- `const`, then a valid `default`, then `enum`'s first member; `type` lists and `anyOf`/`oneOf` branches in
  order, nulls last (a `oneOf` value must match exactly one branch); `allOf` branches merged into one schema.
- Strings: a fixed, valid value for each common `format` (date-time, date, time, duration, email, uuid, uri,
  ipv4, ipv6, hostname, ... and the ones pydantic emits); `pattern` through `rstr`'s regex-to-string
  generator with fixed seeds (checked with `re`); "example" cut or padded to `minLength`/`maxLength`.
- Numbers: the value nearest 0 inside `minimum`/`maximum`/`exclusive*` that is a `multipleOf`.
- Arrays: `prefixItems` then `items`, one item unless `minItems`/`maxItems` say otherwise; distinct items
  under `uniqueItems`; objects: every property, one entry for a map (`additionalProperties` schema).
- Recursion (`$ref` to a definition being built): the inner value is the smallest one, a null branch,
  an empty array, required properties only, so a recursive model ends one level down.

Every candidate is checked with `jsonschema` (formats included) against the schema, and the next candidate
tried when one fails; the value is kept by the schema's JSON, so a schema costs its search once.
"""

from __future__ import annotations

import base64
import copy
import functools
import math
import random
import re
import string
import threading
from decimal import Decimal
from typing import Any, Iterator

import orjson
from rstr.xeger import Xeger

#: Values for string formats: the common ones, JSON Schema's and those pydantic emits. Each is valid for the
#: format checkers jsonschema ships and for the pydantic type that emits the format.
FORMATS: dict[str, str] = {
    "date-time": "2024-01-01T12:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "duration": "PT1H",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "name-email": "Example <user@example.com>",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    **{f"uuid{v}": f"123e4567-e89b-{v}2d3-a456-426614174000" for v in range(1, 9)},  # pydantic's UUID1, UUID4, ...
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri-reference": "https://example.com/",
    "uri-template": "https://example.com/{id}",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "ipvanyaddress": "192.0.2.1",
    "ipv4network": "192.0.2.0/24",
    "ipv6network": "2001:db8::/32",
    "ipvanynetwork": "192.0.2.0/24",
    "ipv4interface": "192.0.2.1/24",
    "ipv6interface": "2001:db8::1/32",
    "ipvanyinterface": "192.0.2.1/24",
    "json-pointer": "/example",
    "relative-json-pointer": "0",
    "regex": "^example$",
    "byte": "ZXhhbXBsZQ==",
    "base64": "ZXhhbXBsZQ==",
    "base64url": "ZXhhbXBsZQ==",
    "binary": "example",
    "password": "example",
    "path": "example.txt",
    "zoneinfo": "UTC",
    "fraction": "1/2",
    "time-delta": "PT1H",
    "multi-host-uri": "postgres://user:password@localhost:5432/example",
    "json-string": "{}",
    "color": "#ff0000",
    "phone": "+14155550100",
}
#: How many seeds a `pattern` gets before the value falls back to plain text.
PATTERN_TRIES = 40
#: How deep a value may nest before it is cut (a schema that recurses without a way to stop).
MAX_DEPTH = 32
#: Schema nodes one search may visit: a schema of nested unions whose branches all fail would otherwise take
#: exponential time, on the event loop every face shares. Past it, the best value found so far is answered.
MAX_STEPS = 5_000
#: The most schema nodes a check may walk, counting a part reached twice twice (as jsonschema walks it).
MAX_CHECKED = 20_000
_BOUNDS_LOW = ("minimum", "minLength", "minItems", "minProperties", "minContains")
_BOUNDS_HIGH = ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains")


def example(schema: Any) -> Any:
    """The example value of `schema` (the first simplest candidate it accepts), its `$ref`s resolved in it.
    A fresh copy each call: callers may change it.

    Raises TypeError, AttributeError, ValueError, KeyError or IndexError for a schema that is not one
    (`params.example_of` answers those as the API's 400)."""
    if not isinstance(schema, dict):
        return None
    try:
        key = orjson.dumps(schema)  # the order kept: an answer lists properties as its schema does
    except TypeError:  # not JSON (a test's hand-made dict): no cache
        return _Search(schema).first(schema, 0)
    found = _CACHE.get(key)
    if found is None:
        found = orjson.dumps(_Search(schema).first(schema, 0))
        with _CACHE_LOCK:  # the fixture's threads and the proxy's loop may share it
            if len(_CACHE) >= CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = found
    return orjson.loads(found)


#: Schemas whose example is kept (oldest forgotten first), as JSON: a schema costs its search once.
CACHE_SIZE = 512
_CACHE: dict[bytes, bytes] = {}
_CACHE_LOCK = threading.Lock()


class _Xeger(Xeger):
    """rstr's generator made repeatable (negated classes iterate a set: sorted here) and brief (`*`, `+`
    and `{n,}` repeat at most 8 times more than they must)."""

    def _handle_in(self, value: Any) -> Any:
        candidates = list(self._flatten(value))
        if candidates and candidates[0] is False:
            candidates = sorted(set(string.printable).difference(candidates[1:]))
        return self._random.choice(candidates)

    def _flatten(self, value: Any) -> Iterator[Any]:
        for state in value:
            yield from self._handle_state(state)

    def _handle_repeat(self, start_range: int, end_range: int, value: Any) -> str:
        end = min(end_range, start_range + 8)
        times = self._random.randint(start_range, end)
        return "".join("".join(self._handle_state(s) for s in value) for _ in range(times))


class _Search:
    """The candidates of one schema document, best first, each checked against the (sub)schema it is for."""

    def __init__(self, root: dict) -> None:
        self.root = root
        self._validators: dict[int, tuple[dict, Any]] = {}  # id -> (the part, kept alive; its validator)
        self.steps = 0
        self._sizes: dict[Any, int] = {}

    # -- checking ---------------------------------------------------------------------------------------

    def valid(self, value: Any, schema: Any) -> bool:
        """Whether `schema` (a part of the root, its `$ref`s resolved against the root) accepts `value`.
        A schema jsonschema cannot read counts as accepting: the generator is the judge there."""
        if not isinstance(schema, dict) or not schema:
            return True
        # By identity: the parts of one document, and the few made during the search, which the entry keeps
        # alive (so no other object can take their id).
        kept = self._validators.get(id(schema))
        if kept is None:
            kept = self._validators[id(schema)] = (schema, self._validator(schema))
        validator = kept[1]
        if validator is None:
            return True
        try:
            return validator.is_valid(value)
        except Exception:
            return True

    def _validator(self, schema: dict) -> Any:
        """jsonschema's validator of a part (with the root's definitions beside it, for its `$ref`s); None
        where it cannot be had, or where checking would take exponential time (unions of unions)."""
        if _expanded(schema, self.root, self._sizes) > MAX_CHECKED:
            return None
        document = schema if schema is self.root else {**_definitions(self.root), "allOf": [schema]}
        try:
            jsonschema = _jsonschema()
            cls = jsonschema.validators.validator_for(self.root, default=jsonschema.Draft202012Validator)
            return cls(document, format_checker=cls.FORMAT_CHECKER)
        except Exception:
            return None

    def first(self, schema: dict, depth: int = 0) -> Any:
        """The first candidate `schema` accepts; the first candidate at all when none is accepted."""
        return self.first_of(schema, depth, (), 0, tries=None)

    # -- candidates -------------------------------------------------------------------------------------

    def values(self, schema: Any, depth: int, refs: tuple[str, ...], variant: int = 0) -> Iterator[Any]:
        """Candidate values of `schema`, best first. `refs`: the `$ref`s being built around this one (a
        repeat means recursion: then the smallest values); `variant` picks the n-th distinct value."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Exhausted()
        if schema is True or schema == {} or schema is None:
            yield None
            return
        if schema is False:
            return
        if not isinstance(schema, dict):
            raise TypeError(f"a schema must be an object, not {type(schema).__name__}")
        if depth > MAX_DEPTH:
            yield None
            return
        if "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str):
                raise TypeError("$ref must be a string")
            target = _resolve(ref, self.root)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if rest:  # siblings of $ref apply too (2020-12)
                target = {"allOf": [target, rest]}
            yield from self.values(target, depth + 1, (*refs, ref), variant)
            return
        if "const" in schema:
            yield schema["const"]
            return
        if "default" in schema and variant == 0 and self.valid(schema["default"], schema):
            yield copy.deepcopy(schema["default"])
        if "enum" in schema:
            members = schema["enum"]
            if not isinstance(members, list):
                raise TypeError("enum must be an array")
            order = members[variant % len(members):] + members[:variant % len(members)] if members else []
            yield from (copy.deepcopy(m) for m in order)
            return
        if schema.get("allOf"):
            # Merged into one schema to build from; `first` still checks against the whole allOf.
            yield from self.values(_merged(schema, self.root), depth + 1, refs, variant)
            return
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                yield from self.branches(schema, key, depth, refs, variant)
                return
        yield from self.typed(schema, depth, refs, variant)

    def branches(self, schema: dict, key: str, depth: int, refs: tuple, variant: int) -> Iterator[Any]:
        options = schema[key]
        if not isinstance(options, list):
            raise TypeError(f"{key} must be an array")
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "default", "discriminator")}
        recursing = _recursing(refs)

        def rank(option: Any) -> int:
            null = isinstance(option, dict) and option.get("type") == "null"
            if recursing:  # end the recursion: branches that do not come back first
                return 0 if null else 2 if _refers_back(option, refs, self.root, set()) else 1
            return 1 if null else 0

        for option in sorted(options, key=rank):
            branch = {"allOf": [option, rest]} if rest and _constrains(rest) else option
            for value in _take(self.values(branch, depth + 1, refs, variant), 4):
                if not self.valid(value, branch):
                    continue
                if key == "oneOf" and sum(self.valid(value, o) for o in options) != 1:
                    continue
                yield value
                break

    def typed(self, schema: dict, depth: int, refs: tuple, variant: int) -> Iterator[Any]:
        kinds = schema.get("type")
        if kinds is None:
            kinds = _inferred(schema)
        if isinstance(kinds, str):
            kinds = [kinds]
        if not isinstance(kinds, list):
            raise TypeError("type must be a string or an array")
        ordered = [k for k in kinds if k != "null"] + [k for k in kinds if k == "null"]
        for kind in ordered:
            if kind == "object":
                yield from self.objects(schema, depth, refs, variant)
            elif kind == "array":
                yield from self.arrays(schema, depth, refs, variant)
            elif kind == "string":
                yield from self.strings(schema, depth, variant)
            elif kind == "integer":
                yield from _numbers(schema, True, variant)
            elif kind == "number":
                yield from _numbers(schema, False, variant)
            elif kind == "boolean":
                yield variant % 2 == 0
                yield variant % 2 == 1
            elif kind == "null":
                yield None
            else:
                raise ValueError(f"unknown type {kind!r}")

    def objects(self, schema: dict, depth: int, refs: tuple, variant: int) -> Iterator[Any]:
        props = schema.get("properties", {})
        if not isinstance(props, dict):
            raise TypeError("properties must be an object")
        required = schema.get("required") or []
        if not isinstance(required, list):
            raise TypeError("required must be an array")
        recursing = _recursing(refs)
        most = schema.get("maxProperties")
        names = [n for n in props if n in required or not recursing]
        names += [n for n in required if n not in props and n not in names]
        if isinstance(most, int) and len(names) > most:
            names = [n for n in names if n in required][:max(most, 0)] or names[:max(most, 0)]
        extra = schema.get("additionalProperties")
        patterns = schema.get("patternProperties") or {}
        value: dict[str, Any] = {}
        for name in names:
            sub = props.get(name)
            if sub is None:
                sub = next((s for p, s in patterns.items() if re.search(p, name)), extra if isinstance(extra, dict) else {})
            value[name] = self.first_of(sub, depth + 1, refs, variant)
        least = schema.get("minProperties", 0) or 0
        room = most if isinstance(most, int) else math.inf
        wants_entry = not props and (isinstance(extra, dict) or patterns) and not recursing
        count = 0
        while len(value) < room and (len(value) < least or (wants_entry and count == 0)):
            key, sub = self.entry(schema, count, patterns, extra)
            if key is None or key in value:
                break
            value[key] = self.first_of(sub, depth + 1, refs, variant)
            count += 1
        yield value
        if value and not required and (recursing or least == 0):
            yield {}

    def entry(self, schema: dict, n: int, patterns: dict, extra: Any) -> tuple[str | None, Any]:
        """The n-th extra entry of an object: a key its `propertyNames`/`patternProperties` accept, and its schema."""
        if patterns:
            pattern, sub = next(iter(patterns.items()))
            key = next(iter(_pattern_strings(pattern, {}, n)), None)
            return key, sub
        if extra is False:
            return None, None
        names = schema.get("propertyNames")
        if isinstance(names, dict) and names:
            key = next((k for k in self.strings(names, 0, n) if self.valid(k, names)), None)
        else:
            key = "key" if n == 0 else f"key{n + 1}"
        return key, extra if isinstance(extra, dict) else {}

    def first_of(self, sub: Any, depth: int, refs: tuple, variant: int, tries: int | None = 8) -> Any:
        """A part's value (a property's, an item's): its first accepted candidate of the first `tries`, else
        its first; past the step budget, what it has so far (or null), so the whole still takes its shape."""
        fallback = _NOTHING
        try:
            for value in _take(self.values(sub, depth, refs, variant), tries):
                if self.valid(value, sub):
                    return value
                if fallback is _NOTHING:
                    fallback = value
        except _Exhausted:
            pass
        return None if fallback is _NOTHING else fallback

    def arrays(self, schema: dict, depth: int, refs: tuple, variant: int) -> Iterator[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuples
            prefix, items = items, schema.get("additionalItems", {})
        if not isinstance(prefix, list):
            raise TypeError("prefixItems must be an array")
        recursing = _recursing(refs)
        least = schema.get("minItems", 0) or 0
        most = schema.get("maxItems", math.inf)
        contains = schema.get("contains")
        wanted = max(least, len(prefix) if most >= len(prefix) else 0)
        if not recursing and wanted == 0 and items is not False:
            wanted = 1
        wanted = int(min(wanted, most))
        unique = bool(schema.get("uniqueItems"))
        value: list[Any] = []
        if isinstance(contains, dict) and wanted > 0 and not prefix:
            value.append(self.first_of(contains, depth + 1, refs, variant))
        for i in range(len(value), wanted):
            sub = prefix[i] if i < len(prefix) else items
            if sub is False:
                break
            item = self.first_of(sub, depth + 1, refs, variant + i if unique else variant)
            if unique and item in value:
                item = next((v for n in range(1, 12) for v in [self.first_of(sub, depth + 1, refs, variant + i + n)]
                             if v not in value), item)
            value.append(item)
        yield value
        if value and least == 0:
            yield []

    def strings(self, schema: dict, depth: int, variant: int) -> Iterator[str]:
        least = schema.get("minLength", 0) or 0
        most = schema.get("maxLength")
        fits = (lambda s: least <= len(s) and (most is None or len(s) <= most))
        media = schema.get("contentMediaType")
        if media == "application/json" and isinstance(schema.get("contentSchema"), dict):  # pydantic's Json[...]
            inner = schema["contentSchema"]
            yield orjson.dumps(_Search({**_definitions(self.root), **inner}).first(inner, depth + 1)).decode()
        pattern = schema.get("pattern")
        fmt = schema.get("format")
        if isinstance(pattern, str):
            yield from (s for s in _pattern_strings(pattern, schema, variant) if fits(s))
        if isinstance(fmt, str) and fmt in FORMATS:
            text = _format_variant(fmt, variant)
            if fits(text):
                yield text
        if schema.get("contentEncoding") == "base64":
            yield base64.b64encode(b"example").decode()
        plain = "example" if variant == 0 else f"example{variant + 1}"
        if most is not None and len(plain) > most:
            plain = (plain[:most] if variant == 0 else string.ascii_lowercase[variant % 26] + plain)[:most]
        yield plain.ljust(least, "x")
        # a second plain one, for a `not` that refuses the first
        yield f"example{variant + 2}"[: most if most is not None else None].ljust(least, "x")


_NOTHING = object()


@functools.cache
def _jsonschema():
    """jsonschema, imported at the first schema's search: its format checkers cost the fake's start ~60 ms."""
    import jsonschema
    return jsonschema


class _Exhausted(Exception):
    """The search visited `MAX_STEPS` schema nodes."""


def _expanded(node: Any, root: Any, sizes: dict[Any, int]) -> int:
    """How many nodes a walk of `node` visits, following `$ref`s, a part reached twice counted twice (as
    jsonschema walks it); each object and each `$ref` counted once and the count capped, so counting is
    cheap. A `$ref` back to one being counted counts 1: recursion is as deep as the value, not exponential."""
    if not isinstance(node, (dict, list)):
        return 1
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # being counted (a cycle of objects: not JSON, but cheap to allow)
    total = 1
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ("ref", ref) not in sizes:
            sizes[("ref", ref)] = 1  # being counted
            sizes[("ref", ref)] = _expanded(_resolve(ref, root), root, sizes)
        total += sizes[("ref", ref)]
    for child in (node.values() if isinstance(node, dict) else node):
        total += _expanded(child, root, sizes)
        if total > MAX_CHECKED:
            break
    sizes[id(node)] = total = min(total, MAX_CHECKED + 1)
    return total


def _recursing(refs: tuple[str, ...]) -> bool:
    """Whether a `$ref` comes round again in `refs`, the ones being built: then the smallest values."""
    return len(set(refs)) < len(refs)


def _take(values: Iterator[Any], n: int | None) -> Iterator[Any]:
    for i, value in enumerate(values):
        if n is not None and i >= n:
            return
        yield value


def _definitions(root: dict) -> dict:
    """The parts of the root a `$ref` inside it names: kept beside a part checked on its own."""
    return {k: root[k] for k in ("$defs", "definitions") if isinstance(root.get(k), dict)}


def _constrains(rest: dict) -> bool:
    annotations = {"title", "description", "examples", "$comment", "deprecated", "readOnly", "writeOnly", "$defs",
                   "definitions", "$schema", "$id"}
    return any(k not in annotations for k in rest)


def _inferred(schema: dict) -> list[str]:
    """The type a schema without `type` means by its keywords (any type when it says nothing)."""
    if any(k in schema for k in ("properties", "required", "additionalProperties", "patternProperties",
                                 "minProperties", "maxProperties", "propertyNames")):
        return ["object"]
    if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems")):
        return ["array"]
    if any(k in schema for k in ("pattern", "format", "minLength", "maxLength", "contentMediaType")):
        return ["string"]
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return ["number"]
    if "not" in schema:
        return ["string", "integer", "boolean", "null", "object", "array"]
    return ["null"]


def _numbers(schema: dict, integer: bool, variant: int) -> Iterator[int | float]:
    """Numbers inside the bounds that are a `multipleOf`, nearest 0 first (`variant` steps further on)."""
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum", low=True)
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum", low=False)
    step = schema.get("multipleOf")
    if step is not None and not (isinstance(step, (int, float)) and step > 0):
        raise ValueError("multipleOf must be a number above 0")

    def inside(v: float) -> bool:
        return ((low is None or v > low or (v == low and not low_open))
                and (high is None or v < high or (v == high and not high_open)))

    start = 0
    if low is not None and not inside(0) and (high is None or low > 0 or (low == 0 and low_open)):
        start = low
    elif high is not None and not inside(0):
        start = high
    found = []
    for v in _near(start, integer, step, low, high):
        if inside(v) and _multiple(v, step) and v not in found:
            found.append(v)
            if len(found) > variant + 2:
                break
    order = found[variant:] + found[:variant]
    yield from order[:1]
    if not integer:  # a number that is not a whole one (for a oneOf that also has an integer branch)
        for v in _fractions(start, step):
            if inside(v) and _multiple(v, step) and not float(v).is_integer():
                yield v
                break
    yield from order[1:]
    if low is not None and high is not None and not integer:  # a narrow open range: its middle
        yield (low + high) / 2


def _fractions(start: float, step: Any) -> Iterator[float]:
    if step:
        for n in range(1, 8):
            yield float(Decimal(str(start)) + Decimal(str(step)) * n)
    for fraction in (0.5, 0.25, 0.1, 0.01, 0.001):
        yield start + fraction
        yield start - fraction


def _near(start: float, integer: bool, step: Any, low: Any, high: Any) -> Iterator[int | float]:
    """Numbers from `start` outwards, on the step's grid (or whole numbers, then halves) inside the bounds."""
    if step:
        if integer and not float(step).is_integer():
            step = _lcm_with_one(step)
        k = math.ceil(Decimal(str(start)) / Decimal(str(step)))
        for n in range(200):
            for m in ((k + n, k - n) if n else (k,)):
                v = Decimal(m) * Decimal(str(step))
                yield int(v) if integer or v == v.to_integral_value() and isinstance(step, int) else float(v)
        return
    base = math.floor(start) if not integer else math.ceil(start)
    for n in range(60):
        for m in ((base + n, base - n) if n else (base,)):
            yield int(m) if integer else float(m)
    if not integer:
        yield from _fractions(start, None)


def _lcm_with_one(step: float) -> int:
    """The least whole multiple of a fractional step (an integer with `multipleOf: 0.5` is a multiple of 1)."""
    d = Decimal(str(step))
    for n in range(1, 1001):
        if (d * n) == (d * n).to_integral_value():
            return int(d * n)
    return 1


def _multiple(v: float, step: Any) -> bool:
    if not step:
        return True
    if isinstance(step, float) or isinstance(v, float):  # as jsonschema and pydantic test it
        quotient = v / step
        try:
            return int(quotient) == quotient and abs(math.remainder(v, step)) < 1e-9 * max(1.0, abs(step))
        except OverflowError:
            return False
    return v % step == 0


def _bound(schema: dict, inclusive: str, exclusive: str, low: bool) -> tuple[float | None, bool]:
    """The bound a schema sets on one side, and whether it is open; draft 4's boolean `exclusive*` too."""
    value, open_ = schema.get(inclusive), False
    ex = schema.get(exclusive)
    if isinstance(ex, bool):
        open_ = ex and value is not None
    elif isinstance(ex, (int, float)):
        if value is None or (ex >= value if low else ex <= value):
            value, open_ = ex, True
    if value is not None and not isinstance(value, (int, float)):
        raise TypeError(f"{inclusive} must be a number")
    return value, open_


def _format_variant(fmt: str, variant: int) -> str:
    text = FORMATS[fmt]
    if variant == 0:
        return text
    if fmt.startswith("uuid"):
        return text[:-4] + f"{variant:04x}"[-4:]
    if fmt in ("email", "idn-email"):
        return f"user{variant + 1}@example.com"
    if fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
        return f"https://example.com/{variant + 1}"
    if fmt in ("hostname", "idn-hostname"):
        return f"host{variant + 1}.example.com"
    if fmt == "ipv4" or fmt == "ipvanyaddress":
        return f"192.0.2.{(variant % 254) + 1}"
    if fmt == "ipv6":
        return f"2001:db8::{variant + 1:x}"
    if fmt == "date":
        return f"2024-01-{(variant % 28) + 1:02d}"
    if fmt == "date-time":
        return f"2024-01-{(variant % 28) + 1:02d}T12:00:00Z"
    if fmt == "time":
        return f"12:{variant % 60:02d}:00Z"
    if fmt == "duration":
        return f"PT{variant + 1}H"
    return text


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _pattern_strings(pattern: str, schema: dict, variant: int) -> Iterator[str]:
    """Strings `re.search` finds the pattern in, from rstr with fixed seeds (the same strings every run)."""
    try:
        compiled = _compiled(pattern)
    except re.error as e:
        raise ValueError(f"pattern {pattern!r} is not a regular expression: {e}") from None
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMATS and compiled.search(FORMATS[fmt]):
        yield FORMATS[fmt]
    for seed in range(variant * PATTERN_TRIES, (variant + 1) * PATTERN_TRIES):
        try:
            text = _Xeger(random.Random(seed)).xeger(pattern)
        except Exception:  # a construct rstr cannot invert (lookbehind, ...)
            return
        if compiled.search(text):
            yield text


def _refers_back(schema: Any, refs: tuple, root: Any, seen: set) -> bool:
    """Whether following `schema`'s `$ref`s reaches one of `refs` (indirect recursion: A → B → A)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in refs:
                return True
            if ref not in seen:
                seen.add(ref)
                if _refers_back(_resolve(ref, root), refs, root, seen):
                    return True
        return any(_refers_back(v, refs, root, seen) for k, v in schema.items() if k != "$ref")
    if isinstance(schema, list):
        return any(_refers_back(v, refs, root, seen) for v in schema)
    return False


def _resolve(ref: str, root: Any) -> Any:
    """The part of `root` a local `$ref` names (`#`, `#/$defs/Name`, JSON-pointer escapes); {} for others."""
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref[1:].lstrip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(part, {})
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return {}
    return node


def _merged(schema: dict, root: Any) -> dict:
    """`allOf` as one schema to build from: properties and requirements united, bounds tightened, types
    intersected; any other keyword the branches give differently is the first's (the whole allOf is checked)."""
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for branch in schema["allOf"]:
        seen = 0
        while isinstance(branch, dict) and "$ref" in branch and seen < 8:
            target = _resolve(branch["$ref"], root)
            extra = {k: v for k, v in branch.items() if k != "$ref"}
            branch = {**target, **extra} if isinstance(target, dict) else {}
            seen += 1
        if not isinstance(branch, dict):
            raise TypeError("allOf must hold schemas")
        if branch.get("allOf"):
            branch = _merged(branch, root)
        for key, value in branch.items():
            if key not in merged:
                merged[key] = value  # read only, never changed in place
            elif key == "properties" and isinstance(value, dict) and isinstance(merged[key], dict):
                props = dict(merged[key])
                for name, sub in value.items():
                    props[name] = {"allOf": [props[name], sub]} if name in props else sub
                merged[key] = props
            elif key == "required" and isinstance(value, list):
                merged[key] = list(dict.fromkeys([*merged[key], *value]))
            elif key in _BOUNDS_LOW or key in _BOUNDS_HIGH:
                merged[key] = max(merged[key], value) if key in _BOUNDS_LOW else min(merged[key], value)
            elif key == "type":
                a = set([merged[key]] if isinstance(merged[key], str) else merged[key])
                b = set([value] if isinstance(value, str) else value)
                both = [t for t in (merged[key] if isinstance(merged[key], list) else [merged[key]]) if t in b]
                merged[key] = both[0] if len(both) == 1 else both or sorted(a | b)
            elif key == "enum" and isinstance(value, list):
                merged[key] = [m for m in merged[key] if m in value] or merged[key]
            # any other keyword that differs: the first branch's is kept, the whole allOf is checked
    return merged
