"""Generate `proxy_addon/engine/table.py`, the route table, from the installed `openai` package.

    .venv/bin/python tools/generate_table.py            # rewrite the table
    .venv/bin/python tools/generate_table.py --check    # exit 1 if the table is not what the SDK gives

Walks the resources a real `OpenAI` client has (`client.beta.threads.runs`, ...), reads
the source of each public method with `ast`, and finds the one request it makes:
`self._post(path_template("/threads/{thread_id}/runs", ...), body=..., cast_to=Run,
stream=..., stream_cls=...)` or `self._get_api_list("/batches", page=SyncCursorPage[Batch])`.
Each becomes one `Row`. A new SDK release is a regenerate and a review of the diff, not
hand work. Methods that make no request of their own (helpers such as `create_and_poll`,
`stream`, `parse`) are left out: they call the rows that are in.

When `../shared/reference/openai-openapi.json` is there, `--check` also lists the rows whose
method and path the OpenAPI description lacks, and the description's operations no row has.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
from pathlib import Path

import openai
from openai._resource import SyncAPIResource

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "proxy_addon" / "engine" / "table.py"
OPENAPI = ROOT.parent / "shared" / "reference" / "openai-openapi.json"

_VERBS = {"_get": "GET", "_post": "POST", "_patch": "PATCH", "_put": "PUT", "_delete": "DELETE", "_get_api_list": "GET"}
# Methods whose return type the SDK picks at call time (by `response_format`): the JSON default.
_DYNAMIC = {"audio.transcriptions.create": "openai.types.audio.transcription:Transcription",
            "audio.translations.create": "openai.types.audio.translation:Translation"}
_PAGES = {"SyncCursorPage": "cursor", "SyncPage": "page", "SyncConversationCursorPage": "conversation",
          "SyncNextCursorPage": "next", "SyncTokenPage": "token"}


def resources(obj, prefix: str = ""):
    """(dotted name, resource) for every resource under `obj`, depth first, in a stable order."""
    for name in sorted(dir(type(obj))):
        if name.startswith("_") or name in ("with_raw_response", "with_streaming_response"):
            continue
        attr = inspect.getattr_static(type(obj), name)
        if not isinstance(attr, property) and type(attr).__name__ != "cached_property":
            continue
        try:
            value = getattr(obj, name)
        except Exception:
            continue
        if isinstance(value, SyncAPIResource):
            dotted = f"{prefix}{name}"
            yield dotted, value
            yield from resources(value, dotted + ".")


def _type_name(node: ast.AST, module) -> str | None:
    """'module:Name' for a type expression such as `Batch`, `cast(Any, ConversationItem)` (a union) or
    `_legacy_response.HttpxBinaryResponseContent`, resolved in the SDK module that uses it."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "cast" and len(node.args) == 2:
        node = node.args[1]  # "Union types cannot be passed in as arguments in the type system"
    text = ast.unparse(node)
    try:
        value = eval(text, vars(module))  # the module's own names: the type the SDK casts to
    except Exception:
        return None
    if value is type(None):
        return None
    if isinstance(value, type):
        return f"{value.__module__}:{value.__qualname__}"
    alias = text.split(".")[-1]  # a union alias: name the openai.types module that defines it
    owners = sorted((m.__name__ for m in list(sys.modules.values())
                     if getattr(m, "__name__", "").startswith("openai.types") and getattr(m, alias, None) is value),
                    key=lambda name: (-name.endswith("." + _snake(alias)), len(name)))
    return f"{owners[0]}:{alias}" if owners else f"{module.__name__}:{alias}"


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _request_call(function: ast.FunctionDef) -> ast.Call | None:
    """The `self._<verb>(...)` call a method returns, if it makes one."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _VERBS \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
            return node
    return None


def _path(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "path_template" and node.args:
        return _path(node.args[0])
    if isinstance(node, ast.JoinedStr):  # f"/threads/{thread_id}": keep the names
        return "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values)
    return None


def row_of(group: str, resource: SyncAPIResource, method_name: str) -> dict | None:
    method = getattr(type(resource), method_name)
    try:
        source = textwrap.dedent(inspect.getsource(method))
    except (OSError, TypeError):
        return None
    function = ast.parse(source).body[0]
    call = _request_call(function)
    if call is None or not call.args:
        return None
    path = _path(call.args[0])
    if path is None:
        return None
    module = sys.modules[method.__module__]  # where it is defined: a subclass's module may not import its types
    kwargs = {k.arg: k.value for k in call.keywords if k.arg}
    verb = _VERBS[call.func.attr]
    if call.func.attr == "_get_api_list" and isinstance(kwargs.get("method"), ast.Constant):
        verb = kwargs["method"].value.upper()
    page = item = None
    if "page" in kwargs and isinstance(kwargs["page"], ast.Subscript):
        page = _PAGES.get(ast.unparse(kwargs["page"].value))
        item = _type_name(kwargs["page"].slice, module)
    returns = _type_name(kwargs["cast_to"], module) if "cast_to" in kwargs else None
    returns = _DYNAMIC.get(f"{group}.{method_name}", returns)
    path, _, query = path.partition("?")  # `/responses?beta=true`: the same endpoint
    body = "none"
    params = None
    if "body" in kwargs:
        body = "json"
        b = kwargs["body"]
        if isinstance(b, ast.Call) and getattr(b.func, "id", "") in ("maybe_transform", "async_maybe_transform") and len(b.args) > 1:
            params = _type_name(b.args[1], module)
    if "files" in kwargs or "multipart/form-data" in source:
        body = "multipart"
    binary = returns is not None and returns.split(":")[1] in ("HttpxBinaryResponseContent", "BinaryAPIResponse")
    return {
        "method": verb,
        "path": "/v1" + path if not path.startswith("/v1") else path,
        "name": f"{group}.{method_name}",
        "returns": None if binary else returns,
        "page": page,
        "item": item,
        "streams": "stream_cls" in kwargs,
        "binary": binary,
        "body": body,
        "params": params,
        "deprecated": "deprecated" in ast.unparse(function.decorator_list) if function.decorator_list else False,
    }


def _rank(name: str) -> tuple:
    return name.startswith("beta."), name.count("."), "retrieve_content" in name, name


def _methods(cls: type) -> set[str]:
    """The public methods of a resource class and of the SDK's classes it extends (`resources/webhooks/__init__.py`
    makes `Webhooks` an empty subclass of the class that has them), not `SyncAPIResource`'s own."""
    return {name for klass in cls.__mro__ if issubclass(klass, SyncAPIResource) and klass is not SyncAPIResource
            for name, value in vars(klass).items() if not name.startswith("_") and inspect.isfunction(value)}


def table() -> list[dict]:
    client = openai.OpenAI(api_key="sk-generate", base_url="http://127.0.0.1:9/v1")
    rows: dict[tuple[str, str], dict] = {}
    for group, resource in resources(client):
        for method_name in sorted(_methods(type(resource))):
            row = row_of(group, resource, method_name)
            if row is None:
                continue
            key = (row["method"], row["path"])
            if key in rows:  # an alias (`files.retrieve_content` of `files.content`, `beta.chat` of `chat`)
                first = rows[key]
                if _rank(row["name"]) < _rank(first["name"]):  # the plain name leads, with its types
                    row, first = first, row
                    rows[key] = first
                    first["aliases"] = row.pop("aliases", [])
                first.setdefault("aliases", []).append(row["name"])
                continue
            rows[key] = row
    return sorted(rows.values(), key=lambda r: (r["path"], ("GET", "POST", "PUT", "PATCH", "DELETE").index(r["method"])))


def render(rows: list[dict]) -> str:
    lines = [
        '"""The route table, generated from openai ' + openai.__version__ + ' by tools/generate_table.py: do not edit by hand.',
        "",
        "One row per endpoint the SDK calls: method, path template, the SDK's method name, the type it",
        "returns (`module:Name`) or the page kind and item type of a list, whether it streams, whether it",
        "answers raw bytes, how its body is sent, and its request params type. Regenerate it for a new",
        "SDK release and review the diff.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from .rows import Row",
        "",
        f"SDK_VERSION = {openai.__version__!r}",
        "",
        "ROWS: tuple[Row, ...] = (",
    ]
    for r in rows:
        fields = [repr(r["method"]), repr(r["path"]), repr(r["name"])]
        for key in ("returns", "page", "item", "params"):
            if r[key] is not None:
                fields.append(f"{key}={r[key]!r}")
        for key in ("streams", "binary", "deprecated"):
            if r[key]:
                fields.append(f"{key}=True")
        if r["body"] != "none":
            fields.append(f"body={r['body']!r}")
        if r.get("aliases"):
            fields.append(f"aliases={tuple(r['aliases'])!r}")
        lines.append(f"    Row({', '.join(fields)}),")
    lines.append(")")
    return "\n".join(lines) + "\n"


def openapi_differences(rows: list[dict]) -> tuple[list[str], list[str]]:
    spec = json.loads(OPENAPI.read_text())
    ops = {(m.upper(), "/v1" + p) for p, item in spec["paths"].items() for m in item if m in ("get", "post", "put", "patch", "delete")}
    ours = {(r["method"], r["path"]) for r in rows}

    def norm(key):  # path parameter names differ between the SDK and the description
        import re

        return key[0], re.sub(r"\{[^}]+\}", "{}", key[1])

    theirs = {norm(k) for k in ops}
    mine = {norm(k) for k in ours}
    return sorted(f"{m} {p}" for m, p in mine - theirs), sorted(f"{m} {p}" for m, p in theirs - mine)


def main() -> None:
    rows = table()
    text = render(rows)
    if "--check" in sys.argv:
        same = TABLE.exists() and TABLE.read_text() == text
        print(f"{len(rows)} rows; table.py is {'current' if same else 'NOT what openai ' + openai.__version__ + ' gives'}")
        if OPENAPI.exists():
            missing, extra = openapi_differences(rows)
            print(f"rows the OpenAPI description lacks ({len(missing)}):", *missing, sep="\n  ")
            print(f"OpenAPI operations no row has ({len(extra)}):", *extra, sep="\n  ")
        sys.exit(0 if same else 1)
    TABLE.write_text(text)
    print(f"wrote {TABLE.relative_to(ROOT)}: {len(rows)} rows from openai {openai.__version__}")


if __name__ == "__main__":
    main()
