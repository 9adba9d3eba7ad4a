"""Minimal valid arguments for any method of the openai SDK, generated from its signature.

`Calls(client)` finds the bound method a route-table row names (`client.fine_tuning.jobs.create`),
reads its signature and type hints, and builds the smallest call the SDK accepts: path
parameters from the ids of objects made earlier (`Calls.remember`), every required keyword from
its annotation (a Literal's first value, a TypedDict's required keys, one element of a list, a
file as `("a.txt", b"hello")`, ...), and plausible strings chosen by the parameter's name.
"""

from __future__ import annotations

import collections.abc
import inspect
import re
import types
import typing
from typing import Any

import typing_extensions

from openai import _types as sdk_types

from proxy_addon.engine.rows import Row

PLACEHOLDER = re.compile(r"\{([^}]+)\}")
FILE = ("a.txt", b"hello")

# int parameters, by name, where 1 would not do.
INTS = {"bytes": len(FILE[1])}

# str parameters, by name, where "hello" would not do.
STRINGS = {
    "model": "gpt-4o", "voice": "alloy", "email": "contract@example.com", "role": "user",
    "purpose": "assistants", "endpoint": "/v1/chat/completions", "completion_window": "24h",
    "url": "https://example.com/contract", "redirect_uri": "https://example.com/callback",
    "sdp": "v=0", "version": "1", "mime_type": "text/plain", "filename": "a.txt",
    "time": "2026-01-01T00:00:00Z", "name": "contract", "type": "contract",
}


def strip(tp: Any) -> Any:
    """The type under Annotated / Required / NotRequired / ReadOnly wrappers."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing_extensions.Required, typing_extensions.NotRequired, typing.Required,
                        typing.NotRequired, getattr(typing_extensions, "ReadOnly", None)):
            tp = typing.get_args(tp)[0]
        else:
            return tp


def required_keys(td: type) -> dict[str, Any]:
    """A TypedDict's required keys and their types. (`__required_keys__` is wrong for the SDK's
    params: their annotations are strings, so `Required[...]` is not seen when the class is made.)"""
    hints = typing.get_type_hints(td, include_extras=True)
    required = {}
    for key, hint in hints.items():
        origin = typing.get_origin(hint)
        if origin in (typing.Required, typing_extensions.Required) or (
                key in td.__required_keys__ and origin not in (typing.NotRequired, typing_extensions.NotRequired)):
            required[key] = hint
    return dict(sorted(required.items()))


def shared_tail(a: str, b: str) -> int:
    """How many characters `a` and `b` end alike."""
    n = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        n += 1
    return n


def id_of(obj: Any, key: str) -> str | None:
    """The id an object has for a path's `{key}`: its `key` field where it has one (a path named
    `{user_id}` holds the user's id, not the link's), else its `id`."""
    for attr in (key, "id"):
        value = getattr(obj, attr, None)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


class Unusable(Exception):
    """No value can be made for a type (a bare object, a recursion too deep)."""


class Calls:
    """Builds calls for rows of the route table on one SDK client, remembering the ids it makes."""

    def __init__(self, client, rows: typing.Iterable[Row]) -> None:
        self.client = client
        self.rows = tuple(rows)
        self.ids: dict[str, str] = {}  # item path template ("/v1/threads/{thread_id}") -> id made there
        self.named: dict[str, str] = {}  # "part_id" -> the id the last create on .../parts made
        self.file_id: str | None = None
        self.made_up: list[str] = []  # placeholders no create had made an id for
        self.borrowed: list[str] = []  # placeholders given the id of another kind ("project_id from ...")
        self.creatable = {t for t in map(self.item_template, self.rows) if t}

    # -- methods ---------------------------------------------------------------

    @property
    def lenient(self):
        """The same client without strict response validation (the test sets it)."""
        return getattr(self.client, "lenient", self.client)

    def method(self, name: str, client=None):
        obj = client or self.client
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    # -- ids -------------------------------------------------------------------

    def item_template(self, row: Row) -> str | None:
        """For a create (a POST on a collection), the template of the items it makes."""
        if row.method != "POST":
            return None
        under = row.path + "/{"
        items = sorted({r.path[:r.path.index("}", len(under)) + 1] for r in self.rows if r.path.startswith(under)})
        return items[0] if items else None

    def remember(self, row: Row, result: Any) -> str | None:
        """Note the id of what a create made (`result`: an object, a page, a list): under its item
        template, and by name ("part_id" for a create on `/v1/uploads/{upload_id}/parts`)."""
        template = self.item_template(row)
        segment = row.path.rsplit("/", 1)[-1]
        if segment.endswith("}"):
            return None  # an update
        name = (segment[:-1] if segment.endswith("s") else segment) + "_id"
        key = PLACEHOLDER.findall(template)[-1] if template else name
        obj = result
        data = getattr(obj, "data", None)
        if getattr(obj, "id", None) is None and isinstance(data, list) and data:
            obj = data[0]
        value = id_of(obj, key)
        if value is not None:
            if template:
                self.ids[template] = value
            self.named[name] = value
        return value

    def id_for(self, path: str, placeholder: str) -> str:
        """The id to put in `{placeholder}` of `path`: made at the same template, else at one ending
        in the same placeholder, else a made-up one."""
        template = path[:path.index("{" + placeholder + "}") + len(placeholder) + 2]
        if template in self.ids:
            return self.ids[template]
        if template in self.creatable:
            self.made_up.append(placeholder)  # its create failed: an id of another kind would mislead
            return f"{placeholder.removesuffix('_id')}_contract"
        return self.id_named(placeholder, template)

    def has_id(self, name: str) -> bool:
        return name in self.named or any(t.endswith("{" + name + "}") for t in self.ids)

    def remember_listed(self, row: Row, page: Any) -> None:
        """A list shows items no create made (run steps, checkpoints): note the first one's id."""
        item = next((r.path for r in self.rows if r.path.startswith(row.path + "/{") and r.path.endswith("}")
                     and r.path.count("/") == row.path.count("/") + 1), None)
        data = getattr(page, "data", None)
        if item and item not in self.ids and isinstance(data, list) and data:
            value = id_of(data[0], PLACEHOLDER.findall(item)[-1])
            if value is not None:
                self.ids[item] = value

    def id_named(self, name: str, near: str = "") -> str:
        """An id for a parameter called `name` (`project_id`) from the kind whose template ends in
        `{name}` and shares most of `near`'s tail (org projects for /v1/projects/{project_id}),
        else from a create by that name, else a made-up one."""
        matches = [t for t in self.ids if t.endswith("{" + name + "}")]
        if matches:
            best = max(matches, key=lambda t: shared_tail(t, near))
            if near and best != near:
                self.borrowed.append(f"{name} from {best}")
            return self.ids[best]
        if name in self.named:
            return self.named[name]
        if name == "model":
            return "gpt-4o"
        if name == "fine_tuned_model_checkpoint":
            return "ft:gpt-4o-mini:org:contract:ckpt-step-1"
        self.made_up.append(name)
        return f"{name.removesuffix('_id')}_contract"

    # -- arguments -------------------------------------------------------------

    def arguments(self, row: Row, name: str | None = None, optional: dict | None = None) -> tuple[list, dict]:
        """Positional and keyword arguments for calling row's method (`name`, else the row's)."""
        fn = self.method(name or row.name)
        signature, hints = self.signature(fn)
        self.made_up.clear()
        self.borrowed.clear()
        placeholders = PLACEHOLDER.findall(row.path)
        args: list = []
        kwargs: dict = {}
        for param in signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if optional and param.name in optional:
                value = optional[param.name]
                if callable(value):
                    value = value(self)
            elif param.name in placeholders:
                value = self.id_for(row.path, param.name)
            elif len(placeholders) == 1 and param.kind == param.POSITIONAL_OR_KEYWORD and param.default is param.empty:
                value = self.id_for(row.path, placeholders[0])  # the SDK names it differently
            elif param.default is not param.empty:
                continue
            else:
                value = self.value(param.name, hints.get(param.name, str))
            if param.kind == param.POSITIONAL_ONLY or (param.kind == param.POSITIONAL_OR_KEYWORD and not kwargs):
                args.append(value)
            else:
                kwargs[param.name] = value
        return args, kwargs

    @staticmethod
    def signature(fn) -> tuple[inspect.Signature, dict[str, Any]]:
        """The signature and type hints to build a call from: the method's first overload that does
        not ask for a stream (an overloaded method's own signature makes every argument optional)."""
        for overload in typing.get_overloads(getattr(fn, "__func__", fn)):
            signature = inspect.signature(overload)
            stream = signature.parameters.get("stream")
            if stream is not None and stream.default is stream.empty:
                continue
            params = [p for n, p in signature.parameters.items() if n != "self"]
            return signature.replace(parameters=params), typing.get_type_hints(overload, include_extras=True)
        return inspect.signature(fn), typing.get_type_hints(fn, include_extras=True)

    def value(self, name: str, tp: Any, depth: int = 0) -> Any:
        """A minimal valid value of type `tp` for a parameter or key called `name`."""
        if depth > 12:
            raise Unusable(f"{name}: too deep")
        tp = strip(tp)
        if tp is sdk_types.FileTypes or tp is sdk_types.FileContent or name in ("file", "image", "audio"):
            if _mentions_files(tp):
                return FILE
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in args if strip(a) not in (type(None), sdk_types.Omit, sdk_types.NotGiven)]
            if _mentions_files(tp) and not any(strip(a) is str for a in members):
                return FILE
            problems = []
            for member in sorted(members, key=lambda m: _preference(m, self.wants_string(name))):
                try:
                    return self.value(name, member, depth + 1)
                except Unusable as e:
                    problems.append(str(e))
            raise Unusable(f"{name}: no usable member of {tp}: {problems}")
        if origin is typing.Literal or origin is typing_extensions.Literal:
            return args[0]
        if tp is str:
            return self.string(name)
        if tp is bool:
            return True
        if tp is int:
            return INTS.get(name, 1)
        if tp is float:
            return 0.5
        if tp is bytes:
            return b"hello"
        if is_typeddict(tp):
            return {key: self.value(key, hint, depth + 1) for key, hint in required_keys(tp).items()}
        if origin in (list, collections.abc.Iterable, collections.abc.Sequence, typing.List, set, tuple) \
                or origin is sdk_types.SequenceNotStr or _is_sequence_not_str(tp):
            if origin is tuple and args and args[-1] is not Ellipsis:
                return tuple(self.value(name, a, depth + 1) for a in args)
            element = args[0] if args else str
            return [self.value(_singular(name), element, depth + 1)]
        if origin in (dict, collections.abc.Mapping, typing.Dict):
            return {}
        if tp is object or tp is typing.Any:
            return "hello"
        if isinstance(tp, type) and issubclass(tp, dict):
            return {}
        raise Unusable(f"{name}: cannot make a {tp!r}")

    @staticmethod
    def wants_string(name: str) -> bool:
        return name in STRINGS or name.endswith(("model", "_id", "_file"))

    def string(self, name: str) -> str:
        if name in STRINGS:
            return STRINGS[name]
        if name.endswith(("file_id", "_file")) and self.file_id:
            return self.file_id
        if name.endswith("_id"):
            return self.id_named(name)
        if self.has_id(name + "_id"):  # "consent": the id of a consent made earlier
            return self.id_named(name + "_id")
        if name.endswith("_url") or name.endswith("_uri"):
            return "https://example.com/contract"
        if name.endswith("_email"):
            return "contract@example.com"
        if name.endswith("model"):
            return "gpt-4o"
        return "hello"


def _singular(name: str) -> str:
    if name.endswith("_ids"):
        return name[:-1]
    if name in ("file_ids",):
        return "file_id"
    return name


def _mentions_files(tp: Any) -> bool:
    text = repr(tp)
    return "IO[bytes]" in text or "PathLike" in text


def _is_sequence_not_str(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return getattr(origin, "__name__", "") == "SequenceNotStr"


def _preference(member: Any, string_first: bool) -> int:
    """Union members in the order to try: a plain str first where the name calls for one (`model`,
    ids), then strings and literals, numbers, the rest."""
    member = strip(member)
    if member is str and string_first:
        return 0
    if member is str or typing.get_origin(member) is typing.Literal:
        return 1
    if member in (int, float, bool):
        return 2
    return 3


# -- the order of the walk --------------------------------------------------------

# Actions after which an object may take no other: each one after the first gets a fresh object.
TERMINAL = ("complete", "cancel", "archive", "accept", "refer", "reject", "hangup")


def children(paths: typing.Iterable[str], at: str) -> list[str]:
    """The distinct paths one segment below `at` that lead to rows."""
    below = set()
    for path in paths:
        if path.startswith(at + "/"):
            below.add(at + "/" + path[len(at) + 1:].split("/", 1)[0])
    return sorted(below)


def walk_order(rows: typing.Iterable[Row]) -> list[Row]:
    """Every row once, in an order where what a call needs exists: a collection's create, then its
    list, then the collection's other paths, then its item: retrieve, update, the item's child
    collections (the same way down), its actions (terminal ones last). Deletes come last of all,
    children before their parents, so an object other paths refer to (a project from
    /v1/projects/{project_id}/roles) is alive for them."""
    rows = tuple(rows)
    paths = {r.path for r in rows}
    at: dict[str, list[Row]] = {}
    for r in rows:
        at.setdefault(r.path, []).append(r)
    order: list[Row] = []
    deletes: list[Row] = []

    def is_item(path: str) -> bool:
        return path.endswith("}")

    def is_object(path: str) -> bool:
        return is_item(path) or not any(is_item(c) for c in children(paths, path))

    def visit(path: str) -> None:
        ranks = {"GET": 0, "POST": 1} if is_object(path) else {"POST": 0, "GET": 1}  # retrieve, update / create, list
        here = sorted(at.get(path, []), key=lambda r: ranks.get(r.method, 9))
        order.extend(r for r in here if r.method != "DELETE")
        below = children(paths, path)
        if is_object(path):
            # child collections first, then its actions (leaves with POST only), terminal last
            def rank(child: str) -> tuple:
                leaf = not any(p.startswith(child + "/") for p in paths) and all(r.method == "POST" for r in at.get(child, []))
                name = child.rsplit("/", 1)[-1]
                return (leaf, TERMINAL.index(name) if name in TERMINAL else -1, name)
            below.sort(key=rank)
        else:
            below.sort(key=lambda c: (is_item(c), c))  # a collection: its other paths, then its items
        for child in below:
            visit(child)
        deletes.extend(r for r in here if r.method == "DELETE")

    for top in sorted({"/" + r.path.split("/")[1] + "/" + r.path.split("/")[2] for r in rows}):
        visit(top)
    order.extend(deletes)  # post-order: children before their parents
    assert len(order) == len(rows) and {id(r) for r in order} == {id(r) for r in rows}, "every row once"
    return order
