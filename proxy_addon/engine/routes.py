"""The routes: every row of the generated table (`table.py`), each served by its hand-written module
where the API has behaviour (`HANDWRITTEN`), else by the generic resource (`resources/generic.py`).

Matching walks a tree of path segments: O(segments), however many routes there are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from . import errors, knobs, table
from .resources import generic
from .rows import Row
from .resources import chat, completions, embeddings, files, models, moderations, uploads, vector_stores
from .resources import assistants, messages, runs, threads
from .resources import conversations, images, responses
from .resources import audio, batches, containers, evals, fine_tuning, graders, videos, webhooks
from . import realtime

_RESOURCES = (chat, completions, embeddings, models, moderations, files, uploads, assistants, threads, messages, runs, vector_stores,
              responses, conversations, batches, fine_tuning, containers, videos, audio, images, evals, graders, webhooks,
              realtime)


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    name: str  # the SDK's method path, e.g. "models.retrieve"; counts are kept under it
    rule: str  # the profile rule that governs it, e.g. "models"
    handler: Callable
    row: Row | None = None  # what the table says of it (types, aliases); None for a route the SDK lacks


#: Endpoints mainstream clients call that the SDK's table lacks.
EXTRA_ROWS: tuple[Row, ...] = (
    Row("POST", "/v1/traces/ingest", "traces.ingest"),  # the openai-agents SDK's trace upload: 204
    # The fake's own URLs for the images a `url` answer names (resources/images.py): no key, as signed blob URLs.
    Row("GET", "/v1/images/blobs/{image_id}", "images.blob", binary=True, public=True),
    # `client.realtime.connect(model=...)`: the WebSocket handshake; the session itself is engine/realtime.py's.
    Row("GET", "/v1/realtime", "realtime.connect"),
)


def _rules_of(module) -> dict[str, dict]:
    """The profile rules a module's routes answer to, with their knobs: its `RULE` and `KNOBS`, or `RULES`
    (`{group: knobs}`) for a module that serves several groups of the table, each a rule of its own
    (audio: `audio.speech`, `audio.transcriptions`, `audio.translations`)."""
    return getattr(module, "RULES", None) or {module.RULE: module.KNOBS}


def _docs_of(module) -> dict[str, dict]:
    """What each rule's knobs do (`knobs.Doc`s), as `_rules_of` gives their types: `DOCS`, or `RULE_DOCS` beside `RULES`."""
    if hasattr(module, "RULES"):
        return getattr(module, "RULE_DOCS", {})
    return {module.RULE: getattr(module, "DOCS", {})}


def _rule_of(module, row: Row) -> str:
    """The rule that governs `row` in `module`: its `RULE`, or with `RULES`, the row's own group."""
    rules = _rules_of(module)
    if not hasattr(module, "RULES"):
        return module.RULE
    if row.group not in rules:
        raise LookupError(f"{module.__name__}: {row.name} is in group {row.group!r}, which its RULES lack")
    return row.group


def _handwritten() -> tuple[Route, ...]:
    """Every SDK method a module with behaviour serves (its `HANDLES`), at the table's method and path: adding
    a behaviour touches that module alone."""
    rows = {row.name: row for row in (*table.ROWS, *EXTRA_ROWS)}
    unknown = [f"{module.__name__}: {name}" for module in _RESOURCES for name in module.HANDLES if name not in rows]
    if unknown:
        raise LookupError(f"HANDLES names SDK methods the route table lacks: {', '.join(unknown)}")
    return tuple(Route(rows[name].method, rows[name].path, name, _rule_of(module, rows[name]), handler)
                 for module in _RESOURCES for name, handler in module.HANDLES.items())


#: Endpoints with behaviour of their own, by the module that has it. Every other row is generic.
HANDWRITTEN: tuple[Route, ...] = _handwritten()


def _build() -> tuple[tuple[Route, ...], dict[str, dict[str, type]]]:
    rows = (*table.ROWS, *EXTRA_ROWS)
    hand = {(r.method, generic.normalise(r.template)): r for r in HANDWRITTEN}
    shape = generic.Shape(rows)
    generic_rows = [row for row in rows if (row.method, generic.normalise(row.path)) not in hand]
    items = shape.items - {path for _, path in hand}
    out: list[Route] = []
    by_row = {(row.method, generic.normalise(row.path)): row for row in rows}
    for route in HANDWRITTEN:
        out.append(Route(route.method, route.template, route.name, route.rule, route.handler,
                         by_row.get((route.method, generic.normalise(route.template)))))
    rules = {rule: knobs for m in _RESOURCES for rule, knobs in _rules_of(m).items()}
    for row in generic_rows:
        rule = row.group
        rules.setdefault(rule, generic.KNOBS)
        out.append(Route(row.method, row.path, row.name, rule, generic.handler(row, shape, items), row))
    return tuple(out), rules


#: Every route the fake serves, and every profile rule (a group of routes) with the knobs it takes.
ROUTES, RULES = _build()
#: Each rule with knobs of its own -> what each knob does (`knobs.Doc`), for the profile reference.
DOCS: dict[str, dict[str, knobs.Doc]] = {rule: docs for m in _RESOURCES for rule, docs in _docs_of(m).items() if RULES.get(rule)}
#: Each SDK method name (aliases too) -> the group rule whose knobs it takes: `profile.chat.completions.create(...)`
#: governs that one route, over its group's `profile.chat.completions(...)`.
ROUTE_RULES: dict[str, str] = {name: r.rule for r in ROUTES for name in (r.name, *(r.row.aliases if r.row else ()))}
#: Each alias of an SDK method (`beta.chat.completions.create`) -> the method it names (`chat.completions.create`):
#: one route, so one rule and one count.
CANONICAL: dict[str, str] = {alias: r.name for r in ROUTES if r.row for alias in r.row.aliases}
_clash = set(ROUTE_RULES) & set(RULES)
assert not _clash, f"names that are both a route and a rule: {sorted(_clash)}"

#: What a profile can store up front (`profile.state.put(name, {...})`), and how.
PRELOADERS: dict[str, Callable] = {"assistants": assistants.preload, "threads": threads.preload, "files": files.preload}



class _Node:
    """One path segment of the route tree: fixed children, one parameter child, routes ending here."""

    __slots__ = ("fixed", "param", "routes")

    def __init__(self) -> None:
        self.fixed: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.routes: dict[str, tuple[Route, tuple[str, ...]]] = {}  # method -> route, its parameter names


_TREE = _Node()
for _route in ROUTES:
    _node, _names = _TREE, []
    for _segment in _route.template.strip("/").split("/"):
        if _segment.startswith("{") and _segment.endswith("}"):
            _names.append(_segment[1:-1])
            _node.param = _node.param or _Node()
            _node = _node.param
        else:
            _node = _node.fixed.setdefault(_segment, _Node())
    _node.routes.setdefault(_route.method, (_route, tuple(_names)))


def _walk(node: _Node, segments: list[str], i: int, values: list[str], method: str):
    if i == len(segments):
        return node.routes.get(method)
    child = node.fixed.get(segments[i])
    if child is not None:  # a fixed segment wins over a parameter (`/threads/runs` over `/threads/{thread_id}`)
        found = _walk(child, segments, i + 1, values, method)
        if found is not None:
            return found
    if node.param is not None and segments[i]:
        values.append(segments[i])
        found = _walk(node.param, segments, i + 1, values, method)
        if found is not None:
            return found
        values.pop()
    return None


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for `method path` and its path parameters, or the real API's 404."""
    trimmed = path.rstrip("/") or "/"
    values: list[str] = []
    found = _walk(_TREE, trimmed.strip("/").split("/"), 0, values, method)
    if found is None:
        raise errors.invalid_url(method, path)  # the path as it was sent
    route, names = found
    return route, dict(zip(names, values))


@functools.lru_cache(maxsize=4096)
def route_name(method: str, target: str, host: str = "api.openai.com") -> str | None:
    """The SDK method a call went to (`"beta.threads.runs.create"`; an Azure path's too, which needs its
    `?api-version=`), or None for an unknown path. `target`: the path with its query, as sent."""
    from urllib.parse import parse_qsl

    from . import azure
    from .wire import Request

    path, _, query = target.partition("?")
    request = Request(method, path, query=dict(parse_qsl(query)), host=host or "api.openai.com")
    try:
        if azure.applies(request):
            azure.translate(request)
        return match(method, request.path)[0].name
    except errors.OpenAIError:
        return None
