"""What a route's `.response` becomes in the engine: a handler's answer (a partial dict, a whole `Reply`).

- a partial dict or an SDK model: the handler answers it, and the route's module merges it into its own
  answer, as for any profile handler (`openai_mock.chat.completions.create.response = {"choices": [...]}`);
- an httpx2 (or httpx) `Response`: sent as it is, any status, any body, unchecked;
- a list of events (SDK models or dicts): a stream in the route's own wire format;
- a function: called for each call as openai-responses called it (`(request)`, `(request, route)`, with
  `state_store=` and the path parameters as keywords when it takes them); what it returns is read as above.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

from proxy_addon.engine.errors import OpenAIError
from proxy_addon.engine.streams import Event, StreamReply, sse
from proxy_addon.engine.wire import Reply

if TYPE_CHECKING:
    from proxy_addon.engine.wire import Request

#: The routes that stream, by wire format.
_DATA_ONLY = ("chat.completions.create", "completions.create")
_ASSISTANTS = ("beta.threads.runs.create", "beta.threads.create_and_run", "beta.threads.runs.submit_tool_outputs")
_RESPONSES = ("responses.create", "responses.retrieve")
STREAMING = (*_DATA_ONLY, *_ASSISTANTS, *_RESPONSES)

# Headers that describe the body as the Response object held it, which the fake sets itself.
_FRAMING = ("content-length", "transfer-encoding", "content-encoding")


def is_response(value: Any) -> bool:
    """An httpx2 or httpx `Response` (or anything shaped as one)."""
    return hasattr(value, "status_code") and hasattr(value, "headers") and hasattr(value, "read")


def http_request(request: "Request") -> Any:
    """The engine's request as the httpx2 `Request` openai-responses' functions were given."""
    import httpx2

    query = f"?{urlencode(dict(request.query))}" if request.query else ""
    return httpx2.Request(request.method, f"https://{request.host}{request.path}{query}",
                          headers=dict(request.headers), content=request.body)


def reply_of(response: Any) -> Reply:
    """A `Response` as the reply the fake sends: its status, headers and body, read whole."""
    body = _read(response)
    headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in _FRAMING}
    if "content-type" not in headers and body.lstrip().startswith((b"event:", b"data:")):
        headers["content-type"] = "text/event-stream; charset=utf-8"  # an EventStream given as the content
    return Reply(int(response.status_code), body, headers)


def _read(response: Any) -> bytes:
    try:
        return bytes(response.read())
    except RuntimeError:  # an async stream (AsyncEventStream) as the content: step its coroutine here
        return bytes(drive(response.aread()))


def drive(coro: Any) -> Any:
    """Run a coroutine to its end from synchronous code that may be inside a running event loop (a handler
    runs in the proxy's own loop): on a loop of its own, in this thread, the proxy's set aside meanwhile.
    The proxy waits, as it does for any handler; the state's lock, which this thread holds, stays usable."""
    outer = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)  # asyncio allows one running loop per thread: the proxy's waits
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            asyncio.events._set_running_loop(outer)


def _data(event: Any) -> Any:
    return event.model_dump(mode="json", by_alias=True) if hasattr(event, "model_dump") else event


def stream_reply(route: str, events: list, pace: Any) -> StreamReply:
    """A list of events (SDK models or dicts) as the route's own stream: chat and completions `data:` lines and
    `data: [DONE]`; Responses `event: <type>` with a `sequence_number`; Assistants `event: <name>` / its `data`,
    then `event: done`. Sent over time, at the profile's `stream=` pace."""
    out: list[Event] = []
    for n, event in enumerate(events):
        if route in _ASSISTANTS:
            name = event.get("event") if isinstance(event, dict) else getattr(event, "event", None)
            data = event.get("data") if isinstance(event, dict) else getattr(event, "data", None)
            if not isinstance(name, str) or data is None:
                raise TypeError(f"an Assistants stream's events have `event` and `data` "
                                f"(openai.types.beta.AssistantStreamEvent); item {n} is {type(event).__name__}")
            out.append(Event(sse(_data(data), event=name), content=True))
        elif route in _RESPONSES:
            data = dict(_data(event))
            data.setdefault("sequence_number", n)
            if not isinstance(data.get("type"), str):
                raise TypeError(f"a Responses stream's events have a `type`; item {n} has none")
            out.append(Event(sse(data, event=data["type"]), content=True))
        else:
            out.append(Event(sse(_data(event)), content=True))
    if route in _ASSISTANTS:
        out.append(Event(b"event: done\ndata: [DONE]\n\n"))
    elif route in _DATA_ONLY:
        out.append(Event(b"data: [DONE]\n\n"))
    return StreamReply(200, b"", {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
                       events=out, pace=pace)


def call_function(fn: Callable, request: "Request", route: Any, state_store: Any) -> Any:
    """Call a function given as `.response` as openai-responses did: the request first; `route` when it takes
    one; `state_store` and the path parameters (`thread_id`, `run_id`, ...) as keywords when it takes them."""
    params = inspect.signature(fn).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    if "route" in params:
        kwargs["route"] = route
    if "state_store" in params or takes_all:
        kwargs["state_store"] = state_store
    for name, value in request.params.items():
        if name in params or takes_all:
            kwargs[name] = value
    try:
        return fn(http_request(request), **kwargs)
    except OpenAIError:
        raise
    except Exception as e:  # the route and the function named, as respx names the route
        code = getattr(fn, "__code__", None)
        at = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
        raise OpenAIError(500, f"openai-fake: openai_mock.{request.route}.response: {getattr(fn, '__name__', fn)!r}{at} "
                               f"raised {type(e).__name__}: {e}", type="server_error",
                          headers={"x-should-retry": "false"}) from e
