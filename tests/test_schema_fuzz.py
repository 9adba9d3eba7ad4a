"""A schema fuzz of the fake from the OpenAPI description (issue 13): every operation the description
has, called over loopback on the session's running fake with requests schemathesis generates from it.

Asserted:
- no server error: no 5xx, no dropped connection, no time-out (a failure lists the request and the answer);
- every 4xx is in the API's error shape, `{"error": {"message", "type", "param", "code"}}`;
- every operation is called, and routed (`NOT_ROUTED`: the description's operations the SDK has no route for);
- every 2xx conforms to the description's response schema (status, media type, JSON body, and each event of a
  `text/event-stream` answer), except the description's own errors: those are listed, each with its reason,
  in `tests/data/openapi_known_mismatches.toml`, and an entry there that no longer occurs fails too.

The description is `../shared/reference/openai-openapi.json` beside the project (read from there, never
copied into it); without it the module is skipped. The pass is deterministic (Hypothesis derandomized, no
example database: the same requests every run) and bounded: per operation `EXAMPLES` valid requests, one
with ids nothing made, `NEGATIVE` invalid ones (schemathesis' negative mode: only a 5xx or a bad error shape
fails them) and, where the description has an event stream, one asking for it: about 1,800 requests in
about 30 s on two cores.

What is done to the valid requests, so that they reach what they are meant to:
- operations are called in an order that creates before it reads (`walk_order`): a path parameter is the
  id a create under its parent path answered (or a list's first), where one did; deletes come last;
- body fields named `<name>_id` / `<name>_ids`, at any depth, get the id a create of that name answered;
- generated bodies lose the properties their schema names nowhere (JSON Schema allows them; the API
  answers 400 `unknown_parameter`, which would hide the rest of the body);
- `HINTS` fills the few fields a body needs that the description leaves optional, `OVERRIDES` sets a few.

Response schemas are checked with jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1). The description
still carries 3.0's `nullable: true` in places, a keyword 3.1 dropped; it is read as what it plainly means
(null allowed) rather than listed a hundred times. A failed union reports its likeliest member's errors.

Run: `.venv/bin/python -m pytest tests/test_schema_fuzz.py` (`-s` prints the counts).
"""

from __future__ import annotations

import copy
import json
import re
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import API_KEY, ROOT, silent_wav

SPEC_PATH = ROOT.parent / "shared" / "reference" / "openai-openapi.json"
KNOWN_PATH = Path(__file__).parent / "data" / "openapi_known_mismatches.toml"

pytestmark = pytest.mark.skipif(not SPEC_PATH.exists(),
                                reason=f"no OpenAPI description at {SPEC_PATH} (../shared/reference/ beside the project)")

EXAMPLES = 5  # requests per operation generated to be valid (their 2xx answers are checked against the description)
NEGATIVE = 3  # and generated to be invalid (the answer must be a 4xx in the error shape, or a 2xx; never a 5xx)
TIMEOUT = 15  # seconds for one request
BUDGET = 150  # seconds for the whole pass: past it, the operations left are not called (and that fails)

# Operations not called, with why. Keep it short.
NOT_CALLED: dict[str, str] = {}

# Operations of the description that the SDK has no route for: called, and answered as the API answers an
# unknown route (404 "Invalid URL"). Any other operation answered so is a route the fake lacks.
NOT_ROUTED: dict[str, str] = {
    "POST /evals/{eval_id}/runs/{run_id}": "the description's cancelEvalRun; the SDK's evals.runs.cancel posts to "
                                           "/evals/{eval_id}/runs/{run_id}/cancel, which is called",
}

# Fields a body needs that the description leaves optional (a stored prompt could give them), set when absent.
HINTS: dict[str, dict[str, Any]] = {
    "POST /responses": {"model": "gpt-4o", "input": "hello"},
    "POST /responses?beta=true": {"model": "gpt-4o", "input": "hello"},
    "POST /responses/compact": {"model": "gpt-4o", "input": "hello"},
    "POST /responses/compact?beta=true": {"model": "gpt-4o", "input": "hello"},
    "POST /responses/input_tokens": {"model": "gpt-4o", "input": "hello"},
    "POST /responses/input_tokens?beta=true": {"model": "gpt-4o", "input": "hello"},
}

def _wav() -> bytes:
    return silent_wav(1)


# Fields set whatever was generated: what makes the answer something later operations can reach.
OVERRIDES: dict[str, dict[str, Any]] = {
    "POST /chat/completions": {"store": True},  # only stored completions can be retrieved, listed, updated
    "POST /fine_tuning/jobs": {"model": "gpt-4o-mini"},  # a model the API fine-tunes: a job is made, and read after
    # The API routes audio by model (another kind is its 404 Invalid URL) and reads the upload as audio.
    "POST /audio/speech": {"model": "gpt-4o-mini-tts", "voice": "alloy"},
    "POST /audio/transcriptions": {"model": "whisper-1", "file": _wav()},
    "POST /audio/translations": {"model": "whisper-1", "file": _wav()},
}

METHODS = ("get", "post", "put", "patch", "delete")


# -- the description -----------------------------------------------------------------------


def load_spec() -> dict:
    return json.loads(SPEC_PATH.read_bytes())


def op_key(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


def params_of(template: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", template.split("?")[0])


def prefix_of(template: str, param: str) -> str:
    """The template up to and including `{param}`: what names one object of that kind."""
    bare = template.split("?")[0]
    return bare[: bare.index("{" + param + "}") + len(param) + 2]


def walk_order(keys: list[str]) -> list[str]:
    """Creates before reads, parents before children, deletes last (children first)."""

    def rank(key: str) -> tuple:
        method, path = key.split(" ", 1)
        depth = len(params_of(path))
        if method == "DELETE":
            return (1, -depth, path)
        collection = not path.split("?")[0].endswith("}")
        kind = 0 if method == "POST" and collection else 1 if method == "GET" else 2
        return (0, depth, kind, path)

    return sorted(keys, key=rank)


def _nullable_read_as_meant(node: Any) -> Any:
    """3.0's `nullable: true`, which 3.1 dropped, as the null it means."""
    if isinstance(node, list):
        return [_nullable_read_as_meant(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_read_as_meant(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "schemas")


def _for_generation(node: Any, names_schemas: bool = False) -> Any:
    """The description as schemathesis generates from it: a schema with properties and no type is meant as an
    object (POST /conversations/{id}/items' body is one), not as any JSON value."""
    if isinstance(node, list):
        return [_for_generation(v) for v in node]
    if not isinstance(node, dict):
        return node
    if names_schemas:  # {name: schema}: not a schema itself
        return {k: _for_generation(v) for k, v in node.items()}
    out = {k: _for_generation(v, k in _SCHEMA_MAPS) for k, v in node.items()}
    if isinstance(out.get("properties"), dict) and "type" not in out and "$ref" not in out:
        out["type"] = "object"
    return out


class Checker:
    """jsonschema validators for the description's response schemas, with its components as the registry."""

    URI = "urn:openai-openapi"

    def __init__(self, spec: dict) -> None:
        import jsonschema
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.spec = _nullable_read_as_meant(copy.deepcopy(spec))
        self.registry = Registry().with_resource(self.URI, Resource(contents=self.spec, specification=DRAFT202012))
        self.validator_class = jsonschema.Draft202012Validator
        self._cache: dict[str, Any] = {}

    def validator(self, pointer: str):
        if pointer not in self._cache:
            self._cache[pointer] = self.validator_class({"$ref": f"{self.URI}#{pointer}"}, registry=self.registry)
        return self._cache[pointer]

    def errors(self, pointer: str, instance: Any) -> list[tuple[str, str]]:
        """(JSON path, message) of each leaf error, indices as [*]; a union's errors are its likeliest member's."""
        out = []
        for error in self.validator(pointer).iter_errors(instance):
            for leaf in _leaves(error):
                out.extend(_described(leaf, self.allows_null))
        return sorted(set(out))

    def allows_null(self, schema: Any, depth: int = 0) -> bool:
        """Whether `schema` (refs into the description resolved) accepts null."""
        if not isinstance(schema, dict) or depth > 20:
            return schema is True
        if "$ref" in schema:
            node: Any = self.spec
            for part in schema["$ref"].split("#", 1)[-1].lstrip("/").split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
            return self.allows_null(node, depth + 1)
        kind = schema.get("type")
        if kind == "null" or (isinstance(kind, list) and "null" in kind) or schema.get("const", 0) is None \
                or None in schema.get("enum", [0]):
            return True
        if any(self.allows_null(m, depth + 1) for key in ("anyOf", "oneOf") for m in schema.get(key, [])):
            return True
        return False


def _leaves(error) -> list:
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[Any, list] = defaultdict(list)
    for sub in error.context:
        branches[sub.relative_schema_path[0]].append(sub)
    discriminator = (error.schema.get("discriminator") or {}).get("propertyName") if isinstance(error.schema, dict) else None
    here = len(error.absolute_path)

    def ruled_out(subs: list) -> bool:  # the member's tag does not match: not the member meant
        return any(s.validator in ("const", "enum") and len(s.absolute_path) == here + 1
                   and s.absolute_path[-1] in ("type", "object", discriminator) for s in subs)\
            or any(s.validator == "type" and len(s.absolute_path) == here for s in subs)

    candidates = {k: v for k, v in branches.items() if not ruled_out(v)} or branches
    best = min(candidates.items(), key=lambda kv: (-max(len(s.absolute_path) for s in kv[1]), len(kv[1]), str(kv[0])))
    return [leaf for sub in best[1] for leaf in _leaves(sub)]


def _norm(path: str) -> str:
    return re.sub(r"\[\d+\]", "[*]", path)


def _described(error, allows_null) -> list[tuple[str, str]]:
    path = _norm(error.json_path)
    if error.validator == "required":
        m = re.match(r"^'(.+)' is a required property$", error.message)
        if m:
            sub = ((error.schema or {}).get("properties") or {}).get(m.group(1))
            why = "missing: the description requires it (null allowed)" if allows_null(sub) \
                else "missing: the description requires it"
            return [(f"{path}.{m.group(1)}", why)]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema or {}).get("properties", {}))
        return [(f"{path}.{k}", "not in the description (additionalProperties: false)")
                for k in error.instance if k not in known] or [(path, error.message)]
    message = error.message
    if len(message) > 160:
        message = message[:157] + "..."
    return [(path, message)]


# -- generated bodies --------------------------------------------------------------------


class Strip:
    """Drops the properties a generated body has that its schema names nowhere (in any member of a union)."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec

    def resolve(self, schema: Any, depth: int = 0) -> list[dict]:
        """`schema` and, flattened, every member of its allOf/anyOf/oneOf, refs resolved."""
        if not isinstance(schema, dict) or depth > 20:
            return []
        if "$ref" in schema:
            node: Any = self.spec
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
            return self.resolve(node, depth + 1)
        out = [schema]
        for key in ("allOf", "anyOf", "oneOf"):
            for member in schema.get(key, []):
                out.extend(self.resolve(member, depth + 1))
        return out

    def __call__(self, value: Any, schema: Any, depth: int = 0) -> Any:
        if depth > 30:
            return value
        members = self.resolve(schema)
        if isinstance(value, dict):
            props: dict[str, list] = defaultdict(list)
            free = False
            for m in members:
                for name, sub in m.get("properties", {}).items():
                    props[name].append(sub)
                extra = m.get("additionalProperties")
                if isinstance(extra, dict) or extra is True:
                    free = True
            if not props and not any(m.get("properties") for m in members):
                free = True  # a free-form object (metadata, a JSON schema, ...)
            if free:
                return value
            return {k: self._any(v, props[k], depth) for k, v in value.items() if k in props}
        if isinstance(value, list):
            items = [m["items"] for m in members if isinstance(m.get("items"), dict)]
            return [self._any(v, items, depth) for v in value]
        return value

    def _any(self, value: Any, schemas: list, depth: int) -> Any:
        if not schemas:
            return value
        if len(schemas) == 1:
            return self(value, schemas[0], depth + 1)
        return self(value, {"anyOf": schemas}, depth + 1)


# -- the pass ------------------------------------------------------------------------------


@dataclass
class Exchange:
    key: str  # "METHOD /template"
    kind: str  # "valid", "unknown id" (path ids nothing made), "invalid" (schemathesis' negative mode), "stream"
    url: str
    body: Any
    media_type: str | None
    status: int  # -1: no answer
    content_type: str
    text: str
    error: str = ""

    def request(self) -> str:
        body = "" if self.body is None else " " + _short(json.dumps(self.body, default=_bytes, ensure_ascii=False), 600)
        media = f" ({self.media_type})" if self.media_type and self.body is not None else ""
        return f"{self.key.split()[0]} {self.url}{media}{body}"


def _bytes(v: Any) -> str:
    return f"<{len(v)} bytes>" if isinstance(v, (bytes, bytearray)) else repr(v)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


@dataclass
class Pass:
    exchanges: list[Exchange] = field(default_factory=list)
    mismatches: dict[tuple[str, str], list[tuple[str, Exchange]]] = field(default_factory=lambda: defaultdict(list))
    operations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cut_short: bool = False  # the budget ran out


def run_pass(base_url: str, spec: dict) -> Pass:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core import NOT_SET

    result = Pass()
    started = time.monotonic()
    # An explicit config: no schemathesis.toml found on the way up from the working directory applies.
    config = schemathesis.Config.from_dict({"seed": 13, "generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_dict(_for_generation(copy.deepcopy(spec)), config=config)
    operations = {op_key(op.method, op.path): op for op in (r.ok() for r in schema.get_all_operations())}
    strip = Strip(spec)
    checker = Checker(spec)
    templates = [op_key(m, p).split(" ", 1)[1] for p, item in spec["paths"].items() for m in item if m in METHODS]
    known: dict[str, str] = {}  # a template's prefix ending in {param} -> an id a create answered
    by_name: dict[str, str] = {}  # param name -> such an id
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever the environment's proxies say
    auth = {"Authorization": f"Bearer {API_KEY}"}

    def children(path: str) -> set[tuple[str, str]]:
        """(prefix, param) of each template that names one object right under `path`."""
        bare = re.escape(path.split("?")[0])
        return {(m.group(0).rstrip("/"), m.group(1)) for t in templates
                if (m := re.match(bare + r"/\{([^}]+)\}(/|$)", t.split("?")[0]))}

    def remember(key: str, data: Any) -> None:
        """The id a create answered (or the first a list did), as the id of the path's next level."""
        method, path = key.split(" ", 1)
        if not isinstance(data, dict):
            return
        made = data.get("id") if method == "POST" else None
        listed = data.get("data")
        if not isinstance(made, str) and isinstance(listed, list) and listed and isinstance(listed[0], dict):
            made = listed[0].get("id")
        if isinstance(made, str) and made:
            for prefix, name in children(path):
                known.setdefault(prefix, made)
                by_name.setdefault(name, made)

    def fill(key: str, body: Any) -> Any:
        """Ids the body names (`<name>_id`, `<name>_ids`, at any depth) as ids a create answered."""
        def walk(node: Any) -> Any:
            if isinstance(node, list):
                return [walk(v) for v in node]
            if not isinstance(node, dict):
                return node
            out = {}
            for name, value in node.items():
                if name.endswith("_id") and isinstance(value, str) and name in by_name:
                    out[name] = by_name[name]
                elif name.endswith("_ids") and isinstance(value, list) and name[:-1] in by_name:
                    out[name] = [by_name[name[:-1]]]
                else:
                    out[name] = walk(value)
            return out

        body = walk(body)
        if isinstance(body, dict):
            body = {**HINTS.get(key, {}), **body, **OVERRIDES.get(key, {})}
        return body

    def send(key: str, kind: str, case) -> None:
        _, path = key.split(" ", 1)
        kwargs = case.as_transport_kwargs(base_url=base_url, headers=auth)
        kwargs["headers"].pop("X-Schemathesis-TestCaseId", None)
        kwargs["headers"].update(auth)  # an invalid case may have dropped it: keep the request's other faults
        sent = None if case.body is NOT_SET else case.body
        try:
            response = session.request(**kwargs, timeout=TIMEOUT)
            ex = Exchange(key, kind, response.request.url, sent, case.media_type, response.status_code,
                          response.headers.get("content-type", ""), response.content.decode("utf-8", "replace"))
        except Exception as e:  # no answer: the fake dropped the connection or never answered
            ex = Exchange(key, kind, kwargs["url"], sent, case.media_type, -1, "", "", f"{type(e).__name__}: {e}")
        result.exchanges.append(ex)
        if 200 <= ex.status < 300 and kind != "invalid":
            for where, what in _conformance(spec, checker, path, case.operation.method, ex, remember):
                result.mismatches[(key, where)].append((what, ex))

    for key in walk_order(list(operations)):
        if key in NOT_CALLED:
            continue
        if time.monotonic() - started > BUDGET:
            result.cut_short = True
            break
        op = operations[key]
        result.operations.append(key)
        _, path = key.split(" ", 1)
        fixed = {}
        for name in params_of(path):
            prefix = prefix_of(path, name)
            if prefix in known:
                fixed[name] = known[prefix]
            elif name in by_name:
                fixed[name] = by_name[name]
        plans = [("valid", GenerationMode.POSITIVE, EXAMPLES, fixed)]
        if fixed:  # and once with ids nothing made: the API's 404
            plans.append(("unknown id", GenerationMode.POSITIVE, 1, None))
        plans.append(("invalid", GenerationMode.NEGATIVE, NEGATIVE, fixed))
        cases: list = []
        for kind, mode, count, parameters in plans:
            @settings(max_examples=count, derandomize=True, database=None, deadline=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(op.as_strategy(mode, path_parameters=parameters or None))
            def generate(case):
                cases.append((kind, case))

            try:
                generate()
            except Unsatisfiable:  # nothing invalid to generate (an operation with no parameters)
                pass
        body_schema = _body_schema(spec, path, op.method)
        streamed = False
        for kind, case in cases:
            if kind != "invalid":
                if case.body is not NOT_SET and case.body is not None:
                    schema_for_media = body_schema.get(case.media_type)
                    if schema_for_media is not None:
                        case.body = strip(case.body, schema_for_media)
                    case.body = fill(key, case.body)
                elif HINTS.get(key):
                    case.body = fill(key, {})
                    case.media_type = case.media_type or "application/json"
            send(key, kind, case)
            flag = _stream_flag(spec, path, op.method, case.media_type)
            if kind == "valid" and flag and not streamed and isinstance(case.body, dict):
                streamed = True  # one more, asking for the event stream
                case.body = {**case.body, **flag}
                send(key, "stream", case)
    result.seconds = time.monotonic() - started
    return result


def _body_schema(spec: dict, path: str, method: str) -> dict[str, Any]:
    body = spec["paths"][path][method.lower()].get("requestBody", {})
    if "$ref" in body:
        body = spec["components"]["requestBodies"][body["$ref"].rsplit("/", 1)[-1]]
    return {media: content.get("schema") for media, content in body.get("content", {}).items()}


def _stream_flag(spec: dict, path: str, method: str, media_type: str | None) -> dict | None:
    """What asks this operation for its event stream, where its description has one."""
    responses = spec["paths"][path][method.lower()].get("responses", {})
    if not any("text/event-stream" in r.get("content", {}) for code, r in responses.items() if code.startswith("2")):
        return None
    schema = _body_schema(spec, path, method).get(media_type)
    props = {name for m in Strip(spec).resolve(schema) for name in m.get("properties", {})}
    if "stream_format" in props:
        return {"stream_format": "sse"}
    if "stream" in props:
        return {"stream": True}
    return None


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _conformance(spec: dict, checker: Checker, path: str, method: str, ex: Exchange, remember) -> list[tuple[str, str]]:
    """(JSON path, what is wrong) of each way a 2xx answer differs from the description."""
    responses = spec["paths"][path][method.lower()].get("responses", {})
    code = str(ex.status)
    if code not in responses and f"{code[0]}XX" in responses:
        code = f"{code[0]}XX"
    if code not in responses:
        documented = sorted(c for c in responses if c.startswith("2"))
        return [("status", f"answered {ex.status}; the description has {', '.join(documented) or 'no 2xx'}")]
    content = responses[code].get("content")
    if not content:
        return []  # the description says nothing of the body
    media = ex.content_type.split(";")[0].strip().lower()
    if media not in content:
        return [("content-type", f"answered {media or 'no content-type'}; the description has {', '.join(content)}")]
    if "schema" not in content[media]:
        return []
    pointer = _pointer("paths", path, method.lower(), "responses", code, "content", media, "schema")
    if media == "application/json":
        try:
            data = json.loads(ex.text)
        except ValueError:
            return [("body", f"not JSON: {_short(ex.text, 80)!r}")]
        remember(op_key(method, path), data)
        return checker.errors(pointer, data)
    if media == "text/event-stream":
        out = []
        for line in ex.text.splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload == "[DONE]":
                    continue
                try:
                    event = json.loads(payload)
                except ValueError:
                    out.append(("event", f"not JSON: {_short(payload, 80)!r}"))
                    continue
                tag = event.get("type") if isinstance(event, dict) and isinstance(event.get("type"), str) else ""
                out.extend((f"event{'<' + tag + '>' if tag else ''}{p[1:]}", m) for p, m in checker.errors(pointer, event))
        return sorted(set(out))
    return []  # bytes (audio, images, zip, ...): nothing to check


# -- the reviewed list -----------------------------------------------------------------------


def load_known() -> dict[tuple[str, str], str]:
    """(operation, JSON path) -> reason, from the reviewed file: each entry's operations x paths. `mismatch`
    entries are the description's errors; `gap` entries are the fake's own, each naming the issue that
    closes it (an endpoint that answers consistent objects until it does the API's work)."""
    data = tomllib.loads(KNOWN_PATH.read_text()) if KNOWN_PATH.exists() else {}
    out: dict[tuple[str, str], str] = {}
    for entry in [*data.get("mismatch", []), *data.get("gap", [])]:
        reason = entry.get("reason", "").strip()
        assert reason and "\n" not in reason, f"{KNOWN_PATH.name}: {entry} needs a one-line reason"
        assert entry in data.get("mismatch", []) or str(entry.get("issue", "")).isdigit(), \
            f"{KNOWN_PATH.name}: a gap of the fake's must name the issue that closes it: {entry}"
        for operation in entry["operations"]:
            for path in entry["paths"]:
                assert (operation, path) not in out, f"{KNOWN_PATH.name}: {operation} {path} is listed twice"
                out[(operation, path)] = reason
    return out


# -- the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz(fake) -> Pass:
    """The pass, once for the module, on a fresh state with the default profile."""
    from proxy_addon import Profile

    original = fake.engine.profile
    fake.engine.use(Profile())
    fake.journal.clear()
    try:
        result = run_pass(fake.base_url, load_spec())
    finally:
        fake.engine.use(original)
    statuses = Counter(f"{ex.status // 100}xx" if ex.status > 0 else "no answer" for ex in result.exchanges)
    print(f"\nschema fuzz: {len(result.operations)} operations, {len(result.exchanges)} requests in "
          f"{result.seconds:.1f} s; answers {dict(sorted(statuses.items()))}; "
          f"{len({ex.key for ex in result.exchanges if 200 <= ex.status < 300})} operations answered 2xx")
    return result


def test_every_operation_is_called(fuzz):
    spec = load_spec()
    everything = {op_key(m, p) for p, item in spec["paths"].items() for m in item if m in METHODS}
    assert set(NOT_CALLED) <= everything, f"NOT_CALLED names operations the description lacks: {set(NOT_CALLED) - everything}"
    missed = everything - set(NOT_CALLED) - {ex.key for ex in fuzz.exchanges}
    budget = f" (the pass ran out of its {BUDGET} s budget after {fuzz.seconds:.0f} s)" if fuzz.cut_short else ""
    assert not missed, f"{len(missed)} operations never called{budget}: {sorted(missed)}"


def _unrouted(ex: Exchange) -> bool:
    """The API's answer to a route it does not have: 404 "Invalid URL (METHOD /v1/...)"."""
    if ex.status != 404:
        return False
    try:
        return json.loads(ex.text)["error"]["message"].startswith("Invalid URL (")
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def test_every_operation_is_routed(fuzz):
    # Unrouted: every answer is `Invalid URL`. One is not enough: the audio endpoints answer it, as the API does, to
    # a model of another kind (whisper-1 on /audio/speech), which an invalid request may name.
    answers: dict[str, list[Exchange]] = defaultdict(list)
    for ex in fuzz.exchanges:
        answers[ex.key].append(ex)
    unrouted = {key: seen[0] for key, seen in answers.items() if all(_unrouted(ex) for ex in seen)}
    lacking = [f"{key}: e.g. {ex.request()}" for key, ex in sorted(unrouted.items()) if key not in NOT_ROUTED]
    assert not lacking, "operations of the description the fake has no route for:\n" + "\n".join(lacking)
    routed = sorted(set(NOT_ROUTED) - set(unrouted))
    assert not routed, f"NOT_ROUTED lists operations the fake now routes (remove them): {routed}"


def test_no_server_errors(fuzz):
    bad = [ex for ex in fuzz.exchanges if ex.status >= 500 or ex.status < 0]
    lines = [f"{ex.status if ex.status > 0 else 'no answer'} {ex.request()}\n    -> {_short(ex.error or ex.text, 400)}"
             for ex in bad]
    assert not bad, f"{len(bad)} of {len(fuzz.exchanges)} requests had a server error:\n" + "\n".join(lines)


def test_client_errors_have_the_api_shape(fuzz):
    bad = []
    for ex in fuzz.exchanges:
        if not 400 <= ex.status < 500:
            continue
        problem = _error_shape_problem(ex.text)
        if problem:
            bad.append(f"{ex.status} {ex.request()}\n    -> {problem}: {_short(ex.text, 300)}")
    assert not bad, f"{len(bad)} 4xx answers are not in the API's error shape:\n" + "\n".join(bad)


def _error_shape_problem(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return "not JSON"
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "no error object"
    missing = [k for k in ("message", "type", "param", "code") if k not in error]
    if missing:
        return f"error lacks {missing}"
    if not isinstance(error["message"], str) or not isinstance(error["type"], str):
        return "message and type must be strings"
    if not all(error[k] is None or isinstance(error[k], str) for k in ("param", "code")):
        return "param and code must be strings or null"
    return ""


def test_responses_match_the_description(fuzz):
    known = load_known()
    new = {k: v for k, v in fuzz.mismatches.items() if k not in known}
    lines = []
    for (key, path), seen in sorted(new.items()):
        message, ex = seen[0]
        lines.append(f"{key}  {path}: {message}  ({len(seen)}x)\n    e.g. {ex.request()}")
    assert not new, (f"{len(new)} answers differ from the description and are not in {KNOWN_PATH.name} "
                     "(the fake's fault, or the description's: then list it there with its reason):\n" + "\n".join(lines))


def test_known_mismatches_still_occur(fuzz):
    gone = sorted(set(load_known()) - set(fuzz.mismatches))
    assert not gone, f"entries of {KNOWN_PATH.name} that no longer occur (remove them): {gone}"
