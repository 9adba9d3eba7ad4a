"""openai-responses' hand-built streams: subclass, `generate()` (or `agenerate()`) the events, and give the
stream as a Response's content from a function set as a route's `.response`:

    class Chunks(EventStream[ChatCompletionChunk]):
        def generate(self):
            yield ChatCompletionChunk.model_validate({...})

    openai_mock.chat.completions.create.response = lambda request: Response(201, content=Chunks())

Each event is written as a server-sent event: an Assistants event (it has `event` and `data`) as
`event: <name>` and its data, a Responses event (its `type` starts with `response.`) as
`event: <type>` and the event, anything else (a chat chunk) as `data:` alone; the stream ends with
`event: done` / `data: [DONE]`, which every SDK stream reader takes as its end. A route's
`.response` may also be a plain list of events (or dicts), encoded in that route's own format.
"""

from __future__ import annotations

import json
from typing import Any, AsyncGenerator, AsyncIterator, Generator, Generic, Iterator, TypeVar

__all__ = ["EventStream", "AsyncEventStream"]

M = TypeVar("M")

_END = b"event: done\ndata: [DONE]\n\n"


def _data(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json", by_alias=True)
    return obj


def encode_event(event: Any) -> bytes:
    """One event as the seed's streams wrote it."""
    name = getattr(event, "event", None) if not isinstance(event, dict) else event.get("event")
    data = getattr(event, "data", None) if not isinstance(event, dict) else event.get("data")
    if isinstance(name, str) and data is not None:
        return f"event: {name}\ndata: {json.dumps(_data(data))}\n\n".encode()
    body = _data(event)
    kind = body.get("type") if isinstance(body, dict) else None
    if isinstance(kind, str) and kind.startswith("response."):
        return f"event: {kind}\ndata: {json.dumps(body)}\n\n".encode()
    return f"data: {json.dumps(body)}\n\n".encode()


class EventStream(Generic[M]):
    """A stream whose events `generate()` yields; iterating it gives the encoded bytes."""

    def __iter__(self) -> Iterator[bytes]:
        for event in self.generate():
            yield encode_event(event)
        yield _END

    def generate(self) -> Generator[M, None, None]:
        """The events, in order: override this."""
        raise NotImplementedError(f"{type(self).__name__}.generate() yields the stream's events")


class AsyncEventStream(Generic[M]):
    """A stream whose events `agenerate()` yields asynchronously.

    The fake reads the whole stream when the route is answered, on an event loop of its own in the
    proxy's thread (which waits meanwhile, as for any handler), and sends it whole: pace a stream
    with the profile's `stream=` knobs, or with a list of events as the route's `.response`.
    """

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for event in self.agenerate():
            yield encode_event(event)
        yield _END

    def agenerate(self) -> AsyncGenerator[M, None]:
        """The events, in order: override this (an `async def` with `yield`)."""
        raise NotImplementedError(f"{type(self).__name__}.agenerate() yields the stream's events")
