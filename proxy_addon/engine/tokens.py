"""Plausible token counts without a tokenizer.

Real BPE tokenizers need vocabularies that are downloaded at run time; a fake
only needs counts that grow like real ones. Words of up to six characters
count as one token, longer ones as one per six characters, and every
punctuation mark as one: close to cl100k/o200k for English prose.
"""

from __future__ import annotations

import re
from typing import Any

#: A token is a run of up to six word characters (so a word of n counts ceil(n / 6)) or one punctuation mark.
_TOKEN = re.compile(r"\w{1,6}|[^\w\s]", re.UNICODE)


def count(text: str) -> int:
    """Tokens in `text`."""
    return len(_TOKEN.findall(text)) if text else 0


def text_of(content: Any) -> str:
    """The text of a message's content: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


def count_messages(messages: list) -> int:
    """Prompt tokens for a chat request: content plus a few tokens of framing per message."""
    total = 3
    for m in messages:
        if isinstance(m, dict):
            total += 3 + count(text_of(m.get("content")))
            for call in m.get("tool_calls") or ():
                fn = call.get("function", {}) if isinstance(call, dict) else {}
                total += count(fn.get("name", "")) + count(fn.get("arguments", ""))
    return total
