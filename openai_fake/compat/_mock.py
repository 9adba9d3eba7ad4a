"""`OpenAIMock` and `mock()`: openai-responses' surface on the fake.

An `OpenAIMock` is a profile (`proxy_addon.profile.Profile`, with openai-responses' defaults, see
`SEED_DEFAULTS`) and a state (`StateStore`), answered by the process's one fake: the test's own with
the `openai_mock` fixture (or `@mock()`), else the process's fake while `with openai_mock.router:`
lasts. Setting `openai_mock.<SDK method>.response` gives that route a profile handler which the
engine calls before the route's own work (`handler_first`); for runs, whose handler answers are the
model's turn, a partial run is the route's `sequence` entry instead (stored, as the seed stored it).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator

from proxy_addon.handle import Counted

from . import _answers
from .stores import StateStore

if TYPE_CHECKING:
    from proxy_addon.journal import Entry
    from proxy_addon.profile import Profile
    from proxy_addon.runner import Runner

__all__ = ["OpenAIMock", "mock", "Route", "Call", "CallList", "Router", "SEED_DEFAULTS"]

#: openai-responses' defaults where its tests depend on them, laid on the mock's profile (knobs the
#: profile already sets win): moderations as that library answered them, and vector-store files and
#: batches done at once, a batch cancellable to `cancelled`. The native fixture keeps the fake's own.
SEED_DEFAULTS: dict[str, dict[str, Any]] = {
    "moderations": {"model": "text-moderation-007", "per_input": False, "unflagged_score": 0.0,
                    "applied_input_types": []},
    "vector_stores": {"processing_reads": 0, "batch_cancel": "immediate"},
}

#: Runs: a partial run (a dict or a model) is the route's `sequence` entry for this operation.
_RUN_SEQUENCE = {
    "beta.threads.runs.create": "create", "beta.threads.create_and_run": "create",
    "beta.threads.runs.retrieve": "retrieve", "beta.threads.runs.update": "update",
    "beta.threads.runs.cancel": "cancel", "beta.threads.runs.submit_tool_outputs": "submit_tool_outputs",
}

_local = threading.local()  # `answering`: a `.response` function is running (in the proxy's thread)


def seed_profile(profile: "Profile | None" = None) -> "Profile":
    """`profile` (a fresh one by default) with `SEED_DEFAULTS` laid on it where it sets nothing itself."""
    from proxy_addon.profile import Profile

    profile = profile if profile is not None else Profile()
    for rule, knobs in SEED_DEFAULTS.items():
        given = profile.rules[rule].given if rule in profile.rules else set()
        missing = {k: v for k, v in knobs.items() if k not in given}
        if missing:
            profile.configure(rule, **missing)
    return profile


def _canonical(name: str) -> str:
    from proxy_addon.engine.routes import CANONICAL

    return CANONICAL.get(name, name)


def _fixture_side() -> Any:
    """Where the fixture's objects live (`Calls`, `_settle`, `_check_name`): `proxy_addon.handle` where the
    release has it (no pytest there), else the pytest plugin."""
    try:
        from proxy_addon import handle
    except ImportError:
        from proxy_addon import pytest_plugin as handle
    return handle


def _check(name: str) -> None:
    _fixture_side()._check_name(name)  # AttributeError: unknown route name 'chat.completion'; did you mean ...?


class OpenAIMock:
    """openai-responses' mock: `openai_mock.<SDK method path>.response = ...`, `.route.call_count`,
    `openai_mock.state`, `openai_mock.router`.

    base_url: where the client under test sends its calls (`https://x.openai.azure.com`): checked to
        be a host the fake answers. state: the `StateStore` to answer from (a fresh one by default).
    """

    def __init__(self, base_url: str | None = None, state: StateStore | None = None) -> None:
        self._profile = seed_profile()
        self._state = state if state is not None else StateStore()
        self._responses: dict[str, Any] = {}
        self._runner: "Runner | None" = None
        self._held: tuple | None = None  # what binding replaced: (state, profile, env) to give back
        self._depth = 0
        self._fixture = False
        self._base_url = None
        self.router = Router(self)
        if base_url is not None:
            self._use_base_url(base_url)

    @classmethod
    def _on(cls, fake: Any) -> "OpenAIMock":
        """The mock of one test's `openai_fake` fixture: its profile and its state, already in use."""
        mock = cls.__new__(cls)
        mock._profile = seed_profile(fake.profile)
        mock._runner = fake.runner
        mock._state = StateStore._of(fake.runner.engine.state)
        mock._responses = {}
        mock._held = (fake.runner.engine.state, None, None)
        mock._depth = 1
        mock._fixture = True
        mock._base_url = None
        mock.router = Router(mock)
        return mock

    # -- the seed's names --------------------------------------------------------------

    def __getattr__(self, attr: str) -> "_Node":
        if attr.startswith("_"):
            raise AttributeError(attr)
        _check(attr)
        return _Node(self, attr)

    @property
    def state(self) -> StateStore:
        """The state the fake answers from (a `StateStore`); assign one to answer from it instead."""
        return self._state

    @state.setter
    def state(self, value: StateStore) -> None:
        if not isinstance(value, StateStore):
            raise TypeError(f"openai_mock.state takes a StateStore (openai_fake.compat.stores), not {type(value).__name__}")
        self._state = value
        if self._runner is not None:
            with self._runner.engine.state.lock:
                self._runner.engine.state = value._state
            value._state.clear_counts()  # this test's counts (and `failures=`) start from zero

    @property
    def profile(self) -> "Profile":
        """The profile this mock answers with (the test's own, under the fixture): knobs work as everywhere."""
        return self._profile

    # -- routes ------------------------------------------------------------------------

    def _set_response(self, name: str, value: Any) -> None:
        from proxy_addon.engine.routes import ROUTE_RULES

        if name not in ROUTE_RULES:
            under = sorted(n for n in ROUTE_RULES if n.startswith(name + ".") and n.count(".") == name.count(".") + 1)
            hint = f"; set it on one of its methods: {', '.join(under)}" if under else ""
            raise AttributeError(f"openai_mock.{name} is a group of routes, not an SDK method: it has no .response{hint}")
        route = _canonical(name)
        if not (value is None or isinstance(value, (dict, list, tuple)) or _answers.is_response(value)
                or hasattr(value, "model_dump") or callable(value)):
            raise TypeError(f"openai_mock.{name}.response takes a partial dict, an SDK model, an httpx2/httpx Response, "
                            f"a list of stream events or a function returning a Response; not {type(value).__name__}")
        if isinstance(value, (list, tuple)) and route not in _answers.STREAMING:
            raise TypeError(f"openai_mock.{name}.response: a list is a stream's events, and {route} does not stream")
        self._responses[route] = value
        sequence = _RUN_SEQUENCE.get(route)
        partial = isinstance(value, dict) or (hasattr(value, "model_dump") and not _answers.is_response(value))
        if sequence is not None and partial:
            data = value if isinstance(value, dict) else value.model_dump(mode="json", exclude_unset=True)
            self._profile.configure(route, sequence={sequence: [data]}, handler=None, handler_first=False)
            return
        handler = None if value is None else self._handler(route)
        knobs: dict[str, Any] = {"handler": handler, "handler_first": handler is not None}
        if sequence is not None:
            knobs["sequence"] = None
        self._profile.configure(route, **knobs)

    def _handler(self, route: str) -> Callable:
        def answer(request: Any, state: Any) -> Any:
            value = self._responses.get(route)
            if callable(value) and not _answers.is_response(value) and not hasattr(value, "model_dump"):
                _local.answering = True
                try:
                    value = _answers.call_function(value, request, Route(self, route), StateStore._of(state))
                finally:
                    _local.answering = False
            return self._answer(route, value)

        answer.__name__ = f"openai_mock.{route}.response"
        return answer

    def _answer(self, route: str, value: Any) -> Any:
        from proxy_addon.engine.wire import Reply

        if value is None or isinstance(value, (dict, Reply)):
            return value
        if _answers.is_response(value):
            return _answers.reply_of(value)
        if isinstance(value, (list, tuple)):
            rule = self._profile.rule_for(route, _rule_of(route))
            pace = (rule.knobs.get("stream") if rule is not None else None) or self._profile.stream
            return _answers.stream_reply(route, list(value), pace)
        return value  # an SDK model: its fields, merged by the route's module

    # -- calls -------------------------------------------------------------------------

    def _calls(self, name: str) -> "CallList":
        runner = self._runner
        if runner is None:
            return CallList()
        side = _fixture_side()
        if not getattr(_local, "answering", False):  # in a `.response` function, the proxy's thread: never wait
            side._settle(runner)
        return CallList(Call._of(e) for e in side.Calls(runner.journal.entries()).filter(_canonical(name)))

    # -- binding to the process's fake ---------------------------------------------------

    def _use_base_url(self, base_url: str) -> None:
        from urllib.parse import urlsplit

        from proxy_addon import access

        host = urlsplit(base_url if "://" in base_url else f"https://{base_url}").hostname or ""
        intercepted = getattr(access, "is_api_host", access.is_openai)
        if not intercepted(host):
            raise ValueError(f"mock(base_url={base_url!r}): the fake does not answer {host!r}; it answers "
                             f"api.openai.com and the hosts under it (and Azure OpenAI's where this release does)")
        self._base_url = base_url

    def _bind(self) -> None:
        """Answer from this mock's profile and state on the process's fake, its environment pointed at it."""
        self._depth += 1
        if self._depth > 1:
            return
        from proxy_addon import process

        runner = self._runner = process.runner()
        _fixture_side()._settle(runner)
        env, unset = process.client_env(runner)
        saved = {name: os.environ.get(name) for name in (*env, *unset)}
        for name in unset:
            os.environ.pop(name, None)
        os.environ.update(env)
        engine = runner.engine
        with engine.state.lock:
            self._held = (engine.state, engine.profile, saved)
            engine.state, engine.profile = self._state._state, self._profile
        self._state._state.clear_counts()
        runner.journal.clear()
        _bound().append(self._release_all)

    def _release_all(self) -> None:
        self._depth = min(self._depth, 1)
        self._release()

    def _release(self) -> None:
        """Give the fake back what binding replaced (the fixture's own state, a swapped-in store)."""
        self._depth -= 1
        if self._depth > 0 or self._held is None or self._runner is None:
            return
        state, profile, saved = self._held
        self._held = None
        with contextlib.suppress(ValueError):
            _bound().remove(self._release_all)
        _fixture_side()._settle(self._runner)
        engine = self._runner.engine
        with engine.state.lock:
            engine.state = state
            if profile is not None:
                engine.profile = profile
        for name, value in (saved or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if not self._fixture:
            self._runner = None

    def __repr__(self) -> str:
        where = "unbound" if self._runner is None else self._runner.proxy_url
        return f"<OpenAIMock {where} responses={sorted(self._responses)}>"


def _bound() -> list:
    from proxy_addon import process

    return process.bound


def _rule_of(route: str) -> str:
    from proxy_addon.engine.routes import ROUTE_RULES

    return ROUTE_RULES[route]


class _Node:
    """`openai_mock.beta.threads`: a group of routes, or an SDK method (`...runs.create`) with `.response`."""

    __slots__ = ("_mock", "_name")

    def __init__(self, mock: OpenAIMock, name: str) -> None:
        object.__setattr__(self, "_mock", mock)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str) -> "_Node":
        if attr.startswith("_"):
            raise AttributeError(attr)
        _check(f"{self._name}.{attr}")
        return _Node(self._mock, f"{self._name}.{attr}")

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr == "response":
            self._mock._set_response(self._name, value)
            return
        raise AttributeError(f"openai_mock.{self._name}.{attr} cannot be set: a route takes .response")

    @property
    def response(self) -> Any:
        """What this route answers (None: the fake's default answer)."""
        return self._mock._responses.get(_canonical(self._name))

    @property
    def route(self) -> "Route":
        """The calls to this route, with respx's names (`route.calls`, `route.call_count`)."""
        return Route(self._mock, self._name)

    @property
    def calls(self) -> "CallList":
        return self.route.calls

    @property
    def call_count(self) -> int:
        return self.route.call_count

    def __repr__(self) -> str:
        return f"<openai_mock.{self._name}>"


class Call:
    """One call as respx records it: `.request` (an httpx2 `Request`: method, url, content) and `.response`
    (an httpx2 `Response` with the status; the journal keeps no response bodies). `.entry`: the journal's
    record (`proxy_addon.journal.Entry`), with the rest."""

    __slots__ = ("entry", "_request", "_response")

    def __init__(self, entry: "Entry") -> None:
        self.entry = entry
        self._request = self._response = None

    @classmethod
    def _of(cls, entry: "Entry") -> "Call":
        return cls(entry)

    @property
    def request(self) -> Any:
        if self._request is None:
            import httpx2

            self._request = httpx2.Request(self.entry.method, f"https://{self.entry.host}{self.entry.path}",
                                           content=self.entry.body)
        return self._request

    @property
    def response(self) -> Any:
        if self._response is None:
            import httpx2

            self._response = httpx2.Response(self.entry.status, request=self.request)
        return self._response

    @property
    def has_response(self) -> bool:
        return True

    def __iter__(self) -> Iterator[Any]:  # `request, response = call`, as respx's named tuple
        return iter((self.request, self.response))

    def __repr__(self) -> str:
        return f"<Call {self.entry.method} {self.entry.path} {self.entry.status}>"


class CallList(list):
    """respx's `CallList`: the calls, oldest first, with `.last`, `.call_count` and `.called`."""

    @property
    def called(self) -> bool:
        return bool(self)

    @property
    def call_count(self) -> int:
        return len(self)

    @property
    def last(self) -> Call:
        if not self:
            raise IndexError("no calls")
        return self[-1]


class Route(Counted):
    """respx's `Route` for one SDK method: `.calls`, `.call_count`, `.called`. Given to a `.response`
    function as `route`, it counts the calls before this one, as respx's did."""

    def __init__(self, mock: OpenAIMock, name: str) -> None:
        self._mock = mock
        self.name = name

    @property
    def calls(self) -> CallList:
        return self._mock._calls(self.name)

    def __repr__(self) -> str:
        return f"<Route openai_mock.{self.name}>"


class Router:
    """`openai_mock.router`: respx's router, as far as the fake has one.

    `with openai_mock.router:` answers from this mock on the process's fake (and points the
    environment at it) for the block; `.post(url=...).mock(Response(...))` (and `.get`, `.route`)
    fakes another host; `.handler` answers an httpx2 request in-process, for `MockTransport`.
    """

    def __init__(self, mock: OpenAIMock) -> None:
        self._mock = mock

    def __enter__(self) -> "Router":
        self._mock._bind()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._mock._release()

    async def __aenter__(self) -> "Router":
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)

    # -- other hosts ---------------------------------------------------------------------

    def route(self, method: str | None = None, url: str | None = None, **lookups: Any) -> "OtherRoute":
        """A route of another host (`url="https://api.myweatherapi.com/v1/x"`), answered by the fake."""
        if lookups:
            raise TypeError(f"openai_mock.router.route takes method and url; not {', '.join(sorted(lookups))}")
        if not url:
            raise TypeError("openai_mock.router.route needs url= (the other host's URL)")
        if not hasattr(self._mock._profile, "host"):
            raise NotImplementedError("faking another host needs profile.host(...) (issue 15, section 2), "
                                      "which this release of the fake lacks")
        return OtherRoute(self._mock, method, url)

    def get(self, url: str | None = None, **lookups: Any) -> "OtherRoute":
        return self.route("GET", url, **lookups)

    def post(self, url: str | None = None, **lookups: Any) -> "OtherRoute":
        return self.route("POST", url, **lookups)

    def put(self, url: str | None = None, **lookups: Any) -> "OtherRoute":
        return self.route("PUT", url, **lookups)

    def patch(self, url: str | None = None, **lookups: Any) -> "OtherRoute":
        return self.route("PATCH", url, **lookups)

    def delete(self, url: str | None = None, **lookups: Any) -> "OtherRoute":
        return self.route("DELETE", url, **lookups)

    # -- in process ----------------------------------------------------------------------

    @property
    def handler(self) -> Callable[[Any], Any]:
        """`MockTransport(openai_mock.router.handler)`: answers an httpx2 request with the engine, in-process."""
        import openai_fake

        transport = getattr(openai_fake, "transport", None)
        if transport is None:
            raise NotImplementedError("an in-process transport needs openai_fake.transport (issue 15, section 4), "
                                      "which this release of the fake lacks")
        mock = self._mock
        if mock._runner is None:  # from now on the fake answers from this mock (until a fixture takes it back)
            mock._bind()
        made = _in_process(transport, mock._runner)
        return made.handle_request


def _in_process(transport: Any, runner: "Runner") -> Any:
    """The in-process transport `openai_fake.transport` gives for `runner` (a transport, or what makes one)."""
    return transport if hasattr(transport, "handle_request") else transport(runner)


class OtherRoute:
    """`openai_mock.router.post(url=...)`: `.mock(Response(...))`, `.mock(side_effect=fn)`, `.respond(...)`."""

    def __init__(self, mock: OpenAIMock, method: str | None, url: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"openai_mock.router: {url!r} names no host")
        self._mock, self._method = mock, method or "GET"
        self._host, self._path = parts.hostname, parts.path or "/"

    def mock(self, return_value: Any = None, *, side_effect: Any = None) -> "OtherRoute":
        answer = side_effect if side_effect is not None else return_value
        if callable(answer) and not _answers.is_response(answer):
            fn = answer

            def answer(request, state):  # noqa: F811 - the engine's (request, state), as respx's (request)
                return fn(_answers.http_request(request))
        host = self._mock._profile.host(self._host)
        register = getattr(host, self._method.lower())
        register(self._path, answer=answer)
        return self

    def respond(self, status_code: int = 200, **kwargs: Any) -> "OtherRoute":
        import httpx2

        return self.mock(httpx2.Response(status_code, **kwargs))


def mock(*, base_url: str | None = None, state: StateStore | None = None) -> Callable:
    """openai-responses' decorator: the test gets `openai_mock` (the fixture's, under pytest), answered
    from `state` when given; outside pytest it answers from a mock of its own for the call."""

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        wants = "openai_mock" in signature.parameters
        params = list(signature.parameters.values())
        if not wants:  # asked for all the same, so that pytest gives the fixture; not passed on
            extra = inspect.Parameter("openai_mock", inspect.Parameter.KEYWORD_ONLY)  # no default: pytest asks for it
            at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
            params.insert(at, extra)

        @contextlib.contextmanager
        def prepared(given: OpenAIMock | None) -> Iterator[OpenAIMock]:
            if given is None:  # not under the fixture: a mock of this call's own
                own = OpenAIMock(base_url, state)
                with own.router:
                    yield own
                return
            if base_url is not None:
                given._use_base_url(base_url)
            if state is not None:
                given.state = state
            yield given

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with prepared(kwargs.pop("openai_mock", None)) as m:
                    if wants:
                        kwargs["openai_mock"] = m
                    return await fn(*args, **kwargs)
        else:
            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with prepared(kwargs.pop("openai_mock", None)) as m:
                    if wants:
                        kwargs["openai_mock"] = m
                    return fn(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapper

    return decorate
