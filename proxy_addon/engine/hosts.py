"""Other hosts a test names, answered by the fake: what respx's router allowed next to the OpenAI mock.

    weather = profile.host("api.myweatherapi.com")
    weather.post("/", answer={"value": "57"})             # a fixed answer

    @weather.get("/forecast/{city}")                      # a handler, called as handler(request, state)
    def forecast(request, state):
        return {"city": request.params["city"], "temp": 20}

    @profile.host("status.example.com")                   # every method and path of a host
    def status(request, state):
        return 503, {"status": "down"}

Requests to a registered host, through the proxy, are answered here and never sent upstream;
hosts nobody registered are tunnelled untouched, as before. A host's routes are tried in the
order they were registered and the first that matches answers; registering the same method and
path again replaces that route in place. A request no route matches gets a 404 that lists the
host's routes (loud, as respx was), never a pass-through.

Everything is checked when the profile loads (the host name, the method, the path template, a
fixed answer), so a mistake fails at its line rather than at the first call.

An answer (fixed, or a handler's) is one of:

- a dict or a list: 200 with it as JSON;
- a string: 200 `text/plain`; bytes: 200 `application/octet-stream`;
- `(status, body)` or `(status, body, headers)`, the body one of the above (or None: empty);
- a `Reply` (`Reply.json(201, {...})`, `Reply(204, b"")`), or an httpx/httpx2 `Response`: sent as it is;
- an `OpenAIError`, returned or raised: its OpenAI-shaped error.

A handler that raises anything else, or returns anything else (None included), answers a 500 that
names the handler (file and line) and why. These routes take no profile-wide knob: the profile's
`latency` is OpenAI's, a route's own `latency=` is its own.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..access import is_api_host
from .errors import OpenAIError
from .wire import Reply, Request

__all__ = ["Host", "HostRoute", "check_host_name", "host_regex"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"^(?:\*\.)?(?:{_LABEL}\.)+{_LABEL}$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ANY = object()
# Names the fake's own hosts take: a wildcard over any of them (`*.openai.com`, `*.azure.com`) is refused.
_API_EXAMPLES = ("api.openai.com", "x.openai.azure.com", "x.cognitiveservices.azure.com")


def check_host_name(name: Any) -> str:
    """The host name as the fake keys it (lower case, no trailing dot); a `ValueError` for one it cannot take:
    not a DNS name with a dot (an address, `localhost`, a URL), or a host the fake answers already (OpenAI's,
    Azure OpenAI's)."""
    if not isinstance(name, str):
        raise TypeError(f"profile.host(...) takes a host name such as 'api.example.com', not {type(name).__name__}")
    host = name.strip().lower().rstrip(".")
    if "://" in host or "/" in host or ":" in host:
        raise ValueError(f"profile.host({name!r}): give the host name alone (e.g. 'api.example.com'), "
                         f"not a URL or a port; routes take the path")
    if not _NAME.match(host) or re.fullmatch(r"[\d.]+", host.lstrip("*.")):
        raise ValueError(f"profile.host({name!r}): not a host name; give a DNS name such as 'api.example.com' "
                         f"or '*.example.com' (addresses and localhost are not faked: they stay reachable)")
    bare = host[2:] if host.startswith("*.") else host
    covered = _API_EXAMPLES if host.startswith("*.") else ()
    if is_api_host(bare) or is_api_host("x." + bare) or any(e.endswith("." + bare) for e in covered):
        raise ValueError(f"profile.host({name!r}): the fake answers OpenAI's and Azure OpenAI's hosts already; "
                         f"set their rules instead (profile.chat.completions(...), ...)")
    return host


def host_regex(name: str) -> str:
    """A regex for mitmproxy's `allow_hosts` (matched against `host:port`) that intercepts `name`."""
    if name.startswith("*."):
        return rf"^(?:[a-z0-9-]+\.)+{re.escape(name[2:])}\.?(?::\d+)?$"
    return rf"^{re.escape(name)}\.?(?::\d+)?$"


@dataclass(frozen=True)
class HostRoute:
    """One route of a host: a method (None: any), a path template (None: any), and its answer or handler."""

    method: str | None
    path: str | None
    segments: tuple[str, ...] | None
    handler: Callable | None
    answer: Reply | None
    latency: float

    @property
    def label(self) -> str:
        return f"{self.method or '*'} {self.path or '*'}"

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """The path parameters when this route takes the request, else None."""
        if self.method is not None and self.method != method and not (self.method == "GET" and method == "HEAD"):
            return None
        if self.segments is None:
            return {}
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, segments):
            found = _PARAM.match(want)
            if found:
                if not got:
                    return None
                params[found.group(1)] = got
            elif want != got:
                return None
        return params


class Host:
    """The routes the fake answers for one host (`profile.host("api.example.com")`); see the module's docstring."""

    def __init__(self, name: str) -> None:
        #: The host name, lower case; `*.example.com` answers every name under example.com.
        self.name = check_host_name(name)
        self.routes: list[HostRoute] = []

    # -- registering -------------------------------------------------------------------------

    def route(self, method: str | None = None, path: str | None = None, answer: Any = _ANY, *,
              latency: float = 0.0) -> Any:
        """Answer `method` (None: any) at `path` (a template such as `/forecast/{city}`; None: any path) with a
        fixed `answer`, or, without one, decorate the handler that answers: `handler(request, state)`."""
        method = _check_method(method)
        segments = _check_path(path)
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency < 0:
            raise ValueError(f"{self._where(method, path)}: latency must be a number of seconds >= 0, not {latency!r}")
        if answer is not _ANY:
            try:
                fixed = as_reply(answer)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{self._where(method, path)}: {e}") from None
            return self._add(HostRoute(method, path, segments, None, fixed, float(latency)))

        def register(handler: Callable) -> Callable:
            if not callable(handler):
                raise TypeError(f"{self._where(method, path)}: a handler must be a function (request, state) -> answer")
            self._add(HostRoute(method, path, segments, handler, None, float(latency)))
            return handler

        return register

    def get(self, path: str | None = None, answer: Any = _ANY, **kw: Any) -> Any:
        """`route("GET", path, ...)`; a GET route answers HEAD too."""
        return self.route("GET", path, answer, **kw)

    def post(self, path: str | None = None, answer: Any = _ANY, **kw: Any) -> Any:
        return self.route("POST", path, answer, **kw)

    def put(self, path: str | None = None, answer: Any = _ANY, **kw: Any) -> Any:
        return self.route("PUT", path, answer, **kw)

    def patch(self, path: str | None = None, answer: Any = _ANY, **kw: Any) -> Any:
        return self.route("PATCH", path, answer, **kw)

    def delete(self, path: str | None = None, answer: Any = _ANY, **kw: Any) -> Any:
        return self.route("DELETE", path, answer, **kw)

    def __call__(self, handler: Callable) -> Callable:
        """As a decorator: `handler` answers every method and path of this host."""
        return self.route()(handler)

    def _add(self, route: HostRoute) -> HostRoute:
        for i, old in enumerate(self.routes):
            if (old.method, old.path) == (route.method, route.path):
                self.routes[i] = route  # a test overriding a profile's route
                return route
        self.routes.append(route)
        return route

    def _where(self, method: str | None, path: str | None) -> str:
        return f"profile.host({self.name!r}).route({method!r}, {path!r})"

    # -- answering ---------------------------------------------------------------------------

    def answer(self, request: Request, state: Any) -> Reply:
        """The reply to `request` (a request to this host): the first matching route's; never raises."""
        path = request.path.rstrip("/")  # `/forecast/` is `/forecast`
        segments = path.split("/")[1:] if path else []
        method = request.method.upper()
        for route in self.routes:
            params = route.match(method, segments)
            if params is None:
                continue
            request.params = params
            request.route = f"{self.name} {route.label}"
            reply = self._call(route, request, state)
            reply.delay = route.latency
            break
        else:
            listed = ", ".join(r.label for r in self.routes) or "none"
            reply = OpenAIError(
                404, f"openai-fake: no route of host {self.name!r} matches {method} {request.path} "
                     f"(its routes: {listed}); requests to a faked host are never sent upstream",
                code="unmatched_route", headers={"x-should-retry": "false"}).reply()
        reply.headers.setdefault("x-request-id", "req_" + secrets.token_hex(16))
        reply.rule = self.name
        return reply

    def _call(self, route: HostRoute, request: Request, state: Any) -> Reply:
        if route.answer is not None:
            return _copy(route.answer)
        handler = route.handler
        try:
            result = handler(request, state)
            if isinstance(result, OpenAIError):
                raise result
            return _copy(as_reply(result))
        except OpenAIError as e:
            return e.reply()
        except BaseException as e:  # a bug in the handler (SystemExit included) is a 500, and the fake keeps serving
            from ..profile import is_real_interrupt

            if is_real_interrupt(e):
                raise
            code = getattr(handler, "__code__", None)
            at = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
            return OpenAIError(
                500, f"openai-fake: handler {getattr(handler, '__name__', handler)!r}{at} of host {self.name!r} "
                     f"({route.label}): {type(e).__name__}: {e}",
                type="server_error", headers={"x-should-retry": "false"}).reply()

    def __repr__(self) -> str:
        return f"<Host {self.name!r} routes={[r.label for r in self.routes]}>"


def _copy(reply: Reply) -> Reply:
    """A reply of its own for this call: the answer may be a fixed one, or a `Reply` the test keeps."""
    return Reply(reply.status, reply.body, dict(reply.headers), payload=reply.payload)


def matches(pattern: str, name: str) -> bool:
    """Whether a registered name (`api.example.com`, `*.example.com`) covers a host name (lower case, no dot)."""
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and len(name) > len(pattern) - 1
    return name == pattern


def as_reply(answer: Any) -> Reply:
    """A host route's answer as a `Reply` (see the module's docstring); a `TypeError`/`ValueError` for one that is not."""
    if isinstance(answer, Reply):
        return answer
    if isinstance(answer, OpenAIError):
        return answer.reply()
    if _is_http_response(answer):
        headers = {k.lower(): v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return Reply(int(answer.status_code), bytes(answer.content), headers)
    if isinstance(answer, tuple):
        if len(answer) not in (2, 3):
            raise ValueError(f"a tuple answer is (status, body) or (status, body, headers), not {len(answer)} items")
        status, body, *rest = answer
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"an answer's status must be an HTTP status from 100 to 599, not {status!r}")
        headers = rest[0] if rest else {}
        if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise TypeError("an answer's headers must be a dict of strings")
        reply = Reply(status, b"") if body is None else _body(body)
        reply.status = status
        reply.headers.update({k.lower(): v for k, v in headers.items()})
        return reply
    if answer is None:
        raise TypeError("the answer is None; return a dict, a list, a string, bytes, (status, body) or a Reply")
    return _body(answer)


def _body(body: Any) -> Reply:
    if isinstance(body, (dict, list)):
        try:
            return Reply.json(200, body)
        except TypeError as e:
            raise TypeError(f"the answer cannot be sent as JSON: {e}") from None
    if isinstance(body, str):
        return Reply(200, body.encode(), {"content-type": "text/plain; charset=utf-8"})
    if isinstance(body, (bytes, bytearray, memoryview)):
        return Reply(200, bytes(body), {"content-type": "application/octet-stream"})
    raise TypeError(f"cannot answer a {type(body).__name__}; answer a dict, a list, a string, bytes, "
                    f"(status, body), (status, body, headers) or a Reply")


def _is_http_response(value: Any) -> bool:
    """An httpx or httpx2 `Response` (told by its fields, so neither library is imported here)."""
    return isinstance(getattr(value, "status_code", None), int) and hasattr(value, "headers") and \
        hasattr(value, "content") and type(value).__name__ == "Response"


def _check_method(method: Any) -> str | None:
    if method is None or method == "*":
        return None
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"a host route's method is one of {', '.join(METHODS)} (or None: any), not {method!r}")
    return method.upper()


def _check_path(path: Any) -> tuple[str, ...] | None:
    if path is None or path == "*":
        return None
    if not isinstance(path, str) or not path.startswith("/") or "?" in path or "#" in path:
        raise ValueError(f"a host route's path is a template that starts with '/' (e.g. '/forecast/{{city}}'), "
                         f"without a query; not {path!r}")
    segments = tuple(path.rstrip("/").split("/")[1:])  # "/" has none; a trailing slash is the same path
    names = []
    for segment in segments:
        if "{" in segment or "}" in segment:
            found = _PARAM.match(segment)
            if not found:
                raise ValueError(f"path {path!r}: a parameter is a whole segment such as '{{city}}', not {segment!r}")
            names.append(found.group(1))
    if len(names) != len(set(names)):
        raise ValueError(f"path {path!r} names a parameter twice")
    return segments
