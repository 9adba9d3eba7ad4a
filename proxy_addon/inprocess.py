"""The in-process path: an httpx2 (or httpx) transport that hands each request to the engine.

    client = OpenAI(http_client=openai_fake.http_client(fake))        # fake: a Runner, the fixture, an Engine...
    client = AsyncOpenAI(http_client=openai_fake.async_http_client(fake))
    httpx2.Client(transport=openai_fake.transport(fake))

No socket, no TLS: the request goes straight to the same engine a running fake
answers with (the same state, profile and journal), and its call is journaled as
the faces journal theirs (`faces.py`), with `face="in-process"`. Streams keep
their pace: the transport sleeps between events as the relay does (the sync
client blocks its thread, as a socket would; the async one awaits), and a cut
ends the body with the `RemoteProtocolError` a cut connection gives.

`activate(target)` makes every OpenAI client built from then on use it without a
change to its code (`deactivate` undoes it): the SDK builds its HTTP client from
`openai._base_client._DefaultHttpxClient` (and `_DefaultAsyncHttpxClient`), which
`DefaultHttpxClient(...)` is too, so those two constructors are wrapped to give
the client the transport. A client whose `base_url` is an OpenAI host gets it as
its `transport` (then httpx builds neither its own connection pool nor the proxy
transports the environment asks for: an `OpenAI()` costs no SSL context); one
without a `base_url` (a `DefaultHttpxClient()` made by hand) gets it mounted for
the OpenAI hosts only. A client made on a plain `httpx2.Client` the caller built,
or one given its own `transport`, is left alone: the proxy still sees those.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from typing import Any

from .engine import Engine
from .engine.streams import CONTENT, CUT, ERROR, StreamReply, schedule
from .faces import IN_PROCESS, MAX_REQUEST_SIZE, answer, answered, entry_fields, headers_of, stream_ended, stream_started, \
    wire_headers
from .journal import Journal

__all__ = ["Target", "target_of", "transport", "http_client", "async_http_client", "activate", "deactivate",
           "active"]

logger = logging.getLogger(__name__)

#: Hosts the transport is mounted for on a client without a base URL (httpx's "*host": the host and its subdomains).
MOUNTS = ("all://*api.openai.com",)
#: How often an engine that no running fake ticks is moved on (`Engine.tick`), at most: before a call.
TICK_EVERY = 0.05


class Target:
    """What the in-process path answers with: an engine, the journal its calls go to, the size limit, and
    the Runner that owns them if any (while it serves, it ticks the engine; otherwise the transport does)."""

    def __init__(self, engine: Engine, journal: Journal, runner: Any = None,
                 max_request_size: int = MAX_REQUEST_SIZE) -> None:
        self.engine = engine
        self.journal = journal
        self.runner = runner
        self.max_request_size = max_request_size
        self._ticked = time.monotonic()

    def before_call(self) -> None:
        """Move on the objects whose progress is by time, when no running fake's loop does it."""
        if self.runner is not None and getattr(self.runner, "address", None) is not None:
            return
        now = time.monotonic()
        if now - self._ticked >= TICK_EVERY:
            self._ticked = now
            try:
                self.engine.tick()
            except Exception:  # pragma: no cover - tick answers errors itself
                logger.exception("openai-fake: moving objects on failed")

    def __repr__(self) -> str:
        return f"<openai_fake in-process target profile={self.engine.profile.name!r}>"


#: An engine given alone keeps one journal, whichever transports are made for it.
_JOURNALS: "weakref.WeakKeyDictionary[Engine, Journal]" = weakref.WeakKeyDictionary()


def target_of(fake: Any = None) -> Target:
    """The Target for `fake`: None (the fake active now: `openai_fake.running`, the pytest fixture), a `Runner`,
    the fixture's `FakeOpenAI`, an `Engine` (with a journal of its own, kept per engine), or a `Profile` or
    profile name (a fresh engine)."""
    if fake is None:
        from .handle import current as current_fake

        current = active()
        if current is None and current_fake() is not None:
            return target_of(current_fake())
        if current is None:
            raise RuntimeError("openai-fake: no fake is active here; pass one: transport(runner), transport(engine), "
                               "transport(Profile(...)), or use openai_fake.running(...) / the openai_fake fixture")
        return current
    if isinstance(fake, Target):
        return fake
    runner = getattr(fake, "runner", None)  # the fixture's FakeOpenAI, a `running` handle
    if runner is not None and hasattr(runner, "engine"):
        fake = runner
    if isinstance(fake, Engine):
        journal = _JOURNALS.get(fake)
        if journal is None:
            journal = _JOURNALS[fake] = Journal()
        return Target(fake, journal)
    if hasattr(fake, "engine") and hasattr(fake, "journal"):  # a Runner
        target = getattr(fake, "_in_process_target", None)
        if target is None:
            target = Target(fake.engine, fake.journal, fake, getattr(fake, "max_request_size", MAX_REQUEST_SIZE))
            try:
                fake._in_process_target = target  # one tick clock per runner
            except AttributeError:
                pass
        return target
    from .profile import Profile, load

    if isinstance(fake, str):
        fake = load(fake)
    if isinstance(fake, Profile):
        return target_of(Engine(fake))
    raise TypeError(f"openai-fake: cannot answer in process with {type(fake).__name__}; give a Runner, the "
                    "openai_fake fixture, an Engine, a Profile or a profile name")


# -- the transports ---------------------------------------------------------------------------


def _library(library: Any = None):
    """The httpx module to build for: the one given (a module or "httpx"/"httpx2"), else the SDK's (httpx2 for
    openai 3.x, httpx for 2.x)."""
    import importlib

    if library is None:
        from openai import _base_client

        library = "httpx2" if hasattr(_base_client, "httpx2") else "httpx"
    return importlib.import_module(library) if isinstance(library, str) else library


def transport(fake: Any = None, *, library: Any = None):
    """An httpx transport (sync and async in one) that answers from `fake`'s engine in this process.

    `fake`: see `target_of` (None: the fake active now). `library`: "httpx2" (what openai 3.x uses, the
    default with it) or "httpx" (openai 2.x, or any httpx client), or the module itself."""
    return _classes(_library(library))[0](target_of(fake))


def http_client(fake: Any = None, *, library: Any = None, **kwargs: Any):
    """An HTTP client for `OpenAI(http_client=...)` that answers in process: the SDK's `DefaultHttpxClient`
    (its timeouts and limits) with `transport(fake)`; with `library="httpx"`, an `httpx.Client`."""
    module = _library(library)
    kwargs["transport"] = _classes(module)[0](target_of(fake))
    return _client_class(module, asynchronous=False)(**kwargs)


def async_http_client(fake: Any = None, *, library: Any = None, **kwargs: Any):
    """The same for `AsyncOpenAI(http_client=...)`: the SDK's `DefaultAsyncHttpxClient` (or an `httpx.AsyncClient`)."""
    module = _library(library)
    kwargs["transport"] = _classes(module)[0](target_of(fake))
    return _client_class(module, asynchronous=True)(**kwargs)


def _client_class(module, asynchronous: bool):
    from openai import _base_client

    ours = _base_client._DefaultAsyncHttpxClient if asynchronous else _base_client._DefaultHttpxClient
    if issubclass(ours, module.AsyncClient if asynchronous else module.Client):
        return ours
    cls = module.AsyncClient if asynchronous else module.Client  # httpx beside an httpx2 SDK: its defaults, in httpx
    from openai._constants import DEFAULT_TIMEOUT

    def make(**kwargs: Any):
        kwargs.setdefault("timeout", module.Timeout(**DEFAULT_TIMEOUT.as_dict()))
        kwargs.setdefault("follow_redirects", True)
        return cls(**kwargs)

    return make


@functools.cache
def _classes(module) -> tuple[type, type, type]:
    """The transport and its two body streams, for one httpx module (httpx2 or httpx)."""

    class InProcessTransport(module.BaseTransport, module.AsyncBaseTransport):
        """Answers every request it is given from the engine of `target`, in this process."""

        def __init__(self, target: Target) -> None:
            self.target = target

        def __repr__(self) -> str:
            return f"<openai_fake in-process transport ({module.__name__}) {self.target!r}>"

        def handle_request(self, request):
            started, clock = time.time(), time.monotonic()
            reply, fields = self._answer(request, request.read())
            wait = reply.delay - (time.monotonic() - clock)
            if wait > 0:
                time.sleep(wait)
            return self._response(reply, fields, started, clock + reply.delay, SyncStream)

        async def handle_async_request(self, request):
            import anyio

            started, clock = time.time(), time.monotonic()
            reply, fields = self._answer(request, await request.aread())
            wait = reply.delay - (time.monotonic() - clock)
            if wait > 0:
                await anyio.sleep(wait)
            return self._response(reply, fields, started, clock + reply.delay, AsyncStream)

        def _answer(self, request, body: bytes):
            """The engine's reply and the call's journal fields."""
            target = self.target
            url = request.url
            raw = url.raw_path.decode("ascii", "replace")
            headers = headers_of(request.headers.raw)
            reply, engine_request, body = answer(target.engine, method=request.method, target=raw, headers=headers,
                                                 body=body, host=url.host, max_request_size=target.max_request_size,
                                                 before=target.before_call)
            fields = entry_fields(method=request.method, host=url.host, target=raw, headers=headers, reply=reply,
                                  body=body, request=engine_request, face=IN_PROCESS)
            return reply, fields

        def _response(self, reply, fields: dict, started: float, due: float, stream_class):
            headers = wire_headers(reply.headers)
            if isinstance(reply, StreamReply):
                self.target.journal.record(stream_started(reply, started, fields))
                return module.Response(reply.status, headers=headers,
                                       stream=stream_class(self.target, reply, fields, started, due))
            self.target.journal.record(answered(reply, started, fields))
            # The body as a stream, with its length: `content=` re-encodes it (a sixth of this transport's cost).
            headers.append((b"content-length", b"%d" % len(reply.body)))
            return module.Response(reply.status, headers=headers, stream=module.ByteStream(reply.body))

    class _Body:
        """A stream's body: the events on the pace's schedule (`streams.schedule`), counted; its call is
        journaled when it ends, or when the client closes it first ("aborted")."""

        def __init__(self, target: Target, reply: StreamReply, fields: dict, started: float, due: float) -> None:
            self.target, self.reply, self.fields, self.started = target, reply, fields, started
            self.due = due
            self.chunks = 0
            self.ended = False

        def _steps(self):
            """(when, bytes or None for a cut) for each step. The call's record is made as its last bytes are
            handed over, as the relay makes it once they are written: a client that stops reading at the
            stream's last event (the SDK stops at `[DONE]`) has read it whole."""
            steps = list(schedule(self.reply))
            due = self.due
            how = "error" if any(kind == ERROR for _, _, kind in steps) else "completed"
            for i, (wait, data, kind) in enumerate(steps):
                due += wait
                if kind == CUT:
                    yield due, None
                    self._end("cut")
                    raise module.RemoteProtocolError(
                        "peer closed connection without sending complete message body (openai-fake: cut_after)")
                if kind == CONTENT:
                    self.chunks += 1
                if i == len(steps) - 1:
                    self._end(how)
                yield due, data
            self._end(how)  # a stream of no events

        def _end(self, how: str) -> None:
            if self.ended:
                return
            self.ended = True
            self.target.journal.record(stream_ended(self.reply, self.started, self.fields, how, self.chunks))

    class SyncStream(_Body, module.SyncByteStream):
        def __iter__(self):
            for due, data in self._steps():
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if data is not None:
                    yield data

        def close(self) -> None:
            self._end("aborted")  # nothing if it ended already

    class AsyncStream(_Body, module.AsyncByteStream):
        async def __aiter__(self):
            import anyio

            for due, data in self._steps():
                delay = due - time.monotonic()
                if delay > 0:
                    await anyio.sleep(delay)
                if data is not None:
                    yield data

        async def aclose(self) -> None:
            self._end("aborted")

    return InProcessTransport, SyncStream, AsyncStream


# -- every OpenAI client of the process -----------------------------------------------------------

_lock = threading.RLock()
_stack: list[Target] = []
_originals: dict[type, Any] = {}


def active() -> Target | None:
    """The innermost active target (`activate`), if any."""
    with _lock:
        return _stack[-1] if _stack else None


def activate(fake: Any = None) -> Target:
    """Make every OpenAI client built from now on (until `deactivate`) answer in process from `fake` (see
    `target_of`); activations nest, the innermost wins. Returns the target, to give to `deactivate`."""
    target = target_of(fake)
    with _lock:
        if not _stack:
            _wrap_sdk_clients()
        _stack.append(target)
    return target


def deactivate(target: Target) -> None:
    """Undo one `activate(...)` (the latest one of `target`); once none is left, the SDK's clients are as they were.
    Clients built meanwhile keep answering in process."""
    with _lock:
        for i in range(len(_stack) - 1, -1, -1):
            if _stack[i] is target:
                del _stack[i]
                break
        if not _stack:
            _unwrap_sdk_clients()


def _sdk_client_classes() -> list[type]:
    from openai import _base_client

    return [_base_client._DefaultHttpxClient, _base_client._DefaultAsyncHttpxClient]


def _wrap_sdk_clients() -> None:
    for cls in _sdk_client_classes():
        if cls in _originals:
            continue
        original = cls.__dict__["__init__"]
        module = _library(next(base.__module__.split(".")[0] for base in cls.__mro__[1:]
                               if base.__module__.split(".")[0] in ("httpx2", "httpx")))
        _originals[cls] = original
        cls.__init__ = _wrapped_init(original, module)


def _unwrap_sdk_clients() -> None:
    for cls, original in list(_originals.items()):
        cls.__init__ = original
        del _originals[cls]


def _wrapped_init(original, module):
    from .access import is_openai

    @functools.wraps(original)
    def __init__(self, **kwargs: Any) -> None:
        target = active()
        if target is not None and kwargs.get("transport") is None:
            ours = _classes(module)[0](target)
            base = kwargs.get("base_url")
            if base and is_openai(module.URL(str(base)).host) and not kwargs.get("mounts") and not kwargs.get("proxy"):
                kwargs["transport"] = ours
            else:
                kwargs["mounts"] = {**{pattern: ours for pattern in MOUNTS}, **(kwargs.get("mounts") or {})}
        original(self, **kwargs)

    return __init__
