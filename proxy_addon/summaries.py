"""The first words of a call's prompt and of its answer, for the journal and `tail`.

Pure functions over plain data: a request body (parsed JSON), a reply body,
or a stream's events. They never raise on odd input; they answer None when
there is nothing worth showing. Each result is one line of at most `LIMIT`
characters.
"""

from __future__ import annotations

import base64
import functools
import logging
from typing import Any, Callable, Iterable, TypeVar

from .codec import from_json
from .engine.streams import Event

__all__ = ["LIMIT", "shorten", "prompt_of", "answer_of", "answer_of_stream"]

LIMIT = 60
#: Whole reply bodies larger than this are not parsed for a summary (a big embeddings batch).
_MAX_BODY = 1 << 20


logger = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., "str | None"])


def _never_raises(function: _F) -> _F:
    """A summary is a nicety: whatever the body holds, it must never break the call it describes."""

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            logger.debug("openai-fake: no summary", exc_info=True)
            return None

    return guarded  # type: ignore[return-value]


def shorten(text: Any, limit: int = LIMIT) -> str | None:
    """`text` on one line (whitespace collapsed), cut to `limit` characters with "…"; None when empty."""
    if not isinstance(text, str):
        return None
    one_line = " ".join(text.split())
    if not one_line:
        return None
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


# -- prompts -------------------------------------------------------------------------------


@_never_raises
def prompt_of(body: Any) -> str | None:
    """The prompt of a request body: the last user message (chat, Responses, runs), `input`
    (Responses, embeddings, moderations), `prompt` (completions), `query` (search) or a message's `content`."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("messages"), list):
        return shorten(_last_user(body["messages"]))
    for key in ("input", "prompt", "query"):
        if key in body:
            value = body[key]
            return shorten(_last_user(value) if _is_messages(value) else _text(value))
    if "content" in body:  # threads.messages.create
        return shorten(_text(body["content"]))
    thread = body.get("thread")
    if isinstance(thread, dict) and isinstance(thread.get("messages"), list):  # threads.create_and_run
        return shorten(_last_user(thread["messages"]))
    if isinstance(body.get("additional_messages"), list):  # runs.create
        return shorten(_last_user(body["additional_messages"]))
    return None


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, dict) and ("role" in v or "type" in v) for v in value)


def _last_user(messages: list) -> str | None:
    """The text of the last user message, else of the last message that has any."""
    items = [m for m in messages if isinstance(m, dict)]
    for message in reversed(items):
        if message.get("role") == "user":
            return _text(message.get("content"))
    for message in reversed(items):
        text = _text(message.get("content", message.get("output")))
        if text:
            return text
    return None


def _text(value: Any) -> str | None:
    """Text out of a content value: a string, a list of parts or strings, or token ids."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, int) for v in value):
        return f"[{len(value)} tokens]"
    if all(isinstance(v, list) for v in value):
        return f"[{len(value)} token arrays]"
    pieces = []
    for part in value:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, dict):  # an Assistants text part: {"text": {"value": ...}}
                text = text.get("value")
            if isinstance(text, str):
                pieces.append(text)
    separator = " | " if all(isinstance(v, str) for v in value) else " "
    return separator.join(pieces) or None


# -- whole answers --------------------------------------------------------------------------


@_never_raises
def answer_of(body: bytes, content_type: str = "application/json", payload: Any = None) -> str | None:
    """The first words of a whole reply: message content, output text or tool calls (`name(args)`),
    a completion's text, the embeddings' shape, the flagged categories, a transcript. `payload`, when given, is
    the data `body` encodes, so the body need not be parsed again."""
    data = payload
    if data is None:
        if not body or len(body) > _MAX_BODY or "json" not in content_type:
            return None
        try:
            data = from_json(body)
        except ValueError:
            return None
    return shorten(_answer(data)) if isinstance(data, dict) else None


def _answer(data: dict) -> str | None:
    kind = data.get("object")
    if kind == "chat.completion":
        return _message(data["choices"][0]["message"]) if data.get("choices") else None
    if kind == "text_completion":
        return data["choices"][0].get("text") if data.get("choices") else None
    if kind == "response":
        return _response_output(data.get("output") or [])
    if kind == "thread.message":
        return _text(data.get("content"))
    if kind == "list" and data.get("data") and isinstance(data["data"][0], dict) and data["data"][0].get("object") == "embedding":
        vectors = data["data"]
        first = vectors[0]["embedding"]
        dims = len(base64.b64decode(first)) // 4 if isinstance(first, str) else len(first)
        return f"{len(vectors)} embedding{'s' if len(vectors) != 1 else ''} × {dims}"
    if kind is None and isinstance(data.get("text"), str) and ("usage" in data or "task" in data or len(data) == 1):
        return data["text"]  # a transcription or a translation
    images = data.get("data")
    if "created" in data and isinstance(images, list) and images and isinstance(images[0], dict) \
            and ("b64_json" in images[0] or "url" in images[0]):  # an ImagesResponse
        count = f"{len(images)} image{'s' if len(images) > 1 else ''}"
        if isinstance(data.get("size"), str):
            return " ".join(p for p in (count, data["size"], data.get("output_format")) if isinstance(p, str))
        return f"{count} (url)" if "url" in images[0] else count
    if isinstance(data.get("results"), list) and str(data.get("id", "")).startswith("modr"):
        flagged = sorted({c for r in data["results"] for c, on in (r.get("categories") or {}).items() if on})
        return f"flagged: {', '.join(flagged)}" if flagged else "not flagged"
    return None


def _message(message: dict) -> str | None:
    pieces = [message.get("content") or message.get("refusal") or ""]
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        pieces.append(f"{fn.get('name')}({fn.get('arguments', '')})")
    return ", ".join(p for p in pieces if p) or None


def _response_output(output: list) -> str | None:
    pieces = []
    for item in output:
        if item.get("type") == "message":
            pieces.extend(p.get("text") or p.get("refusal") or "" for p in item.get("content") or ())
        elif item.get("type") == "function_call":
            pieces.append(f"{item.get('name')}({item.get('arguments', '')})")
    return ", ".join(p for p in pieces if p) or None


# -- streamed answers -----------------------------------------------------------------------


@_never_raises
def answer_of_stream(events: Iterable[Event], chunks: int | None = None) -> str | None:
    """The first words of what a stream sent: its text deltas, and tool calls as `name(args)`.

    Only the first `chunks` content deltas count (what was written before a cut or a hang-up).
    It reads what each event says (`Event.text`, `Event.call`, set by the resource that built it);
    it never parses the encoded events, and it stops once it has enough.
    """
    pieces: list[str] = []
    size = 0
    seen = 0
    in_call = False
    for event in events:
        if event.content:
            if chunks is not None and seen >= chunks:
                break
            seen += 1
        if event.call:
            if in_call:
                pieces.append(")")
            pieces.append(f"{', ' if pieces else ''}{event.call}(")
            in_call = True
        elif event.text:
            pieces.append(event.text)
        else:
            continue
        size += len(pieces[-1])
        if size > LIMIT * 2:
            break
    if in_call:
        pieces.append(")")
    return shorten("".join(pieces))
