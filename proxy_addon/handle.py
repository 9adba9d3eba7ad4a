"""The fake as a test or a script holds it: `FakeOpenAI` (the `openai_fake` fixture, `openai_fake.running(...)`),
its calls (`Calls`), rules (`RouteRef`) and state (`FakeState`). No pytest here: a script uses them too.

`current()` is the innermost fake in use in this process (a `running(...)` block, or the fixture during its
test), which `openai_fake.transport()` answers from when given none.
"""

from __future__ import annotations

import fnmatch
import functools
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .journal import Entry
    from .profile import Profile
    from .runner import Runner

__all__ = ["FakeOpenAI", "Calls", "RouteRef", "HostRef", "FakeState", "current"]

#: Variables that would send a client somewhere other than api.openai.com through the proxy
#: (`OPENAI_API_BASE` and `OPENAI_PROXY` are langchain-openai's): removed while a fake is in use.
STEERING = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_PROXY")
#: The API key set while a fake is in use, when the environment has none (the SDK refuses to start without one).
DUMMY_KEY = "sk-openai-fake-dummy-key"

_lock = threading.Lock()
_current: list["FakeOpenAI"] = []


def current() -> "FakeOpenAI | None":
    """The innermost fake in use here: a `running(...)` block's, or the `openai_fake` fixture's during its test."""
    with _lock:
        return _current[-1] if _current else None


def push(fake: "FakeOpenAI") -> None:
    """Make `fake` the current one (until `pop(fake)`)."""
    with _lock:
        _current.append(fake)


def pop(fake: "FakeOpenAI") -> None:
    with _lock:
        for i in range(len(_current) - 1, -1, -1):
            if _current[i] is fake:
                del _current[i]
                return


def _settle(runner: "Runner", timeout: float = 5.0) -> None:
    """Wait until no stream is being written (nor socket open): a stream's call is recorded when it ends."""
    deadline = time.monotonic() + timeout
    while runner.streams_active and time.monotonic() < deadline:
        time.sleep(0.005)


# -- what a test holds -------------------------------------------------------------------------


class FakeOpenAI:
    """The fake as one test sees it (the `openai_fake` fixture), or a script (`with openai_fake.running() as fake`).

    Rules, with the profile API: `openai_fake.chat.completions(choices=[...], failures=2)`,
    `@openai_fake.embeddings` on a handler, `openai_fake.beta.threads.runs(sequence={...})`.
    Calls: `openai_fake.calls`, `openai_fake.calls_to("chat.completions")`,
    `openai_fake.call_count("beta.assistants.retrieve")`, and the seed's spelling
    `openai_fake.beta.assistants.retrieve.route.calls.call_count`.
    State: `openai_fake.state.put("assistants", {...})`, `openai_fake.state.get(...)`.

    In process (`in_process=True`), nothing listens until something asks where the fake listens
    (`proxy_url`, `base_url`, `port`, `serve()`): then the proxy starts, on the same engine.
    """

    def __init__(self, runner: "Runner", profile: "Profile", env: dict[str, str], *, in_process: bool = False) -> None:
        #: The session's `Runner` (engine, journal, relay, confdir).
        self.runner = runner
        #: This test's profile: the marker's, or a fresh `Profile()`. Rules set here change it.
        self.profile = profile
        #: The variables set in `os.environ` for this test; pass them to a child started with its own `env=`.
        self.env = dict(env)
        #: Whether this process's OpenAI clients are answered in process (`openai_fake.transport`), not by the proxy.
        self.in_process = in_process

    # -- where clients go --------------------------------------------------------------------

    def serve(self) -> dict[str, str]:
        """Start the proxy if it is not listening yet (in process, nothing does until asked), and return the
        environment that points a client at it (not set in `os.environ`: give a child `env={**os.environ, **env}`;
        it trusts the fake through `SSL_CERT_FILE`, which overrides an inherited one)."""
        import os

        runner = self.runner
        if runner.address is None:
            runner.start()
        return runner.env(inherited=os.environ)

    def _listening(self) -> "Runner":
        if self.runner.address is None:
            self.serve()
        return self.runner

    @property
    def proxy_url(self) -> str:
        """`http://127.0.0.1:PORT`: the proxy (`HTTPS_PROXY`)."""
        return self._listening().proxy_url

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`: the plain-HTTP face, for clients that ignore proxies."""
        return self._listening().base_url

    @property
    def port(self) -> int:
        return self._listening().address[1]

    def transport(self, *, library: Any = None):
        """An httpx transport answering from this fake in process (`openai_fake.transport`)."""
        from .inprocess import transport

        return transport(self, library=library)

    def http_client(self, **kwargs: Any):
        """An HTTP client for `OpenAI(http_client=...)` answering from this fake in process."""
        from .inprocess import http_client

        return http_client(self, **kwargs)

    def async_http_client(self, **kwargs: Any):
        """The same for `AsyncOpenAI(http_client=...)`."""
        from .inprocess import async_http_client

        return async_http_client(self, **kwargs)

    @property
    def control_token(self) -> str:
        """The token the control endpoints (`/_fake/...`) want, as `Authorization: Bearer TOKEN`."""
        return self.runner.control_token

    @property
    def control_headers(self) -> dict[str, str]:
        """The headers that authorize a control request: `requests.get(url, headers=openai_fake.control_headers)`."""
        return {"authorization": f"Bearer {self.runner.control_token}"}

    @property
    def azure_endpoint(self) -> str:
        """`http://127.0.0.1:PORT`: the base-URL face as an Azure endpoint, for
        `AzureOpenAI(azure_endpoint=openai_fake.azure_endpoint, ...)` (which adds `/openai/...`)."""
        return self.runner.azure_endpoint

    # -- rules -------------------------------------------------------------------------------

    def __getattr__(self, attr: str) -> "RouteRef":
        if attr.startswith("_"):
            raise AttributeError(attr)
        return RouteRef(self, attr)

    def host(self, name: str) -> "HostRef":
        """Another host this test's fake answers through the proxy (`profile.host`): its routes
        (`.get(path, answer=...)`, `.post(...)`, `@.route(method, path)`, or the host itself as a decorator)
        and the calls it answered (`.calls`, `.call_count`)."""
        return HostRef(self, self.profile.host(name))

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
        """Every call the fake answered during this test, oldest first (`openai_fake.Entry`s).

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
        where = self.runner.proxy_url if self.runner.address else "in process" if self.in_process else "not listening"
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
               status: int | str | None = None, model: str | None = None, host: str | None = None,
               where: Callable[["Entry"], bool] | None = None) -> "Calls":
        """The calls that match every criterion given.

        route: a rule (`"chat.completions"`, `"beta.threads"`: the calls its profile rule governs),
            an SDK method (`"chat.completions.create"`) or a group of them (`"beta"`, `"chat"`).
        method: `"POST"`. path: `"/v1/threads/*/runs"` (fnmatch; the query is ignored).
        status: `429`, or a class such as `"4xx"`. model: `"gpt-4o"`. host: `"api.myweatherapi.com"`
        (fnmatch: `"*.openai.azure.com"`). where: any predicate.
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
            if host is not None and not fnmatch.fnmatchcase(e.host.lower(), host.lower()):
                return False
            return where is None or bool(where(e))

        return Calls(e for e in self if keep(e))


class Counted:
    """respx's names for counting, from a `calls` property: `call_count`, `called`."""

    calls: "Calls"

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def called(self) -> bool:
        return bool(self.calls)


class HostRef(Counted):
    """`openai_fake.host("api.example.com")`: the profile's `Host` (`engine/hosts.py`), with its calls."""

    def __init__(self, fake: FakeOpenAI, host: Any) -> None:
        self._fake = fake
        #: The profile's `Host`: routes registered here are the profile's.
        self.host = host

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.host, attr)

    def __call__(self, handler: Callable) -> Callable:
        """As a decorator: `handler` answers every method and path of this host."""
        return self.host(handler)

    @property
    def calls(self) -> Calls:
        """The calls this host answered during the test, oldest first."""
        return self._fake.calls.filter(host=self.host.name)  # `*.example.com` is an fnmatch pattern too

    def __repr__(self) -> str:
        return f"<openai_fake.host({self.host.name!r})>"


class RouteRef(Counted):
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


def _covers(name: str, entry: "Entry") -> bool:
    """Whether a call belongs to a rule, an SDK method, or a group of them."""
    from .engine.routes import CANONICAL, RULES, route_name

    if name in RULES:
        return entry.rule == name
    name = CANONICAL.get(name, name)  # `beta.chat.completions.create` counts `chat.completions.create`'s calls
    method = route_name(entry.method, entry.path, entry.host) or ""
    return method == name or method.startswith(name + ".") or (entry.rule or "").startswith(name + ".")


def as_profile(spec: Any) -> "Profile":
    """The Profile `spec` names: None gives a fresh `Profile()`, a Profile a copy of it (so that rules a test
    or a block adds stay with it), a shipped name, a file or a dotted module is loaded."""
    import copy
    import os

    from .profile import Profile, load

    if spec is None:
        return Profile()
    if isinstance(spec, Profile):
        return copy.deepcopy(spec)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise TypeError(f"a profile is a name, a path or a Profile, not {type(spec).__name__}")
    return load(spec)
