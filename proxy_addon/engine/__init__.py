"""The engine: a request in, a reply out. No mitmproxy, no sockets.

    engine = Engine(profile)
    reply = engine.handle(Request("POST", "/v1/chat/completions", headers, body))

It finds the route, checks the key, applies the profile's failures, calls the
resource handler (holding the state's lock, so a handler's reads and writes are one
step for every other call) and turns every error into an OpenAI-shaped reply.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Callable

from . import azure, errors, routes, validation
from .bodies import as_partial
from .errors import OpenAIError
from .state import State
from .streams import Event, Pace, StreamReply
from .wire import Reply, Request

if TYPE_CHECKING:
    from ..profile import Profile, Rule
    from ..replaying import Replay

__all__ = ["Engine", "Call", "Request", "Reply", "OpenAIError", "State"]

_UNASKED = object()


class _WholeReply(Exception):
    """A handler answered a whole `Reply`: it goes to the client as it is."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def _handler_of_its_own(profile: "Profile", route: Any) -> bool:
    """Whether the route has a handler set on its own rule (`@profile.beta.assistants.retrieve`), which is
    called whatever the route's module does with its group's handler."""
    own = profile.rules.get(route.name)
    return own is not None and "handler" in own.given and own.handler is not None

# Headers the real API sends on every reply.
_COMMON_HEADERS = {"openai-version": "2020-10-01", "openai-organization": "org-openai-fake", "openai-processing-ms": "1"}


class Call:
    """One call as a resource handler sees it: the request, the profile rule and the state."""

    __slots__ = ("request", "rule", "state", "profile", "number", "_custom", "used", "engine")

    def __init__(self, request: Request, rule: "Rule | None", state: State, profile: "Profile", number: int = 1,
                 engine: "Engine | None" = None) -> None:
        self.request = request
        self.rule = rule
        self.state = state
        self.profile = profile
        #: This call's number among the calls to its route, its SDK method (1 for the first).
        self.number = number
        self._custom: Any = _UNASKED
        #: Whether the resource used the handler's answer (else the engine lays it over the reply).
        self.used = False
        #: The engine answering the call: a batch answers its lines through it.
        self.engine = engine

    def knob(self, name: str, default: Any = None) -> Any:
        """The rule's value for a resource knob, such as `choices`."""
        if self.rule is None:
            return default
        return self.rule.knobs.get(name, default)

    @property
    def pace(self) -> Pace:
        """How this call's stream is delivered: the rule's `stream=`, else the profile's.

        With `faulty=N`, only the rule's first N calls get the faults.
        """
        pace = self.knob("stream") or self.profile.stream
        if pace.faulty is not None and self.number > pace.faulty:
            return pace.whole()
        return pace

    def stream(self, events: list[Event], error_event=None, usage: dict | None = None) -> StreamReply:
        """A streamed 200 reply of `events`, paced by `pace`; `usage`: the tokens it generated (`Reply.usage`)."""
        return StreamReply(200, b"", {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
                           events=events, pace=self.pace, error_event=error_event, usage=usage)

    @property
    def where(self) -> str:
        """Who answered, for messages: the profile and the rule."""
        return f"profile {self.profile.name!r}, rule {self.request.route.rsplit('.', 1)[0]!r}"

    def custom(self) -> Any:
        """What the profile's handler answers (a partial dict, a string, or None), or None without one.

        The handler is called once per call, whoever asks. An `OpenAIError` it
        raises or returns goes to the client as it is; any other exception
        becomes a 500 that names the profile, the handler and the exception,
        and the proxy keeps serving.
        """
        self.used = True
        if self._custom is _UNASKED:
            self._custom = self._ask()
        return self._custom

    def _ask(self) -> Any:
        if self.rule is None or self.rule.handler is None:
            return None
        handler = self.rule.handler
        try:
            result = handler(self.request, self.state)
        except OpenAIError:
            raise
        except BaseException as e:  # `sys.exit()` in a handler included: it must not end the fake
            if _is_real_interrupt(e):
                raise
            code = getattr(handler, "__code__", None)
            at = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
            raise OpenAIError(
                500,
                f"openai-fake: handler {getattr(handler, '__name__', handler)!r}{at} of {self.where} "
                f"raised {type(e).__name__}: {e}",
                type="server_error",
                headers={"x-should-retry": "false"},
            ) from e
        if isinstance(result, OpenAIError):
            raise result
        if isinstance(result, Reply):
            raise _WholeReply(result)
        return as_partial(result)

    def unfit(self, answer: Any) -> OpenAIError:
        """The 500 for a handler's answer this route cannot take (a string for a batch): said, never ignored."""
        return OpenAIError(500, f"openai-fake: {self.where}: the handler answered a {type(answer).__name__}; "
                                f"{self.request.route} takes a partial dict, a Reply or None", type="server_error",
                           headers={"x-should-retry": "false"})

    def choices(self, text_field: str) -> tuple[dict, list | None]:
        """For resources that answer `choices`: the handler's partial answer and the choices to use.

        A handler's string becomes one choice with that `text_field` (a dotted
        path such as "message.content"). The choices come from the handler,
        else the rule's `choices` knob; None means the resource's default.
        """
        custom = self.custom()
        if isinstance(custom, str):
            choice: dict = {}
            node = choice
            *parents, leaf = text_field.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = custom
            custom = {"choices": [choice]}
        if not isinstance(custom, dict):
            custom = {}
        chosen = custom.get("choices")
        if chosen is None:
            chosen = self.knob("choices")
        if chosen is not None and (not isinstance(chosen, list) or not chosen):
            raise OpenAIError(500, f"openai-fake: {self.where}: `choices` must be a non-empty list", type="server_error",
                              headers={"x-should-retry": "false"})
        return {k: v for k, v in custom.items() if k != "choices"}, chosen


class Engine:
    """The fake API. Thread-safe to read; `profile` may be swapped between calls."""

    def __init__(self, profile: "Profile | None" = None, state: State | None = None) -> None:
        if profile is None:
            from ..profile import Profile

            profile = Profile()
        self.profile = profile
        self.state = state or State()
        #: Told `(request, reply, seconds)` of each call a face had the engine answer (`faces.answer`; not the
        #: calls a batch or a grader makes through it), `seconds` being the engine's own time: the metrics
        #: (`metrics.py`) count tokens, injected failures and latency there.
        self.answer_listeners: list[Callable[[Request, Reply, float], None]] = []
        #: A recording answering OpenAI requests before the routes (`replaying.Replay`), or None; kept when
        #: the profile is swapped, rewound by `reset`.
        self.replay: "Replay | None" = None
        if state is None:
            self.preload()

    def use(self, profile: "Profile") -> None:
        """Answer with `profile` from now on, starting from a clean state with its preloads."""
        self.profile = profile
        self.reset()

    def reset(self) -> None:
        """Forget all state and counts, then store the profile's preloads again; a replay starts over."""
        self.state.reset()
        self.preload()
        if self.replay is not None:
            self.replay.rewind()

    def preload(self) -> None:
        """Store the objects the profile declares with `profile.state.put(...)`."""
        for collection, obj in self.profile.state.items:
            routes.PRELOADERS[collection](self.state, obj)

    def tick(self) -> int:
        """Move on every object whose progress is by time (`progress=<seconds>`), as a read of it would,
        so that objects nobody polls still finish (and their webhooks go). How many were looked at."""
        from . import lifecycle

        profile = self.profile
        looked = 0
        with self.state.lock:
            for kind in list(lifecycle.KINDS.values()):
                rule = profile.rule_for(kind.route, routes.ROUTE_RULES[kind.route])
                if rule is None or rule.knobs.get("progress", "polls") == "polls":
                    continue
                for record in self.state.all(kind.store):
                    call = Call(Request("GET", kind.path(record), route=kind.route), rule, self.state, profile, 0, self)
                    try:
                        kind.catch_up(call, record)
                    except OpenAIError:
                        pass  # what a read would have answered as an error: the next read says it
                    looked += 1
        return looked

    def handle(self, request: Request) -> Reply:
        """Answer one request. Never raises: every failure becomes an OpenAI-shaped reply."""
        profile = self.profile  # one profile for the whole call, even if swapped meanwhile
        if profile.host_patterns:
            host = profile.host_for(request.host)
            if host is not None:  # another host a test named (`profile.host(...)`): its routes, nothing else
                with self.state.lock:
                    return host.answer(request, self.state)
        replay = self.replay
        if replay is not None:  # the recording first; None: a miss the profile answers
            replayed = replay.answer(request)
            if replayed is not None:
                return replayed
        rule_name = ""
        delay = profile.latency
        fault = None
        try:
            if azure.applies(request):
                azure.translate(request)
            try:
                route, params = routes.match(request.method, request.path)
            except OpenAIError as e:
                if request.api == "azure" and e.status == 404:
                    raise azure.not_found() from None
                raise
            request.params = params
            request.route = route.name
            rule = profile.rule_for(route.name, route.rule)
            rule_name = route.rule
            if rule is not None and rule.latency is not None:
                delay = rule.latency
            public = route.row is not None and route.row.public  # a URL the fake handed out, not the API
            if profile.require_api_key and not public and not _has_key(request):
                raise azure.access_denied() if request.api == "azure" else errors.missing_api_key()
            with self.state.lock:  # one call at a time sees and changes the state: a handler's reads and writes are one step
                n = self.state.count_call(route.name, route.rule)  # failures and `faulty=` count the route's own calls
                if rule is not None and not public and n <= rule.failures:
                    failure = rule.failure(n, request.model)
                    if request.api == "azure" and failure.status == 429:
                        failure = azure.rate_limited(route.name, request.api_version,
                                                     1.0 if rule.retry_after is None else rule.retry_after,
                                                     f"(openai-fake: simulated failure {n} of {rule.failures})")
                    fault = f"http_{failure.status}"
                    raise failure
                call = Call(request, rule, self.state, profile, n, self)
                try:
                    generic = getattr(route.handler, "kind", None) is not None
                    if not generic and profile.validate_requests and route.row is not None and route.row.body == "json" \
                            and request.body and request.method != "GET":
                        validation.unknown_fields(route.row, _json_or_none(request))
                    if rule is not None and rule.handler is not None and (generic or rule.handler_first):
                        call.custom()  # first, so that its error or whole reply comes before any change
                        call.used = False
                    reply = route.handler(call)
                    if not call.used and _handler_of_its_own(profile, route):  # its module had no use for it
                        reply = _laid_over(reply, call.custom(), route, call)
                except _WholeReply as whole:  # any status, any body, as the handler made it
                    reply = whole.reply
        except OpenAIError as e:
            reply = e.reply()
        except BaseException as e:  # a bug in the fake itself, or user code's SystemExit: say so, keep serving
            if _is_real_interrupt(e):
                raise
            reply = OpenAIError(
                500, f"openai-fake internal error: {type(e).__name__}: {e}", type="server_error",
                headers={"x-should-retry": "false"},
            ).reply()
        reply.headers.update(_COMMON_HEADERS)
        reply.headers["x-request-id"] = "req_" + secrets.token_hex(16)
        reply.delay = delay
        reply.rule = rule_name
        reply.fault = fault
        return reply


def _json_or_none(request: Request) -> Any:
    try:
        return request.json
    except ValueError:  # the module answers an unparsable body with its own 400
        return None


def _laid_over(reply: Reply, partial: Any, route: Any, call: Call) -> Reply:
    """A handler's partial answer laid over a resource's JSON reply (a route whose module does not read
    the handler's answer itself), checked against the route's SDK type."""
    from .bodies import check, merge

    if partial is None or isinstance(reply, StreamReply) or reply.status >= 400:
        return reply  # nothing to lay, or a stream or an error to lay it over
    if not isinstance(partial, dict) or not isinstance(reply.payload, dict):
        raise call.unfit(partial)
    merged = merge(reply.payload, partial)
    if route.row is not None and route.row.returns:
        from .instances import resolve

        check(resolve(route.row.returns), merged, call.where)
    return Reply.json(reply.status, merged, reply.headers)


def _is_real_interrupt(error: BaseException) -> bool:
    from ..profile import is_real_interrupt

    return is_real_interrupt(error)


def _has_bearer(headers: Any) -> bool:
    value = headers.get("authorization", "")
    return value[:7].lower() == "bearer " and bool(value[7:].strip())


def _has_key(request: Request) -> bool:
    """A bearer key; for Azure, its `api-key` header too (a bearer there is an Entra ID token)."""
    return _has_bearer(request.headers) or (request.api == "azure" and bool(request.headers.get("api-key", "").strip()))
