"""The pytest plugin: one fake per test process, and an `openai_fake` fixture per test.

    def test_hello(openai_fake):
        openai_fake.chat.completions(choices=[{"message": {"content": "Hi"}}], failures=2)
        reply = OpenAI().chat.completions.create(model="gpt-4o", messages=[...])  # unchanged client code
        assert reply.choices[0].message.content == "Hi"
        assert openai_fake.chat.completions.create.route.calls.call_count == 3

    @pytest.mark.openai_fake(profile="flaky")       # a shipped name, a file or a module
    def test_retries(openai_fake): ...

The fake is a real proxy (`Runner`) started once per process, the first time a
test asks for it: mitmproxy allows one master per process, so under
pytest-xdist each worker has its own. For each test the fixture gives the fake
a clean state and a fresh profile, and points this process's environment at it
(`HTTPS_PROXY`, `SSL_CERT_DIR`, ...), so every OpenAI client created during
the test, and every subprocess it starts, is answered by the fake whatever HTTP
stack it uses. Registered through the `pytest11` entry point `openai_fake`.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pytest

if TYPE_CHECKING:
    from .journal import Entry
    from .profile import Profile
    from .runner import Runner

__all__ = ["FakeOpenAI", "Calls", "RouteRef", "FakeState"]

#: Variables that would send a client somewhere other than api.openai.com through the proxy
#: (`OPENAI_API_BASE` and `OPENAI_PROXY` are langchain-openai's).
_STEERING = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_PROXY")
DUMMY_KEY = "sk-openai-fake-dummy-key"
_MARK_KNOBS = ("latency", "require_api_key", "stream")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "openai_fake(profile=None, *, base_url=False, latency=..., require_api_key=..., stream=...): "
        "the profile the openai_fake fixture starts from (a shipped name, a file, a module or a Profile), "
        "or knobs for a fresh Profile; base_url=True also sets OPENAI_BASE_URL to the fake's plain-HTTP face",
    )
    config.addinivalue_line("markers", "openai_mock: openai-responses' OpenAI API mocker object (openai_fake.compat)")


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openai_fake_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterable["Runner"]:
    """The fake of this test process: one `Runner` on a free loopback port, with its own conf directory.

    Under pytest-xdist every worker is a process of its own, with its own runner.
    """
    from . import process
    from .profile import Profile
    from .runner import Runner

    # Not warmed: in a test process the SDK types are imported by the tests that need them, where warming them
    # all in a thread would hold the GIL for about a second that the tests need.
    shared = process.running()  # one started outside a fixture earlier in this process: the one to use
    if shared is not None:
        yield shared
        return
    runner = Runner(Profile(), host="127.0.0.1", port=0, confdir=tmp_path_factory.mktemp("openai-fake"), warm=False)
    runner.start()
    process.adopt(runner)
    yield runner
    process.forget(runner)
    runner.stop()


@pytest.fixture
def openai_fake(openai_fake_runner: "Runner", request: pytest.FixtureRequest,
                monkeypatch: pytest.MonkeyPatch) -> Iterable["FakeOpenAI"]:
    """The fake for one test: a clean state, its own profile, and this process's environment pointed at it."""
    from .profile import ProfileError

    runner = openai_fake_runner
    try:
        profile, base_url = _marked_profile(request)
    except (TypeError, ValueError, ProfileError) as e:
        bad = str(e) if str(e).startswith("@pytest.mark") else f"@pytest.mark.openai_fake: {e}"
    else:
        bad = None
    if bad:  # a bad marker: one line, not a traceback into the plugin
        pytest.fail(bad, pytrace=False)
    from . import process

    process.release_strays()  # an openai-responses `OpenAIMock` left answering outside a fixture gives the fake back
    original = runner.engine.profile
    _settle(runner)  # a stream left over from an earlier test is recorded before the journal is cleared
    runner.engine.use(profile)  # resets state and counts, then stores the profile's preloads
    runner.journal.clear()

    for name in _STEERING:
        monkeypatch.delenv(name, raising=False)
    # Trust through SSL_CERT_DIR: a client's SSL context is then ready at once, where the bundle file
    # is parsed whole for each (tens of ms per OpenAI(); see runner.client_env). httpx2 and httpx
    # read SSL_CERT_FILE first, so an inherited one goes.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    env = runner.env(base_url=base_url, inherited=os.environ, trust_dir=True)
    if not os.environ.get("OPENAI_API_KEY"):
        env["OPENAI_API_KEY"] = DUMMY_KEY
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    yield FakeOpenAI(runner, profile, env)
    _settle(runner)
    runner.engine.use(original)


@pytest.fixture
def openai_mock(openai_fake: "FakeOpenAI") -> Iterable[Any]:
    """openai-responses' `openai_mock`, on this test's fake (`openai_fake.compat.OpenAIMock`):
    `openai_mock.chat.completions.create.response = {...}`, `.route.call_count`, `openai_mock.state`."""
    from openai_fake.compat import OpenAIMock

    mock = OpenAIMock._on(openai_fake)
    yield mock
    mock._release()


def _marked_profile(request: pytest.FixtureRequest) -> tuple["Profile", bool]:
    """The Profile the test's `openai_fake` marker asks for (a fresh empty one without a marker)."""
    from .profile import Profile, load

    mark = request.node.get_closest_marker("openai_fake")
    if mark is None:
        return Profile(), False
    kwargs = dict(mark.kwargs)
    if len(mark.args) > 1 or (mark.args and "profile" in kwargs):
        raise TypeError("@pytest.mark.openai_fake takes one profile: openai_fake('flaky') or openai_fake(profile='flaky')")
    spec = mark.args[0] if mark.args else kwargs.pop("profile", None)
    base_url = kwargs.pop("base_url", False)
    unknown = set(kwargs) - set(_MARK_KNOBS)
    if unknown:
        raise TypeError(f"@pytest.mark.openai_fake got unknown arguments {sorted(unknown)}; it takes "
                        f"profile, base_url, {', '.join(_MARK_KNOBS)}")
    if spec is None:
        return Profile(**kwargs), base_url
    if kwargs:
        raise TypeError(f"@pytest.mark.openai_fake: give a profile or Profile knobs ({', '.join(kwargs)}), not both")
    if isinstance(spec, Profile):  # a copy: rules a test adds stay with that test, as with a loaded file
        return copy.deepcopy(spec), base_url
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise TypeError(f"@pytest.mark.openai_fake(profile=...) takes a name, a path or a Profile, not {type(spec).__name__}")
    return load(_find_file(spec, request)), base_url


def _find_file(spec: str, request: pytest.FixtureRequest) -> str:
    """A relative profile path is tried from the working directory, the rootdir, then the test's folder."""
    if not (spec.endswith(".py") or "/" in spec) or Path(spec).is_absolute() or Path(spec).exists():
        return spec
    for base in (request.config.rootpath, Path(request.node.path).parent):
        if (base / spec).is_file():
            return str(base / spec)
    return spec  # load() names it in its error


def _settle(runner: "Runner", timeout: float = 5.0) -> None:
    """Wait until no stream is being written: a stream's call is recorded when it ends."""
    deadline = time.monotonic() + timeout
    while runner.relay is not None and runner.relay.active and time.monotonic() < deadline:
        time.sleep(0.005)


# -- what a test holds -------------------------------------------------------------------------


class FakeOpenAI:
    """The fake as one test sees it (the `openai_fake` fixture).

    Rules, with the profile API: `openai_fake.chat.completions(choices=[...], failures=2)`,
    `@openai_fake.embeddings` on a handler, `openai_fake.beta.threads.runs(sequence={...})`.
    Calls: `openai_fake.calls`, `openai_fake.calls_to("chat.completions")`,
    `openai_fake.call_count("beta.assistants.retrieve")`, and the seed's spelling
    `openai_fake.beta.assistants.retrieve.route.calls.call_count`.
    State: `openai_fake.state.put("assistants", {...})`, `openai_fake.state.get(...)`.
    """

    def __init__(self, runner: "Runner", profile: "Profile", env: dict[str, str]) -> None:
        #: The session's `Runner` (engine, journal, relay, confdir).
        self.runner = runner
        #: This test's profile: the marker's, or a fresh `Profile()`. Rules set here change it.
        self.profile = profile
        #: The variables set in `os.environ` for this test; pass them to a child started with its own `env=`.
        self.env = dict(env)

    # -- where clients go --------------------------------------------------------------------

    @property
    def proxy_url(self) -> str:
        """`http://127.0.0.1:PORT`: the proxy (`HTTPS_PROXY`)."""
        return self.runner.proxy_url

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`: the plain-HTTP face, for clients that ignore proxies."""
        return self.runner.base_url

    @property
    def port(self) -> int:
        return self.runner.address[1]

    @property
    def control_token(self) -> str:
        """The token the control endpoints (`/_fake/...`) want, as `Authorization: Bearer TOKEN`."""
        return self.runner.control_token

    @property
    def control_headers(self) -> dict[str, str]:
        """The headers that authorize a control request: `requests.get(url, headers=openai_fake.control_headers)`."""
        return {"authorization": f"Bearer {self.runner.control_token}"}

    # -- rules -------------------------------------------------------------------------------

    def __getattr__(self, attr: str) -> "RouteRef":
        if attr.startswith("_"):
            raise AttributeError(attr)
        return RouteRef(self, attr)

    def configure(self, rule: str, **knobs: Any) -> Any:
        """Set knobs on a rule by name: `openai_fake.configure("chat.completions", failures=2)`."""
        return self.profile.configure(rule, **knobs)

    @property
    def state(self) -> "FakeState":
        """The fake's live state: what clients created, and `put` to add objects now."""
        return FakeState(self)

    def reset(self) -> None:
        """Forget state, counts and calls, as at the start of the test (the profile's preloads come back)."""
        _settle(self.runner)
        self.runner.engine.reset()
        self.runner.journal.clear()

    # -- calls -------------------------------------------------------------------------------

    @property
    def calls(self) -> "Calls":
        """Every call the fake answered during this test, oldest first (`proxy_addon.journal.Entry`s).

        A streamed call is recorded when its stream ends: this waits (up to 5 s)
        until no stream is being written, so a test that has just read a stream sees it.
        """
        _settle(self.runner)
        return Calls(e for e in self.runner.journal.entries() if e.kind == "call")

    def calls_to(self, name: str) -> "Calls":
        """The calls to a rule (`"chat.completions"`), an SDK method (`"chat.completions.create"`) or a group (`"beta"`)."""
        return self.calls.filter(name)

    def call_count(self, name: str | None = None) -> int:
        """How many calls reached `name` (see `calls_to`), or the fake at all."""
        return len(self.calls if name is None else self.calls_to(name))

    def __repr__(self) -> str:
        where = self.proxy_url if self.runner.address else "not listening"
        return f"<openai_fake {where} profile={self.profile.name!r} rules={sorted(self.profile.rules)}>"


class Calls(list):
    """A list of calls (`proxy_addon.journal.Entry`: `.method`, `.path`, `.status`, `.rule`,
    `.model`, `.body`, `.request_json`, ...), oldest first, with RESPX's names for counting."""

    @property
    def call_count(self) -> int:
        return len(self)

    @property
    def called(self) -> bool:
        return bool(self)

    @property
    def last(self) -> "Entry":
        """The latest call; IndexError when there is none."""
        if not self:
            raise IndexError("no calls")
        return self[-1]

    def filter(self, route: str | None = None, *, method: str | None = None, path: str | None = None,
               status: int | str | None = None, model: str | None = None,
               where: Callable[["Entry"], bool] | None = None) -> "Calls":
        """The calls that match every criterion given.

        route: a rule (`"chat.completions"`, `"beta.threads"`: the calls its profile rule governs),
            an SDK method (`"chat.completions.create"`) or a group of them (`"beta"`, `"chat"`).
        method: `"POST"`. path: `"/v1/threads/*/runs"` (fnmatch; the query is ignored).
        status: `429`, or a class such as `"4xx"`. model: `"gpt-4o"`. where: any predicate.
        """
        if route is not None:
            _check_name(route)
        if isinstance(status, str) and not (len(status) == 3 and status[0] in "12345" and status[1:].lower() == "xx"):
            raise ValueError(f"status must be an int or a class such as '4xx', not {status!r}")

        def keep(e: "Entry") -> bool:
            if route is not None and not _covers(route, e):
                return False
            if method is not None and e.method.upper() != method.upper():
                return False
            if path is not None and not fnmatch.fnmatchcase(e.path.split("?", 1)[0], path):
                return False
            if isinstance(status, int) and e.status != status:
                return False
            if isinstance(status, str) and str(e.status)[0] != status[0]:
                return False
            if model is not None and e.model != model:
                return False
            return where is None or bool(where(e))

        return Calls(e for e in self if keep(e))


class RouteRef:
    """`openai_fake.chat.completions`: a rule, an SDK method under it (`.create`), or a group (`.beta`).

    Call a rule to set its knobs, or decorate a handler with it. Every name has
    `.calls` and `.call_count`; `.route` is the name itself, for the seed's
    spelling `openai_fake.chat.completions.create.route.calls.call_count`.
    """

    def __init__(self, fake: FakeOpenAI, name: str) -> None:
        _check_name(name)
        object.__setattr__(self, "_fake", fake)
        object.__setattr__(self, "_name", name)

    def __setattr__(self, attr: str, value: Any) -> None:
        # Loud, never a silent no-op: `openai_fake.chat.completions.create.response = {...}` is
        # openai-responses' spelling, which this fixture does not take.
        hint = (f"; that is openai-responses' spelling: use the openai_mock fixture (openai_fake.compat), "
                f"or give the route a handler, @openai_fake.{self._name}" if attr == "response" else "")
        raise AttributeError(f"openai_fake.{self._name}.{attr} cannot be set{hint}")

    def __getattr__(self, attr: str) -> "RouteRef":
        if attr.startswith("_"):
            raise AttributeError(attr)
        return RouteRef(self._fake, f"{self._name}.{attr}")

    def __call__(self, handler: Callable | None = None, /, **knobs: Any) -> Any:
        """Set knobs on this rule (`failures=2`, `choices=[...]`), or, as a decorator, give it a handler."""
        from .engine.routes import ROUTE_RULES, RULES

        if self._name not in RULES and self._name not in ROUTE_RULES:
            rule = next((r for r in sorted(RULES, key=len, reverse=True) if self._name.startswith(r + ".")), None)
            hint = f"; set knobs on its rule: openai_fake.{rule}(...)" if rule else ""
            raise TypeError(f"{self._name!r} is not a profile rule{hint}. Rules: {', '.join(sorted(RULES))}")
        if handler is not None:
            if knobs or not callable(handler):
                raise TypeError(f"openai_fake.{self._name}(...) takes keyword knobs, or one function as a decorator")
            self._fake.profile.configure(self._name, handler=handler)
            return handler
        return self._fake.profile.configure(self._name, **knobs)

    @property
    def route(self) -> "RouteRef":
        return self

    @property
    def calls(self) -> Calls:
        return self._fake.calls_to(self._name)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def __repr__(self) -> str:
        return f"<openai_fake.{self._name}>"


class FakeState:
    """`openai_fake.state`: the fake's live state store.

    `put(collection, obj)` stores an assistant, a thread (with `messages`) or a
    file now, and again whenever the test resets the fake; `obj` is a dict or an
    SDK model (`openai.types.beta.Assistant(...)`). The seed's spelling works too:
    `openai_fake.state.beta.assistants.put(asst)`. Everything else (`get`, `all`,
    `call_count`, `counts`, `data`, `snapshot`) is the engine's `State`.
    """

    _SEED_NAMES = {"beta": {"assistants": "assistants", "threads": "threads"}, "files": "files"}

    def __init__(self, fake: FakeOpenAI) -> None:
        self._fake = fake

    def put(self, collection: str, obj: Any) -> dict:
        from .engine.routes import PRELOADERS

        if hasattr(obj, "model_dump"):  # an SDK model: the fields the test set
            obj = obj.model_dump(mode="json", exclude_unset=True)
        stored = self._fake.profile.state.put(collection, obj)  # checks it, and keeps it for a reset
        PRELOADERS[collection](self._fake.runner.engine.state, dict(stored))
        return stored

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        seed = self._SEED_NAMES.get(attr)
        if isinstance(seed, str):
            return _Collection(self, seed)
        if isinstance(seed, dict):
            return _Group(self, seed)
        return getattr(self._fake.runner.engine.state, attr)


class _Group:
    def __init__(self, state: FakeState, names: dict[str, str]) -> None:
        self._state, self._names = state, names

    def __getattr__(self, attr: str) -> "_Collection":
        if attr not in self._names:
            raise AttributeError(f"the state stores {', '.join(self._names)} here, not {attr!r}")
        return _Collection(self._state, self._names[attr])


class _Collection:
    """`openai_fake.state.beta.assistants`: the seed's per-resource store."""

    def __init__(self, state: FakeState, name: str) -> None:
        self._state, self._name = state, name

    def put(self, obj: Any) -> dict:
        return self._state.put(self._name, obj)

    def get(self, oid: str) -> dict | None:
        return self._state.get(self._name, oid)

    def all(self) -> list[dict]:
        return self._state.all(self._name)


# -- names ---------------------------------------------------------------------------------


@functools.cache
def _names() -> frozenset[str]:
    """Every rule and SDK method name, and every group above them (`beta`, `beta.threads`)."""
    from .engine.routes import ROUTE_RULES, RULES

    names: set[str] = set()
    for full in [*RULES, *ROUTE_RULES]:
        parts = full.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(names)


def _check_name(name: str) -> None:
    if name not in _names():
        from .profile import unknown_name

        raise AttributeError(unknown_name(name))


@functools.lru_cache(maxsize=4096)
def _route_name(method: str, path: str) -> str | None:
    """The SDK method a call went to (`"beta.threads.runs.create"`), or None for an unknown path."""
    from .engine.errors import OpenAIError
    from .engine.routes import match

    try:
        return match(method, path.split("?", 1)[0])[0].name
    except OpenAIError:
        return None


def _covers(name: str, entry: "Entry") -> bool:
    """Whether a call belongs to a rule, an SDK method, or a group of them."""
    from .engine.routes import CANONICAL, RULES

    if name in RULES:
        return entry.rule == name
    name = CANONICAL.get(name, name)  # `beta.chat.completions.create` counts `chat.completions.create`'s calls
    method = _route_name(entry.method, entry.path) or ""
    return method == name or method.startswith(name + ".") or (entry.rule or "").startswith(name + ".")
