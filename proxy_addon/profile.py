"""Profiles: the user's knobs, and loading them from a file, a module or a shipped name.

    from proxy_addon import Profile

    profile = Profile(latency=0.0)
    profile.chat.completions(choices=[{"message": {"content": "Hi"}}], failures=2)

    @profile.embeddings
    def vectors(request, state):
        return {"embedding": [0.1, 0.2, 0.3]}
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .engine import knobs as knob_types
from .engine import webhook_endpoints
from .engine.webhook_endpoints import Endpoint
from .engine.errors import OpenAIError
from .engine.hosts import Host, check_host_name, host_regex, matches
from .engine.routes import CANONICAL, PRELOADERS, ROUTE_RULES, RULES
from .engine.state import State
from .engine.streams import Pace

__all__ = ["Profile", "Rule", "ProfileError", "load", "shipped", "shipped_dir", "is_real_interrupt"]


#: Every name a profile can walk: rules, SDK method names, and the groups above them (`beta`, `beta.threads`).
_PATHS = frozenset(".".join(name.split(".")[:i]) for name in (*RULES, *ROUTE_RULES) for i in range(1, name.count(".") + 2))


def _close_names(word: str, names: Iterable[str]) -> list[str]:
    """The names most like a misspelled `word` (difflib's closest three), for a "did you mean" hint."""
    import difflib

    return difflib.get_close_matches(word, sorted(names), n=3, cutoff=0.6)


def _did_you_mean(word: str, names: Iterable[str]) -> str:
    near = _close_names(word, names)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


def unknown_name(name: str, only_hint: bool = False) -> str:
    """What to say of a rule name that is not one: the closest names, and where the full list is."""
    near = _close_names(name, set(RULES) | set(ROUTE_RULES))
    under = sorted(r for r in RULES if r.startswith(name + "."))[:5]
    hint = f"did you mean {' or '.join(near)}?" if near else f"rules under it: {', '.join(under)}" if under else ""
    if only_hint:
        return hint or "see docs/reference/endpoint-table.md"
    return f"unknown route name {name!r}" + (f"; {hint}" if hint else "") + " (every rule: docs/reference/endpoint-table.md)"


class ProfileError(Exception):
    """A profile that cannot be used; the message names the file and the line."""


#: A webhook receiver's time to answer, and the waits before each retry: the real API retries for up to
#: 72 hours with exponential backoff; the fake compresses that, so a test sees a retry in a fraction of a second.
WEBHOOK_TIMEOUT = 5.0
WEBHOOK_BACKOFF = (0.1, 0.5, 2.0, 8.0)

_COMMON = {"latency": (int, float), "failures": int, "failure_status": int, "retry_after": (int, float), "handler": object,
           "handler_first": bool}


@dataclass
class Rule:
    """How one resource answers: the common knobs, the resource's own knobs, and an optional handler.

    latency: seconds before this rule's routes answer (time queued behind other calls counts); never blocks
        other calls. None: the profile's `latency`.
    failures: the first N calls of each route answer an error, then it answers normally (counted per route:
        a group rule's `failures=1` fails the first create *and* the first list). With the SDK's default
        `max_retries=2` and `failures=2`, a call succeeds and the route saw 3 calls.
    failure_status: the status of those errors; 429 gets the API's rate-limit message.
    retry_after: seconds, sent as `retry-after-ms` and `retry-after` with those errors (None: 1 s for a 429,
        nothing for other statuses).
    handler: a function `(request, state)` that answers instead of the route, also settable with
        `@profile.<route>` (see the profiles guide, "Handlers").
    handler_first: call the handler before the route's own work: a whole `Reply` it answers then replaces the
        route (nothing stored, nothing moved on, as openai-responses' raw answers did); any other answer is
        used as usual, but the handler sees the state as it was before the call.
    """

    name: str
    latency: float | None = None
    failures: int = 0
    failure_status: int = 500
    retry_after: float | None = None
    handler: Callable | None = None
    #: Call the handler before the route's own work: a whole `Reply` it answers then replaces the route
    #: (nothing stored, nothing moved on), as openai-responses' raw answers did; any other answer is used as usual.
    handler_first: bool = False
    knobs: dict[str, Any] = field(default_factory=dict)
    #: The knobs this rule was given (a route's rule overrides its group's for these alone).
    given: set[str] = field(default_factory=set)

    def over(self, base: "Rule") -> "Rule":
        """This (a route's) rule laid over `base` (its group's): what this one was given wins."""
        pick = {attr: getattr(self if attr in self.given else base, attr)
                for attr in ("latency", "failures", "failure_status", "retry_after", "handler", "handler_first")}
        return Rule(self.name, **pick, knobs={**base.knobs, **self.knobs}, given=self.given | base.given)

    def failure(self, n: int, model: str | None) -> OpenAIError:
        """The error for the n-th of the rule's simulated failures."""
        note = f"(openai-fake: simulated failure {n} of {self.failures})"
        if self.failure_status == 429:
            wait = 1.0 if self.retry_after is None else self.retry_after
            return OpenAIError(
                429,
                f"Rate limit reached for {model or 'requests'} in organization org-openai-fake on requests per min (RPM): "
                f"Limit 3, Used 3, Requested 1. Please try again in {wait:g}s. {note}",
                type="requests", code="rate_limit_exceeded", retry_after=wait,
            )
        return OpenAIError(self.failure_status, f"{OpenAIError(self.failure_status).message} {note}", retry_after=self.retry_after)


class _RuleRef:
    """`profile.chat`, `profile.chat.completions`: walks to a rule, then configures it when called."""

    def __init__(self, profile: "Profile", path: str) -> None:
        self._profile = profile
        self._path = path

    def __getattr__(self, attr: str) -> "_RuleRef":
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self._profile._ref(f"{self._path}.{attr}")

    def __call__(self, handler: Callable | None = None, /, **knobs: Any) -> Any:
        """Configure the rule with knobs; or, used as a decorator, give it a handler."""
        if self._path not in RULES and self._path not in ROUTE_RULES:
            raise AttributeError(f"{self._path!r} is a group of routes, not a route: {unknown_name(self._path, only_hint=True)}")
        if handler is not None:
            if knobs or not callable(handler):
                raise TypeError(f"{self._path}(...) takes keyword knobs, or one function as a decorator")
            self._profile.configure(self._path, handler=handler)
            return handler
        return self._profile.configure(self._path, **knobs)


class _Preloads:
    """`profile.state`: objects the fake's state starts with (and returns to on reset)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []

    def put(self, collection: str, obj: dict) -> dict:
        """Store `obj` in `collection` ("assistants", "threads" or "files") when the fake starts."""
        if collection not in PRELOADERS:
            raise ValueError(f"profile.state.put: cannot store {collection!r}; it can store: {', '.join(PRELOADERS)}")
        if not isinstance(obj, dict):
            raise TypeError(f"profile.state.put({collection!r}, ...) takes a dict, not {type(obj).__name__}")
        try:  # fail here, at the profile's line, rather than when the fake starts
            PRELOADERS[collection](State(), dict(obj))
        except OpenAIError as e:
            raise ValueError(f"profile.state.put({collection!r}, ...): {e.message}") from None
        self.items.append((collection, dict(obj)))
        return obj


class Profile:
    """What the fake answers. A profile module defines `profile = Profile(...)` and then sets rules.

    latency: seconds to wait before every answer (a rule's own `latency` wins).
    require_api_key: answer 401 to a call without `Authorization: Bearer ...`, as the real API does.
    validate_requests: answer the real API's 400 to a body its SDK params type refuses (an unknown
        field, a wrong type); False lets odd bodies through, for tests that send them on purpose.
    stream: the pace and faults of every streamed reply, as a dict of `Pace` knobs
        (`{"ttft": 0.3, "chunk_delay": 0.05}`); a rule's own `stream=` wins.
    webhook_timeout: seconds a webhook receiver has to answer a delivery before it counts as failed.
    webhook_backoff: seconds to wait before each retry of a failed delivery; its length is the number
        of retries (the default makes 5 attempts over about 10 s; `()` sends once).
    Webhook endpoints are added with `profile.webhook(url, secret=..., events=[...])`.
    """

    def __init__(self, *, latency: float = 0.0, require_api_key: bool = True, stream: "Pace | dict | None" = None,
                 validate_requests: bool = True, webhook_timeout: float = WEBHOOK_TIMEOUT,
                 webhook_backoff: "tuple[float, ...] | list[float]" = WEBHOOK_BACKOFF, **unknown: Any) -> None:
        if unknown:  # Python's own TypeError names neither the knobs there are nor the one meant
            import inspect

            known = [k for k in inspect.signature(Profile.__init__).parameters if k not in ("self", "unknown")]
            key = next(iter(unknown))
            raise TypeError(f"Profile() got an unknown knob {key!r}{_did_you_mean(key, known)}; "
                            f"it takes: {', '.join(known)}")
        _check_number("latency", latency)
        _check_number("webhook_timeout", webhook_timeout)
        if not webhook_timeout:
            raise ValueError("webhook_timeout must be a number of seconds > 0, not 0")
        #: How long a webhook receiver has to answer, and the waits before each retry (docs/guide/webhooks.md).
        self.webhook_timeout = float(webhook_timeout)
        if isinstance(webhook_backoff, (str, bytes)) or not isinstance(webhook_backoff, (tuple, list)):
            raise TypeError(f"webhook_backoff must be a list of seconds such as [0.1, 0.5, 2], not {webhook_backoff!r}")
        for wait in webhook_backoff:
            _check_number("webhook_backoff's every wait", wait)
        self.webhook_backoff = tuple(float(wait) for wait in webhook_backoff)
        #: Where webhooks go (`webhook()`), besides the endpoints registered at run time.
        self.webhook_endpoints: list[Endpoint] = []
        #: How every stream is paced unless its rule says otherwise (see `Pace`).
        self.stream = Pace.of(stream)
        if not isinstance(require_api_key, bool):
            raise TypeError(f"require_api_key must be True or False, not {require_api_key!r}")
        self.latency = float(latency)
        self.require_api_key = require_api_key
        if not isinstance(validate_requests, bool):
            raise TypeError(f"validate_requests must be True or False, not {validate_requests!r}")
        self.validate_requests = validate_requests
        self.rules: dict[str, Rule] = {}
        self._merged: dict[tuple[str, str], Rule | None] = {}  # (route, group) -> the rule that governs
        #: Objects the state starts with: `profile.state.put("assistants", {"id": "asst_abc123", ...})`.
        self.state = _Preloads()
        #: Other hosts the fake answers (`profile.host("api.example.com")`), by name.
        self.hosts: dict[str, Host] = {}
        self._wildcards: tuple[Host, ...] = ()  # `*.example.com` hosts, tried after the exact names
        #: What the proxy must intercept for `hosts` (regexes for mitmproxy's `allow_hosts`), as one snapshot.
        self.host_patterns: tuple[str, ...] = ()
        self.name = "inline"
        self.source: str | None = None

    def __getattr__(self, attr: str) -> _RuleRef:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self._ref(attr)

    def webhook(self, url: str, *, secret: str | None = None, events: "list[str] | None" = None) -> Endpoint:
        """Send the API's webhook events to `url`, signed with `secret` (`whsec_<base64>`; a random one is made
        when none is given, shown by `GET /_fake/webhooks`), only those `events` match (event types or glob
        patterns: `["batch.*", "response.completed"]`; all of them by default). `url` is `https://`, or
        plain `http://` on this machine. Call it once per endpoint."""
        endpoint = webhook_endpoints.make(url, secret, events, id=f"we_profile_{len(self.webhook_endpoints) + 1}",
                                          source="profile")
        self.webhook_endpoints.append(endpoint)
        return endpoint

    def _ref(self, path: str) -> _RuleRef:
        if path in _PATHS:
            return _RuleRef(self, path)
        raise AttributeError(unknown_name(path))

    def host(self, name: str) -> Host:
        """The routes the fake answers for another host (`api.myweatherapi.com`, or `*.example.com` for every
        name under it), through the proxy, instead of tunnelling to it: `.get(path, answer=...)`, `.post(...)`,
        `.route(method, path)` as a decorator, or the `Host` itself as a decorator for every path (see
        `engine/hosts.py`). Asking again gives the same `Host`."""
        key = check_host_name(name)
        found = self.hosts.get(key)
        if found is None:
            found = self.hosts[key] = Host(key)
            self._wildcards = tuple(h for h in self.hosts.values() if h.name.startswith("*."))
            self.host_patterns = tuple(host_regex(h) for h in self.hosts)
        return found

    def host_for(self, name: str | None) -> Host | None:
        """The registered `Host` that answers a host name (a CONNECT target, an SNI, a `Host`), or None."""
        if not name or not self.host_patterns:
            return None
        key = name.lower().rstrip(".")
        found = self.hosts.get(key)
        if found is None:
            found = next((h for h in self._wildcards if matches(h.name, key)), None)
        return found

    def configure(self, name: str, **knobs: Any) -> Rule:
        """Set knobs on the rule `name`: a group (`"chat.completions"`) or one SDK method
        (`"chat.completions.create"`, which takes its group's knobs and overrides them for that route).
        Later calls update it."""
        if name not in RULES and name not in ROUTE_RULES:
            raise AttributeError(unknown_name(name))
        name = CANONICAL.get(name, name)  # `beta.chat.completions.create` is `chat.completions.create`: one route, one rule
        own = RULES[name] if name in RULES else RULES[ROUTE_RULES[name]]
        self._merged.clear()
        rule = self.rules.get(name) or Rule(name)
        for key, value in knobs.items():
            kind = _COMMON.get(key) or own.get(key)
            if kind is None:
                allowed = list(_COMMON) + list(own)
                raise TypeError(f"{name}() got an unknown knob {key!r}{_did_you_mean(key, allowed)}; "
                                f"it takes: {', '.join(allowed)}")
            if key == "handler":
                if value is not None and not callable(value):
                    raise TypeError(f"{name}(handler=...) must be a function (request, state) -> answer")
                rule.handler = value
            elif key in ("latency", "retry_after"):
                if value is not None:
                    _check_number(key, value)
                setattr(rule, key, None if value is None else float(value))
            elif key == "failures":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"failures must be an integer >= 0, not {value!r}")
                rule.failures = value
            elif key == "stream":
                rule.knobs[key] = None if value is None else Pace.of(value)
            elif key == "handler_first":
                if not isinstance(value, bool):
                    raise TypeError(f"{name}(handler_first=...) must be True or False, not {value!r}")
                rule.handler_first = value
            elif key == "failure_status":
                if not isinstance(value, int) or not 400 <= value <= 599:
                    raise ValueError(f"failure_status must be an HTTP error status from 400 to 599, not {value!r}")
                rule.failure_status = value
            else:
                rule.knobs[key] = knob_types.check(name, key, value, kind)
            rule.given.add(key)
        self.rules[name] = rule
        return rule

    def rule_for(self, route: str, group: str) -> Rule | None:
        """The rule that governs a call to `route` (an SDK method name) of `group`: the route's own over its
        group's, either alone, or None."""
        try:
            return self._merged[(route, group)]
        except KeyError:
            pass
        own, base = self.rules.get(route), self.rules.get(group)
        found = base if own is None else own if base is None else own.over(base)
        self._merged[(route, group)] = found
        return found

    def __repr__(self) -> str:
        return f"<Profile {self.name!r} rules={sorted(self.rules)}>"


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")


# -- loading -----------------------------------------------------------------


def shipped_dir() -> Path:
    """Where the shipped profiles are, in a checkout or an installed wheel."""
    try:
        import openai_fake_profiles

        return Path(openai_fake_profiles.__file__).parent
    except ImportError:  # running from a checkout that was not installed
        return Path(__file__).resolve().parent.parent / "profiles"


def shipped() -> dict[str, str]:
    """Shipped profile names and the first line of each one's docstring."""
    out = {}
    for path in sorted(shipped_dir().glob("*.py")):
        if path.stem.startswith("_"):
            continue
        doc = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip().strip('"').strip()
            if line:
                doc = line
                break
        out[path.stem] = doc
    return out


def resolve(spec: str) -> tuple[str, Path | None]:
    """(name, file) for a file path, a shipped name or a dotted module name."""
    candidate = Path(spec).expanduser()
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        if not candidate.is_file():
            nearby = [p.name for p in candidate.parent.glob("*.py")] if candidate.parent.is_dir() else []
            raise ProfileError(f"{spec}: no such profile file{_did_you_mean(candidate.name, nearby)}")
        return candidate.stem, candidate.resolve()
    shipped_file = shipped_dir() / f"{spec}.py"
    if "." not in spec and shipped_file.is_file():
        return spec, shipped_file
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ProfileError(
            f"no profile named {spec!r}{_did_you_mean(spec, shipped())}: not a file, not a shipped profile "
            f"({', '.join(shipped())}), and not an importable module"
        )
    return spec, Path(found.origin) if found.origin else None


def is_real_interrupt(error: BaseException) -> bool:
    """Whether `error` is the user's Ctrl-C, which may end the process; anything else that user code
    raises (`SystemExit`, `KeyboardInterrupt` raised by hand, `GeneratorExit`...) is an error to report.

    Only the main thread gets signals, and where an event loop runs there (`openai-fake run`), SIGINT
    is the loop's own handler, which stops the fake without raising: a `KeyboardInterrupt` raised
    there, or in any other thread, came from the code that ran.
    """
    if not isinstance(error, KeyboardInterrupt) or threading.current_thread() is not threading.main_thread():
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def load(spec: str) -> Profile:
    """Load the profile a module defines as `profile = Profile(...)`.

    Raises `ProfileError` naming the file and the line for a syntax error, a bad
    argument, an unknown route name, a module without a `profile`, or anything the
    module raises while it runs, `SystemExit` included: loading a profile never ends
    the process (only a real Ctrl-C does, see `is_real_interrupt`).
    """
    name, path = resolve(spec)
    module_name = f"openai_fake_profile_{abs(hash(str(path)))}" if path else spec
    try:
        if path is not None and (spec.endswith(".py") or "/" in spec or path.parent == shipped_dir()):
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except SyntaxError as e:
        raise ProfileError(f"{e.filename}:{e.lineno}: syntax error: {e.msg}") from None
    except BaseException as e:  # SystemExit from a module's own `sys.exit()` must not end the fake
        if is_real_interrupt(e):
            raise
        raise ProfileError(f"{_where(e, path)}: {type(e).__name__}: {e}") from None
    profile = getattr(module, "profile", None)
    if not isinstance(profile, Profile):
        raise ProfileError(f"{path or spec}:1: defines no `profile = Profile(...)`")
    profile.name = name
    profile.source = str(path) if path else spec
    return profile


def _where(error: BaseException, path: Path | None) -> str:
    """file:line of the deepest traceback frame inside the profile file."""
    frames = traceback.extract_tb(error.__traceback__)
    if path is not None:
        inside = [f for f in frames if Path(f.filename).resolve() == path]
        if inside:
            return f"{path}:{inside[-1].lineno}"
    if frames:
        return f"{frames[-1].filename}:{frames[-1].lineno}"
    return str(path)


