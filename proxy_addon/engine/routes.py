"""The routes: every row of the generated table (`table.py`), each served by its hand-written module
where the API has behaviour (`HANDWRITTEN`), else by the generic resource (`resources/generic.py`).

Matching walks a tree of path segments: O(segments), however many routes there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import errors, table
from .resources import generic
from .rows import Row
from .resources import chat, completions, embeddings, files, models, moderations, uploads, vector_stores
from .resources import assistants, messages, runs, threads
from .resources import conversations, responses

_RESOURCES = (chat, completions, embeddings, models, moderations, files, uploads, assistants, threads, messages, runs, vector_stores,
              responses, conversations)


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    name: str  # the SDK's method path, e.g. "models.retrieve"; counts are kept under it
    rule: str  # the profile rule that governs it, e.g. "models"
    handler: Callable
    row: Row | None = None  # what the table says of it (types, aliases); None for a route the SDK lacks


#: Endpoints with behaviour of their own, by the module that has it. Every other row is generic.
HANDWRITTEN: tuple[Route, ...] = (
    Route("POST", "/v1/chat/completions", "chat.completions.create", chat.RULE, chat.create),
    Route("POST", "/v1/completions", "completions.create", completions.RULE, completions.create),
    Route("POST", "/v1/embeddings", "embeddings.create", embeddings.RULE, embeddings.create),
    Route("GET", "/v1/models", "models.list", models.RULE, models.list_models),
    Route("GET", "/v1/models/{model}", "models.retrieve", models.RULE, models.retrieve),
    Route("DELETE", "/v1/models/{model}", "models.delete", models.RULE, models.delete),
    Route("POST", "/v1/moderations", "moderations.create", moderations.RULE, moderations.create),
    Route("POST", "/v1/files", "files.create", files.RULE, files.create),
    Route("GET", "/v1/files", "files.list", files.RULE, files.list_files),
    Route("GET", "/v1/files/{file_id}", "files.retrieve", files.RULE, files.retrieve),
    Route("DELETE", "/v1/files/{file_id}", "files.delete", files.RULE, files.delete),
    Route("GET", "/v1/files/{file_id}/content", "files.content", files.RULE, files.content),
    Route("POST", "/v1/uploads", "uploads.create", uploads.RULE, uploads.create),
    Route("POST", "/v1/uploads/{upload_id}/parts", "uploads.parts.create", uploads.RULE, uploads.add_part),
    Route("POST", "/v1/uploads/{upload_id}/complete", "uploads.complete", uploads.RULE, uploads.complete),
    Route("POST", "/v1/uploads/{upload_id}/cancel", "uploads.cancel", uploads.RULE, uploads.cancel),
    Route("POST", "/v1/assistants", "beta.assistants.create", assistants.RULE, assistants.create),
    Route("GET", "/v1/assistants", "beta.assistants.list", assistants.RULE, assistants.list_assistants),
    Route("GET", "/v1/assistants/{assistant_id}", "beta.assistants.retrieve", assistants.RULE, assistants.retrieve),
    Route("POST", "/v1/assistants/{assistant_id}", "beta.assistants.update", assistants.RULE, assistants.update),
    Route("DELETE", "/v1/assistants/{assistant_id}", "beta.assistants.delete", assistants.RULE, assistants.delete),
    Route("POST", "/v1/threads", "beta.threads.create", threads.RULE, threads.create),
    Route("POST", "/v1/threads/runs", "beta.threads.create_and_run", runs.RULE, runs.create_thread_and_run),
    Route("GET", "/v1/threads/{thread_id}", "beta.threads.retrieve", threads.RULE, threads.retrieve),
    Route("POST", "/v1/threads/{thread_id}", "beta.threads.update", threads.RULE, threads.update),
    Route("DELETE", "/v1/threads/{thread_id}", "beta.threads.delete", threads.RULE, threads.delete),
    Route("POST", "/v1/threads/{thread_id}/messages", "beta.threads.messages.create", messages.RULE, messages.create),
    Route("GET", "/v1/threads/{thread_id}/messages", "beta.threads.messages.list", messages.RULE, messages.list_messages),
    Route("GET", "/v1/threads/{thread_id}/messages/{message_id}", "beta.threads.messages.retrieve", messages.RULE, messages.retrieve),
    Route("POST", "/v1/threads/{thread_id}/messages/{message_id}", "beta.threads.messages.update", messages.RULE, messages.update),
    Route("DELETE", "/v1/threads/{thread_id}/messages/{message_id}", "beta.threads.messages.delete", messages.RULE, messages.delete),
    Route("POST", "/v1/threads/{thread_id}/runs", "beta.threads.runs.create", runs.RULE, runs.create),
    Route("GET", "/v1/threads/{thread_id}/runs", "beta.threads.runs.list", runs.RULE, runs.list_runs),
    Route("GET", "/v1/threads/{thread_id}/runs/{run_id}", "beta.threads.runs.retrieve", runs.RULE, runs.retrieve),
    Route("POST", "/v1/threads/{thread_id}/runs/{run_id}", "beta.threads.runs.update", runs.RULE, runs.update),
    Route("POST", "/v1/threads/{thread_id}/runs/{run_id}/cancel", "beta.threads.runs.cancel", runs.RULE, runs.cancel),
    Route("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", "beta.threads.runs.submit_tool_outputs", runs.RULE, runs.submit_tool_outputs),
    Route("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps", "beta.threads.runs.steps.list", runs.RULE, runs.list_steps),
    Route("GET", "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}", "beta.threads.runs.steps.retrieve", runs.RULE, runs.retrieve_step),
    Route("GET", "/v1/chat/completions", "chat.completions.list", chat.RULE, chat.list_completions),
    Route("GET", "/v1/chat/completions/{completion_id}", "chat.completions.retrieve", chat.RULE, chat.retrieve),
    Route("POST", "/v1/chat/completions/{completion_id}", "chat.completions.update", chat.RULE, chat.update),
    Route("DELETE", "/v1/chat/completions/{completion_id}", "chat.completions.delete", chat.RULE, chat.delete),
    Route("GET", "/v1/chat/completions/{completion_id}/messages", "chat.completions.messages.list", chat.RULE, chat.list_messages),
    Route("POST", "/v1/vector_stores", "vector_stores.create", vector_stores.RULE, vector_stores.create),
    Route("GET", "/v1/vector_stores", "vector_stores.list", vector_stores.RULE, vector_stores.list_stores),
    Route("GET", "/v1/vector_stores/{vector_store_id}", "vector_stores.retrieve", vector_stores.RULE, vector_stores.retrieve),
    Route("POST", "/v1/vector_stores/{vector_store_id}", "vector_stores.update", vector_stores.RULE, vector_stores.update),
    Route("DELETE", "/v1/vector_stores/{vector_store_id}", "vector_stores.delete", vector_stores.RULE, vector_stores.delete),
    Route("POST", "/v1/vector_stores/{vector_store_id}/search", "vector_stores.search", vector_stores.RULE, vector_stores.search),
    Route("POST", "/v1/vector_stores/{vector_store_id}/files", "vector_stores.files.create", vector_stores.RULE, vector_stores.create_file),
    Route("GET", "/v1/vector_stores/{vector_store_id}/files", "vector_stores.files.list", vector_stores.RULE, vector_stores.list_files),
    Route("GET", "/v1/vector_stores/{vector_store_id}/files/{file_id}", "vector_stores.files.retrieve", vector_stores.RULE, vector_stores.retrieve_file),
    Route("POST", "/v1/vector_stores/{vector_store_id}/files/{file_id}", "vector_stores.files.update", vector_stores.RULE, vector_stores.update_file),
    Route("DELETE", "/v1/vector_stores/{vector_store_id}/files/{file_id}", "vector_stores.files.delete", vector_stores.RULE, vector_stores.delete_file),
    Route("GET", "/v1/vector_stores/{vector_store_id}/files/{file_id}/content", "vector_stores.files.content", vector_stores.RULE, vector_stores.file_content),
    Route("POST", "/v1/vector_stores/{vector_store_id}/file_batches", "vector_stores.file_batches.create", vector_stores.RULE, vector_stores.create_batch),
    Route("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}", "vector_stores.file_batches.retrieve", vector_stores.RULE, vector_stores.retrieve_batch),
    Route("POST", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel", "vector_stores.file_batches.cancel", vector_stores.RULE, vector_stores.cancel_batch),
    Route("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/files", "vector_stores.file_batches.list_files", vector_stores.RULE, vector_stores.list_batch_files),
    Route("POST", "/v1/responses", "responses.create", responses.RULE, responses.create),
    Route("POST", "/v1/responses/input_tokens", "responses.input_tokens.count", responses.RULE, responses.input_tokens),
    Route("GET", "/v1/responses/{response_id}", "responses.retrieve", responses.RULE, responses.retrieve),
    Route("DELETE", "/v1/responses/{response_id}", "responses.delete", responses.RULE, responses.delete),
    Route("POST", "/v1/responses/{response_id}/cancel", "responses.cancel", responses.RULE, responses.cancel),
    Route("GET", "/v1/responses/{response_id}/input_items", "responses.input_items.list", responses.RULE, responses.list_input_items),
    Route("POST", "/v1/conversations", "conversations.create", conversations.RULE, conversations.create),
    Route("GET", "/v1/conversations/{conversation_id}", "conversations.retrieve", conversations.RULE, conversations.retrieve),
    Route("POST", "/v1/conversations/{conversation_id}", "conversations.update", conversations.RULE, conversations.update),
    Route("DELETE", "/v1/conversations/{conversation_id}", "conversations.delete", conversations.RULE, conversations.delete),
    Route("POST", "/v1/conversations/{conversation_id}/items", "conversations.items.create", conversations.RULE, conversations.create_items),
    Route("GET", "/v1/conversations/{conversation_id}/items", "conversations.items.list", conversations.RULE, conversations.list_items),
    Route("GET", "/v1/conversations/{conversation_id}/items/{item_id}", "conversations.items.retrieve", conversations.RULE, conversations.retrieve_item),
    Route("DELETE", "/v1/conversations/{conversation_id}/items/{item_id}", "conversations.items.delete", conversations.RULE, conversations.delete_item),
)

#: Endpoints mainstream clients call that the SDK's table lacks.
EXTRA_ROWS: tuple[Row, ...] = (
    Row("POST", "/v1/traces/ingest", "traces.ingest"),  # the openai-agents SDK's trace upload: 204
)


def _build() -> tuple[tuple[Route, ...], dict[str, dict[str, type]]]:
    rows = (*table.ROWS, *EXTRA_ROWS)
    hand = {(r.method, generic.normalise(r.template)): r for r in HANDWRITTEN}
    shape = generic.Shape(rows)
    generic_rows = [row for row in rows if (row.method, generic.normalise(row.path)) not in hand]
    items = {path for path in shape.items if not any(key[1] == path for key in hand)}
    out: list[Route] = []
    by_row = {(row.method, generic.normalise(row.path)): row for row in rows}
    for route in HANDWRITTEN:
        out.append(Route(route.method, route.template, route.name, route.rule, route.handler,
                         by_row.get((route.method, generic.normalise(route.template)))))
    rules = {m.RULE: m.KNOBS for m in _RESOURCES}
    for row in generic_rows:
        rule = row.group
        rules.setdefault(rule, generic.KNOBS)
        out.append(Route(row.method, row.path, row.name, rule, generic.handler(row, shape, items), row))
    return tuple(out), rules


#: Every route the fake serves, and every profile rule (a group of routes) with the knobs it takes.
ROUTES, RULES = _build()
#: Each SDK method name (aliases too) -> the group rule whose knobs it takes: `profile.chat.completions.create(...)`
#: governs that one route, over its group's `profile.chat.completions(...)`.
ROUTE_RULES: dict[str, str] = {name: r.rule for r in ROUTES for name in (r.name, *(r.row.aliases if r.row else ()))}
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
