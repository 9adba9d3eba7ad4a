"""Token counts from OpenAI's own vocabularies, with no download.

`quicktok` ships `o200k_base` (GPT-4o, GPT-4.1, GPT-5, the o-series, ...) and `cl100k_base` (GPT-4,
GPT-3.5, the embedding models) inside its wheel, and cuts text byte for byte as tiktoken does
(`tests/test_tokens.py` rebuilds the vocabulary files from it, checks them against tiktoken's own
SHA-256 and compares the ids with tiktoken's). tiktoken itself fetches the files at run time, which a
fake that never leaves the machine must not do.

Text is counted as the API counts it: special-token strings in a prompt are plain text. A chat
prompt adds the API's framing (`count_messages`); the answer's tokens are its text's.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import quicktok

O200K, CL100K = "o200k_base", "cl100k_base"
#: Model-name prefixes that still use cl100k_base (longest match wins; everything else is o200k_base).
CL100K_MODELS = ("gpt-4-", "gpt-4", "gpt-3.5", "gpt-35", "text-embedding-", "davinci-002", "babbage-002",
                 "text-davinci", "code-")
#: ...except these, newer models whose names start like old ones.
O200K_MODELS = ("gpt-4o", "gpt-4.1", "gpt-4.5")


@functools.lru_cache(maxsize=2)
def _encoding(name: str):
    return quicktok.get_encoding(name)


def warm() -> None:
    """Load both vocabularies now (the fake does it in a thread once it listens), not at the first call."""
    for name in (O200K, CL100K):
        _encoding(name)


@functools.lru_cache(maxsize=256)
def encoding_of(model: str | None) -> str:
    """The vocabulary a model counts with (`o200k_base` unless it is a GPT-4, GPT-3.5 or embedding model);
    a vocabulary's own name gives itself."""
    name = (model or "").lower().rsplit("/", 1)[-1]
    if name in (O200K, CL100K):
        return name
    if name.startswith("ft:"):  # a fine-tuned model: its base's
        name = name[3:]
    if name.startswith(O200K_MODELS):
        return O200K
    return CL100K if name.startswith(CL100K_MODELS) else O200K


def count(text: str, model: str | None = None) -> int:
    """Tokens in `text`, in `model`'s vocabulary."""
    return len(ids(text, model))


def pieces(text: str, model: str | None = None) -> list[bytes]:
    """`text` as its tokens' bytes; joined, they give `text.encode()` back (a token may hold part of a
    character: "東" is two)."""
    if not text:
        return []
    enc = _encoding(encoding_of(model))
    return [enc.decode_single_token_bytes(i) for i in ids(text, model)]


def ids(text: str, model: str | None = None) -> list[int]:
    """`text`'s token ids in `model`'s vocabulary (what transcription segments list)."""
    if not text:
        return []
    try:
        return _encoding(encoding_of(model)).encode_ordinary(text)
    except (UnicodeError, TypeError):  # a lone surrogate (JSON allows "\ud800"): counted as the API's U+FFFD
        return _encoding(encoding_of(model)).encode_ordinary(text.encode("utf-8", "replace").decode("utf-8"))


def count_tools(tools: Any, model: str | None = None) -> int:
    """Tokens a request's tool definitions add to its prompt (their JSON, counted)."""
    return count(json.dumps(tools), model) if tools else 0


def text_of(content: Any) -> str:
    """The text of a message's content: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


def count_messages(messages: list, model: str | None = None) -> int:
    """Prompt tokens for a chat request, as the API frames it: 3 to prime the reply, and per message 3
    plus its content, its `name` (1 more) and its tool calls' names and arguments."""
    total = 3
    for m in messages:
        if isinstance(m, dict):
            total += 3 + count(text_of(m.get("content")), model)
            if m.get("name"):
                total += 1 + count(str(m["name"]), model)
            for call in m.get("tool_calls") or ():
                fn = call.get("function", {}) if isinstance(call, dict) else {}
                total += count(fn.get("name", ""), model) + count(fn.get("arguments", ""), model)
    return total
