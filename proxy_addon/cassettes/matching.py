"""Which recorded exchange answers a request: semantic matching, and what differs when none does.

A request is compared as a *match document*: its method, its path, its query (less key-carrying
parameters) and its body normalised:

- JSON: key order ignored, `1.0` equal to `1`, and the fields that do not change the answer dropped
  (`DEFAULT_IGNORE`);
- multipart/form-data: its fields by name, each file part as its file name and the sha256 of its content;
- text: the text; any other body: its sha256.

Field paths are dotted, as the differences of a miss name them: `temperature`, `messages.0.content`,
`tools.*.function.strict` (`*` is any key or index), and `?limit` for a query parameter. `Matching`
adds or drops fields, for every endpoint or per endpoint (the SDK method name, `chat.completions.create`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import orjson

from urllib.parse import urlencode

from ..engine import routes
from . import redaction

__all__ = ["DEFAULT_IGNORE", "Matching", "Difference", "endpoint_of", "document", "key_of", "short_hash", "differences"]

#: Body fields dropped before comparing, by default: they label, store or meter a call, but the answer
#: is the same without them. `stream_options` only adds a usage chunk to a stream; `store` and `metadata`
#: keep the call for later reads, which are recorded exchanges of their own.
DEFAULT_IGNORE = frozenset({"stream_options", "user", "metadata", "store", "safety_identifier", "prompt_cache_key"})


@dataclass(frozen=True)
class Matching:
    """How requests are compared (see the module's docstring for field paths).

    ignore: field paths dropped, besides `DEFAULT_IGNORE` (`{"temperature", "?after"}`).
    keep: field paths of `DEFAULT_IGNORE` to compare after all (`{"store"}`).
    only: compare these body fields alone (and the method, path and query): `{"model", "input"}`.
    routes: per endpoint, a `Matching` whose `ignore` and `keep` are added to these and whose `only`
        wins: `Matching(routes={"embeddings.create": Matching(only={"input"})})`.
    """

    ignore: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()
    only: frozenset[str] | None = None
    routes: Mapping[str, "Matching"] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("ignore", "keep", "only"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str) or not all(isinstance(p, str) and p for p in value):
                raise TypeError(f"Matching({name}=...) takes a set of field paths such as {{'temperature'}}, not {value!r}")
            object.__setattr__(self, name, frozenset(value))
        for name, sub in self.routes.items():
            if name not in routes.ROUTE_RULES:
                from ..profile import unknown_name

                raise ValueError(f"Matching(routes=...): {unknown_name(name)}")
            if not isinstance(sub, Matching) or sub.routes:
                raise TypeError(f"Matching(routes={{{name!r}: ...}}) takes a Matching without routes of its own")
        # `beta.chat.completions.create` is `chat.completions.create`: one endpoint, found under its own name
        object.__setattr__(self, "routes", {routes.CANONICAL.get(n, n): sub for n, sub in self.routes.items()})

    def rules_for(self, endpoint: str | None) -> tuple[frozenset[str], frozenset[str] | None]:
        """The field paths ignored and the ones compared alone (None: all) for one endpoint."""
        own = self.routes.get(routes.CANONICAL.get(endpoint, endpoint)) if endpoint else None
        ignore = (DEFAULT_IGNORE | self.ignore | (own.ignore if own else frozenset())) - self.keep - (own.keep if own else frozenset())
        only = own.only if own is not None and own.only is not None else self.only
        return ignore, only


def endpoint_of(method: str, path: str, host: str = "api.openai.com", query: Mapping[str, str] | None = None) -> str | None:
    """The SDK method name the route table gives `method path` (`chat.completions.create`), an Azure
    path included (its `query` holds the `api-version` Azure's paths need); None for a path the table lacks."""
    return routes.route_name(method, f"{path}?{urlencode(query)}" if query else path, host)


def _canonical(value: Any) -> Any:
    """Integral floats as ints (`1.0` is `1`), for a key that compares as JSON does."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _split(paths: Iterable[str]) -> list[list[str]]:
    return [p.split(".") for p in paths]


def _matches(segment: str, key: Any) -> bool:
    return segment == "*" or segment == str(key)


def _drop(value: Any, path: list[str]) -> Any:
    """`value` without what `path` names (unchanged where it names nothing)."""
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        if not rest:
            return {k: v for k, v in value.items() if not _matches(head, k)}
        return {k: _drop(v, rest) if _matches(head, k) else v for k, v in value.items()}
    if isinstance(value, list) and rest:
        return [_drop(v, rest) if _matches(head, i) else v for i, v in enumerate(value)]
    if isinstance(value, list):
        return [v for i, v in enumerate(value) if not _matches(head, i)]
    return value


def _pick(value: Any, paths: list[list[str]]) -> Any:
    """Only what `paths` name in `value` (a path that names nothing picks nothing)."""
    if any(not p for p in paths):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            under = [p[1:] for p in paths if _matches(p[0], k)]
            if under:
                out[k] = _pick(v, under)
        return out
    if isinstance(value, list):
        return [_pick(v, [p[1:] for p in paths if _matches(p[0], i)]) for i, v in enumerate(value)
                if any(_matches(p[0], i) for p in paths)]
    return None


def _body_of(record: Mapping[str, Any]) -> Any:
    """A request record's body, as compared."""
    if "json" in record:
        return _canonical(record["json"])
    if "form" in record:
        form: dict[str, Any] = {}
        for part in record["form"]:
            value = part["value"] if "value" in part else {"filename": part.get("filename"), "sha256": part["sha256"]}
            if part["name"] in form:  # a name sent twice: its values in order
                earlier = form[part["name"]]
                form[part["name"]] = [*(earlier if isinstance(earlier, list) else [earlier]), value]
            else:
                form[part["name"]] = value
        return form
    if "text" in record:
        return record["text"]
    if "raw" in record:
        return {"sha256": record["raw"]["sha256"]}
    return None


def document(record: Mapping[str, Any], matching: Matching | None = None, endpoint: str | None = None) -> dict:
    """The match document of a request record (`store.describe_request`'s, already redacted): what is compared."""
    ignore, only = (matching or Matching()).rules_for(endpoint)
    query = {k: v for k, v in (record.get("query") or {}).items() if not redaction.is_secret_param(k)}
    body = _body_of(record)
    body_ignore = [p for p in ignore if not p.startswith("?")]
    for path in _split(body_ignore):
        body = _drop(body, path)
    if only is not None:
        body = _pick(body, _split(p for p in only if not p.startswith("?")))
    query = {k: v for k, v in query.items() if f"?{k}" not in ignore}
    return {"method": record["method"].upper(), "path": record["path"].rstrip("/") or "/", "query": query, "body": body}


def key_of(doc: Mapping[str, Any]) -> bytes:
    """A match document as bytes that are equal exactly when the documents are (keys sorted)."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers past 64 bits
        import json

        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def short_hash(doc: Mapping[str, Any]) -> str:
    """Six hex digits of the document's sha256: a file name's short hash."""
    return hashlib.sha256(key_of(doc)).hexdigest()[:6]


#: What a difference shows for a field one side lacks.
ABSENT = "(absent)"


@dataclass(frozen=True)
class Difference:
    """One field that differs: its path (as `Matching(ignore=...)` takes it), the recorded and the requested value."""

    path: str
    recorded: Any
    requested: Any

    def __str__(self) -> str:
        return f"{self.path}: recorded {_short(self.recorded)}, requested {_short(self.requested)}"


_MISSING = object()


def _short(value: Any, width: int = 60) -> str:
    if value is _MISSING or value is ABSENT:
        return ABSENT
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:
        shown = repr(value)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def _walk(recorded: Any, requested: Any, path: str, out: list[Difference], limit: int) -> int:
    """Count the differing leaves of two values, keeping the first `limit` as `Difference`s."""
    if isinstance(recorded, dict) and isinstance(requested, dict):
        count = 0
        for k in sorted(set(recorded) | set(requested), key=str):
            count += _walk(recorded.get(k, _MISSING), requested.get(k, _MISSING), f"{path}.{k}" if path else str(k), out, limit)
        return count
    if isinstance(recorded, list) and isinstance(requested, list):
        count = 0
        for i in range(max(len(recorded), len(requested))):
            count += _walk(recorded[i] if i < len(recorded) else _MISSING, requested[i] if i < len(requested) else _MISSING,
                           f"{path}.{i}" if path else str(i), out, limit)
        return count
    if recorded == requested and type(recorded) is type(requested):
        return 0
    if len(out) < limit:
        out.append(Difference(path or "body", ABSENT if recorded is _MISSING else recorded,
                              ABSENT if requested is _MISSING else requested))
    return 1


def differences(recorded: Mapping[str, Any], requested: Mapping[str, Any], limit: int = 8) -> tuple[int, list[Difference]]:
    """How many fields differ between two match documents, and the first `limit` of them (method, path,
    `?name` for the query, then the body's field paths)."""
    out: list[Difference] = []
    count = 0
    for name in ("method", "path"):
        if recorded[name] != requested[name]:
            count += 1
            out.append(Difference(name, recorded[name], requested[name]))
    query_diffs: list[Difference] = []
    count += _walk(recorded["query"], requested["query"], "", query_diffs, limit)
    out.extend(replace(d, path=f"?{d.path}") for d in query_diffs)
    count += _walk(recorded["body"], requested["body"], "", out, limit)
    return count, out[:limit]
