"""The contract: every method of the openai SDK the route table lists, called with the real SDK
(strict response validation) on a real running fake, answers without error; and every stored
resource kind behaves as stored objects do (a create is seen by retrieve and list, update changes
it, delete removes it, its children go with it).

The calls are generated from the SDK's signatures (`sdk_calls.py`), not written per method. A
failure lists every row that failed, with the exception, and how many rows answered; a row
marked GENERATOR never reached the fake (the SDK refused the generated arguments), and
"[made-up ids: ...]" says which of a call's ids no create had made, "[ids of another kind: ...]"
which were taken from another kind with that placeholder (a path with no create of its own).

Run: `.venv/bin/python -m pytest tests/test_contract.py` (about 10 s; `-s` prints the counts).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from proxy_addon.engine.rows import Row
from proxy_addon.engine.table import ROWS

from conftest import API_KEY, silent_wav
from sdk_calls import PLACEHOLDER, TERMINAL, Calls, Unusable, children, id_of, shared_tail, walk_order

# Rows the generator cannot call, with why. Keep it short.
CANNOT_CALL: dict[str, str] = {}

# Objects that no API call makes (the organization's own users, the limits and keys it has, what an agent
# session or an eval run or a safety review produces): no client can name one the fake has, so each row is
# called with an id nothing made and must answer as the real API does then, a 404 in the API's error shape.
_MADE_ELSEWHERE = {
    "admin.organization.users": "the organization's members join by invite, outside the API",
    "admin.organization.projects.api_keys": "project API keys are made in the dashboard",
    "admin.organization.projects.rate_limits": "a project's rate limits are the platform's, per model",
    "beta.agents.sessions.artifacts": "an agent session makes them as it runs",
    "beta.agents.sessions.subagents": "an agent session makes them as it runs",
    "beta.agents.sessions.turns": "an agent session makes them as it runs",
    "beta.chatkit.threads": "ChatKit makes them as its sessions are used",
    "evals.runs.output_items": "an eval run makes them as it grades",
    "safety.alerts": "the platform's safety review makes them",
    "safety.cases": "the platform's safety review makes them",
}


def _server_made() -> dict[str, str]:
    """Every row that needs the id of such an object; the list of the collection itself must answer (empty)."""
    out = {}
    for group, why in _MADE_ELSEWHERE.items():
        members = [r for r in ROWS if r.name.startswith(group + ".")]
        own_list = min((r.path for r in members if r.page), key=len, default=None)
        out.update({r.name: why for r in members if r.path != own_list})
    return out


SERVER_MADE = _server_made()

# Rows answered as the real API answers, which the SDK's own type refuses under strict validation:
# called with a lenient client.
LENIENT: dict[str, str] = {
    "chat.completions.messages.list": "lists the request's messages (role user, developer, ...); the SDK types "
                                      "them as ChatCompletionStoreMessage, whose role is Literal['assistant']",
    "fine_tuning.jobs.pause": "answers status 'paused', as the API's own example does; the SDK's FineTuningJob "
                              "status Literal lacks it",
}

THREAD, RUN = "/v1/threads/{thread_id}", "/v1/threads/{thread_id}/runs/{run_id}"


def _run_at_requires_action(calls) -> None:
    """What `create_and_poll` does: retrieve the run until it stops (at requires_action: the profile's tool call)."""
    calls.client.beta.threads.runs.poll(calls.ids[RUN], thread_id=calls.ids[THREAD])


def _tool_outputs(calls) -> list[dict]:
    run = calls.client.beta.threads.runs.retrieve(calls.ids[RUN], thread_id=calls.ids[THREAD])
    return [{"tool_call_id": c.id, "output": "ok"} for c in run.required_action.submit_tool_outputs.tool_calls]


JOB = "/v1/fine_tuning/jobs/{fine_tuning_job_id}"


def _job_running(calls) -> None:
    """A job that trains, retrieved until it runs, to pause, resume and cancel: the walk's own job failed at its
    first read (the contract's file is one line, not ten chat examples); tests/test_fine_tuning.py runs jobs through."""
    example = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    training = calls.client.files.create(file=("train.jsonl", example * 10), purpose="fine-tune")
    job = calls.client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    for _ in range(5):
        if job.status == "running":
            break
        job = calls.client.fine_tuning.jobs.retrieve(job.id)
    calls.ids[JOB] = job.id
def _wav() -> bytes:
    return silent_wav(0.5)


# Steps to take before a row, where state must move first.
BEFORE = {
    "beta.threads.runs.steps.list": _run_at_requires_action,
    "fine_tuning.jobs.pause": _job_running,
}

# Terminal actions (cancel, complete, ...) get a fresh object when the object has had one already;
# these always do, made with these options.
FRESH = {
    "responses.cancel": {"background": True},  # only a background response can be cancelled
    "vector_stores.file_batches.cancel": {},  # the walk's reads have completed the walk's batch
}

def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 120, 200, 255)).save(out, "PNG")
    return out.getvalue()


# Arguments for specific rows, over what the generator makes (a callable gets the `Calls`).
OVERRIDES: dict[str, dict[str, Any]] = {
    # the image endpoints refuse an upload that is not an image (the generator's file is text)
    "images.edit": {"image": ("contract.png", _png(), "image/png")},
    "images.create_variation": {"image": ("contract.png", _png(), "image/png")},
    # deleting a base model would take "gpt-4o" from every later call; delete a fine-tuned one
    "models.delete": {"model": "ft:gpt-4o-mini:contract:deleted"},
    # only stored completions can be retrieved, listed, updated, deleted
    "chat.completions.create": {"store": True},
    # the SDK's default asks for base64, which strict validation rejects before the SDK decodes it
    "embeddings.create": {"encoding_format": "float"},
    # optional in the SDK (a stored prompt may give them), required by the API otherwise
    "responses.create": {"model": "gpt-4o", "input": "hello"},
    "responses.input_tokens.count": {"model": "gpt-4o", "input": "hello"},
    "vector_stores.file_batches.create": {"file_ids": lambda calls: [calls.file_id]},
    "beta.threads.runs.submit_tool_outputs": {"tool_outputs": _tool_outputs},
    # both optional in the SDK; the API needs one of them (tests/test_containers.py tries both)
    "containers.files.create": {"file": ("contract.txt", b"contract")},
    # a video the fake can read (the generator's bytes are no video)
    "videos.edit": {"video": lambda calls: ("clip.mp4", _clip(), "video/mp4")},
    "videos.extend": {"video": lambda calls: ("clip.mp4", _clip(), "video/mp4")},
    # the API routes audio by model (another kind is its 404 Invalid URL), and reads the upload as audio
    "audio.speech.create": {"model": "gpt-4o-mini-tts"},
    "audio.transcriptions.create": {"model": "whisper-1", "file": lambda calls: ("a.wav", _wav())},
    "audio.translations.create": {"model": "whisper-1", "file": lambda calls: ("a.wav", _wav())},
}


def _clip() -> bytes:
    from proxy_addon.engine import clips

    return clips.render("contract", "720x1280", 4)




def contract_profile():
    """The profile the contract runs on: runs stop at a tool call, so submit_tool_outputs and steps can be called."""
    from proxy_addon import Profile

    from proxy_addon.engine.resources.models import DEFAULT_MODELS

    profile = Profile()
    profile.beta.threads.runs(tool_calls=[{"function": {"name": "contract", "arguments": {}}}], validate_thread_exists=True)
    profile.beta.threads.messages(validate_thread_exists=True)
    profile.models(models=[*DEFAULT_MODELS, "ft:gpt-4o-mini:contract:deleted"])  # a fine-tuned model to delete
    # A batch steps on by the hour, so the walk's batch is still validating (not failed: its input file is not
    # JSONL) when it is cancelled; tests/test_batches.py runs batches through.
    profile.batches(progress=3600)
    # A video's steps all come due at once, so the walk's video is completed when it is remixed, downloaded,
    # deleted; tests/test_videos.py polls videos through.
    profile.videos(progress=0)
    # An eval run too, so that the walk's run can be cancelled; tests/test_evals.py grades runs through.
    profile.evals(progress=3600)
    return profile


# Fields an update may change, in order of preference, and the value it changes them to.
CHANGES = {"metadata": {"contract": "changed"}, "name": "contract-changed", "description": "changed",
           "title": "changed", "role_name": "changed", "attributes": {"contract": "changed"}, "threshold_amount": 7,
           "role": "owner"}


def make_client(base_url: str | None, strict: bool = True) -> openai.OpenAI:
    kwargs = {"base_url": base_url} if base_url else {}
    return openai.OpenAI(api_key=API_KEY, admin_api_key=API_KEY, max_retries=0, timeout=20,
                         _strict_response_validation=strict, **kwargs)


@pytest.fixture(params=["base-url", "proxy"])
def contract_client(request, fake, use_profile, monkeypatch):
    """A strict SDK client on the base-URL face, or reaching https://api.openai.com through the proxy."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                 "NO_PROXY", "no_proxy", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "proxy":
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
    use_profile(contract_profile())
    base_url = fake.base_url if request.param == "base-url" else None
    with make_client(base_url) as client, make_client(base_url, strict=False) as lenient:
        client.lenient = lenient
        client.face = request.param
        yield client


@pytest.fixture
def base_url_client(fake, use_profile, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    use_profile(contract_profile())
    with make_client(fake.base_url) as client, make_client(fake.base_url, strict=False) as lenient:
        client.lenient = lenient
        yield client


# -- calling one row -----------------------------------------------------------------


def describe(e: BaseException) -> str:
    """What went wrong, in one line: the exception type and the first 200 characters of its message."""
    message = str(e)
    if isinstance(e, openai.APIStatusError):
        message = f"{e.status_code} {message}"
    if isinstance(e, openai.APIResponseValidationError) and e.__cause__ is not None:
        cause = e.__cause__
        errors = cause.errors() if hasattr(cause, "errors") else []
        message = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in errors[:3]) or str(cause)
    return f"{type(e).__name__}: {' '.join(message.split())[:200]}"


def generator_bug(e: BaseException) -> bool:
    """The call never reached the fake: the SDK refused the arguments (the generator's fault)."""
    return isinstance(e, (TypeError, ValueError, AttributeError, KeyError, Unusable)) \
        and not isinstance(e, openai.OpenAIError)


def call(calls: Calls, row: Row, optional: dict | None = None) -> Any:
    """Call row's SDK method with generated arguments; binary rows answer bytes, streams are read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if row.name in BEFORE:  # before the arguments: it may make the object the row is called on
            BEFORE[row.name](calls)
        args, kwargs = calls.arguments(row, optional={**OVERRIDES.get(row.name, {}), **(optional or {})})
        method = calls.method(row.name, calls.lenient if row.name in LENIENT else None)
        result = method(*args, **kwargs)
    if row.binary:
        data = result.read()
        assert isinstance(data, bytes), f"binary row answered {type(data).__name__}, not bytes"
        return data
    if isinstance(result, openai.Stream):
        with result:
            return list(result)
    return result


@dataclass
class Walk:
    calls: Calls
    failures: dict[str, str] = field(default_factory=dict)  # row name -> what went wrong

    def run(self, row: Row, optional: dict | None = None) -> Any:
        if row.name in CANNOT_CALL:
            return None
        try:
            result = call(self.calls, row, optional)
        except openai.NotFoundError as e:
            if row.name in SERVER_MADE and set(e.body or {}) >= {"message", "type", "param", "code"}:
                self.failures.pop(row.name, None)  # the real API's answer to an id nothing made
                return None
            self._failed(row, e)
            return None
        except Exception as e:  # noqa: BLE001 -- every failure is reported at the end
            self._failed(row, e)
            return None
        if row.name in SERVER_MADE:
            self.failures[row.name] = f"answered {type(result).__name__} for an id nothing made: expected a 404"
            return None
        self.failures.pop(row.name, None)
        if row.method == "POST":
            self.calls.remember(row, result)
        elif row.method == "GET" and row.page:
            self.calls.remember_listed(row, result)
        return result

    def _failed(self, row: Row, e: BaseException) -> None:
        note = ""
        if self.calls.made_up:  # ids no create had made (its create failed, or nothing creates them)
            note += f" [made-up ids: {', '.join(sorted(set(self.calls.made_up)))}]"
        if self.calls.borrowed:  # ids taken from another kind with the same placeholder
            note += f" [ids of another kind: {', '.join(sorted(set(self.calls.borrowed)))}]"
        self.failures[row.name] = ("GENERATOR " if generator_bug(e) else "") + describe(e) + note


def upload_file(calls: Calls) -> None:
    uploaded = calls.client.files.create(file=("contract.jsonl", b'{"prompt": "hi"}\n'), purpose="fine-tune")
    calls.file_id = uploaded.id


def report(walk: Walk, total: int, what: str) -> str:
    lines = [f"{total - len(walk.failures)} of {total} rows answered ({what})"]
    lines += [f"  {name}: {problem}" for name, problem in sorted(walk.failures.items())]
    return "\n".join(lines)


# -- the kinds of stored objects, and making them --------------------------------------


@dataclass
class Kind:
    """A stored resource kind: the item template and its rows."""

    item: str
    create: Row
    retrieve: Row | None
    list: Row | None
    update: Row | None
    delete: Row | None
    parent: str | None  # the item template of its parent kind


def kinds(calls: Calls) -> list[Kind]:
    by = {(r.method, r.path): r for r in ROWS}
    found = []
    for row in ROWS:
        item = calls.item_template(row)
        if item is None or row.binary:
            continue
        collection = row.path
        parent = collection[:collection.rindex("}") + 1] if "}" in collection else None
        found.append(Kind(item, row, by.get(("GET", item)), by.get(("GET", collection)), by.get(("POST", item)),
                          by.get(("DELETE", item)), parent))
    return found


class Maker:
    """Makes live objects of a kind, with what they need first: their parents, and the objects a
    create's body refers to (`role_id`, `group_id`: the role, the group)."""

    def __init__(self, walk: Walk) -> None:
        self.walk, self.calls = walk, walk.calls
        self.kinds = kinds(self.calls)
        self.by_item = {k.item: k for k in self.kinds}
        self.making: set[str] = set()
        self.problems: dict[str, str] = {}

    def nearest(self, placeholder: str, near: str) -> str | None:
        """The item template of a kind ending in `{placeholder}` most like `near`."""
        ending = [k.item for k in self.kinds if k.item.endswith("{" + placeholder + "}")]
        return max(ending, key=lambda t: shared_tail(t, near)) if ending else None

    def topmost(self, placeholder: str, besides: str) -> str | None:
        """The item template of the kind with fewest parents ending in `{placeholder}`: what a body's
        `role_id` names is a role (/v1/organization/roles/{role_id}), not a group's role."""
        ending = [k.item for k in self.kinds if k.item.endswith("{" + placeholder + "}") and k.item != besides]
        return min(ending, key=lambda t: (t.count("{"), len(t))) if ending else None

    def refers_to(self, row: Row) -> None:
        """Make an object for each required `*_id` of row's body that none made yet."""
        signature, _ = self.calls.signature(self.calls.method(row.name))
        for param in signature.parameters.values():
            if param.default is param.empty and "{" + param.name + "}" not in row.path and param.name.endswith("_id") \
                    and not self.calls.has_id(param.name):
                item = self.topmost(param.name, besides=self.calls.item_template(row) or "")
                if item:
                    self.ensure(item)

    def ensure(self, item: str, options: dict | None = None, fresh: bool = False) -> bool:
        """A live object at `item` (and its parents); False when one could not be made."""
        if (item in self.calls.ids and not fresh) or item in self.making:  # made, by the walk or here
            return True
        self.making.add(item)
        try:
            return self._make(item, options)
        finally:
            self.making.discard(item)

    def _make(self, item: str, options: dict | None) -> bool:
        kind = self.by_item.get(item)
        if kind is None:
            # a parent with no create at its path (/v1/projects/{project_id}/groups/{group_id}): each
            # of its ids from the kind nearest to it ending in that placeholder; else made-up ids
            for placeholder in PLACEHOLDER.findall(item):
                other = self.nearest(placeholder, item[:item.index(placeholder) + len(placeholder) + 1])
                if other and not self.ensure(other):
                    return False
            return True
        if kind.parent and not self.ensure(kind.parent):
            return False
        self.refers_to(kind.create)
        made = self.walk.run(kind.create, options)
        if made is None or kind.item not in self.calls.ids:
            self.problems.setdefault(kind.create.name, "create gave no id: " + self.walk.failures.get(kind.create.name, repr(made)))
            return False
        return True

    def forget(self, item: str) -> None:
        """`item` was deleted, and its children with it."""
        for other in list(self.calls.ids):
            if other.startswith(item):
                del self.calls.ids[other]


# -- every row answers ----------------------------------------------------------------


def test_every_sdk_method_answers(contract_client, fake):
    """Every row of the route table, in walk order, through the real SDK with strict validation."""
    calls = Calls(contract_client, ROWS)
    upload_file(calls)
    walk = Walk(calls)
    maker = Maker(walk)
    terminal_done: set[str] = set()
    for row in walk_order(ROWS):
        action = row.path.rsplit("/", 1)[-1]
        if row.method == "POST" and action in TERMINAL:
            item = row.path.rsplit("/", 1)[0]
            if item in maker.by_item and (item in terminal_done or row.name in FRESH):
                maker.ensure(item, FRESH.get(row.name), fresh=True)
            terminal_done.add(item)
        if calls.item_template(row):
            maker.refers_to(row)
        walk.run(row)
    callable_rows = len(ROWS) - len(CANNOT_CALL)
    print(report(walk, callable_rows, contract_client.face))
    assert {e.face for e in fake.journal.entries()} == {contract_client.face}, "every call went through the face under test"
    assert not walk.failures, report(walk, callable_rows, f"{len(walk.failures)} failed")


# -- stored resources behave as stored objects ----------------------------------------


def test_stored_resources_behave(base_url_client):
    """For every kind with a create: retrieve and list see it, update changes it, delete removes it
    (retrieve then 404), and children go with their parent (listing them then 404)."""
    calls = Calls(base_url_client, ROWS)
    upload_file(calls)
    walk = Walk(calls)
    maker = Maker(walk)
    problems = maker.problems
    checked: Counter[str] = Counter()

    def expect_404(what: str, row: Row) -> None:
        try:
            call(calls, row)
        except openai.NotFoundError:
            return
        except Exception as e:  # noqa: BLE001
            problems[what] = f"{row.name} after delete: {describe(e)}, not NotFoundError"
            return
        problems[what] = f"{row.name} after delete answered 200, not 404"

    def listed(page: Any, key: str) -> list:
        return [id_of(x, key) for x in getattr(page, "data", [])]

    for kind in sorted(maker.kinds, key=lambda k: -k.item.count("{")):  # deepest first
        name = kind.create.name.rsplit(".", 1)[0]
        if kind.create.name in SERVER_MADE:  # under an object no API call makes: nothing to create it under
            continue
        if not maker.ensure(kind.item):
            continue
        oid, key = calls.ids[kind.item], PLACEHOLDER.findall(kind.item)[-1]
        checked["created"] += 1
        if kind.retrieve:
            got = walk.run(kind.retrieve)
            if got is None:
                problems[f"{name}: retrieve"] = walk.failures.get(kind.retrieve.name, "?")
            elif id_of(got, key) not in (oid, None):
                problems[f"{name}: retrieve"] = f"created {oid}, retrieve answered {id_of(got, key)}"
            checked["retrieved"] += 1
        if kind.list:
            page = walk.run(kind.list)
            if page is None:
                problems[f"{name}: list"] = walk.failures.get(kind.list.name, "?")
            elif oid not in listed(page, key):
                problems[f"{name}: list"] = f"created {oid}, list does not show it"
            checked["listed"] += 1
        if kind.update:
            changeable = [p for p in CHANGES if p in _parameters(calls, kind.update)]
            if changeable:
                field_name = changeable[0]
                checked["updated"] += 1
                updated = walk.run(kind.update, {field_name: CHANGES[field_name]})
                again = walk.run(kind.retrieve) if kind.retrieve and updated is not None else updated
                for label, obj in (("update", updated), ("retrieve after update", again)):
                    if obj is None:
                        problems[f"{name}: {label}"] = walk.failures.get(kind.update.name, "?")
                        break
                    if _field(obj, field_name) != CHANGES[field_name]:
                        problems[f"{name}: {label}"] = f"{field_name} is {_field(obj, field_name)!r}, not {CHANGES[field_name]!r}"
        if kind.delete:
            made_kids = [k for k in maker.kinds if k.parent == kind.item and maker.ensure(k.item)]
            deleted = walk.run(kind.delete)
            if deleted is None and kind.delete.name in walk.failures:
                problems[f"{name}: delete"] = walk.failures[kind.delete.name]
                maker.forget(kind.item)
                continue
            if getattr(deleted, "deleted", True) is not True:
                problems[f"{name}: delete"] = f"answered deleted={deleted.deleted!r}"
            checked["deleted"] += 1
            if kind.retrieve:
                expect_404(f"{name}: retrieve after delete", kind.retrieve)
            elif kind.list:
                page = walk.run(kind.list)
                if page is not None and oid in listed(page, key):
                    problems[f"{name}: list after delete"] = f"still lists {oid}"
            for kid in made_kids:
                kid_name = kid.create.name.rsplit(".", 1)[0]
                checked["children gone with their parent"] += 1
                if kid.list:
                    expect_404(f"{kid_name}: list after parent deleted", kid.list)
                if kid.retrieve:
                    expect_404(f"{kid_name}: retrieve after parent deleted", kid.retrieve)
            maker.forget(kind.item)
    summary = f"{len(maker.kinds)} kinds: " + ", ".join(f"{n} {what}" for what, n in checked.items())
    print(summary)
    assert not problems, f"{summary}; {len(problems)} problems:\n" + "\n".join(
        f"  {what}: {problem}" for what, problem in sorted(problems.items()))


def _parameters(calls: Calls, row: Row) -> set[str]:
    import inspect
    return set(inspect.signature(calls.method(row.name)).parameters)


def _field(obj: Any, name: str) -> Any:
    value = getattr(obj, name, None)
    return dict(value) if isinstance(value, dict) else value


def test_walk_order_and_generator_cover_the_table():
    """Offline: every row is walked once, parents before children, and arguments can be made for each."""
    calls = Calls(make_client("http://127.0.0.1:9/v1"), ROWS)
    calls.file_id = "file-contract"
    order = walk_order(ROWS)
    creatable = {calls.item_template(r) for r in ROWS} - {None}
    seen_creates: set[str] = set()
    for row in order:
        for placeholder in PLACEHOLDER.findall(row.path):
            template = row.path[:row.path.index("{" + placeholder + "}") + len(placeholder) + 2]
            assert template not in creatable or template in seen_creates, f"{row.name} is walked before the create of {template}"
        if calls.item_template(row):
            seen_creates.add(calls.item_template(row))
    unbuildable = {}
    for row in ROWS:
        if row.name in CANNOT_CALL:
            continue
        try:
            given = {k: v for k, v in OVERRIDES.get(row.name, {}).items() if not callable(v)}
            calls.arguments(row, optional=given)
        except Exception as e:  # noqa: BLE001
            unbuildable[row.name] = describe(e)
    assert not unbuildable, unbuildable
    assert set(CANNOT_CALL) <= {r.name for r in ROWS}, "CANNOT_CALL names a row the table does not have"
    assert set(OVERRIDES) <= {r.name for r in ROWS}, "OVERRIDES names a row the table does not have"
    assert {c for c in children(["/v1/a/b", "/v1/a/c/d"], "/v1/a")} == {"/v1/a/b", "/v1/a/c"}
