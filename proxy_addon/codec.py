"""JSON in and out: every body, stream event and journal line is encoded here, and every request body parsed.

orjson is 5-10 times faster than the standard library's `json` for the
engine's replies (bench/engine.py: a streamed response's 23 events went from
about 107 µs to 11 µs to encode). A light module of its own, so that the
journal and `openai-fake tail` use it without importing the engine.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def to_json(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON. What orjson refuses (integers past 64 bits, say) goes to `json`,
    which raises `TypeError` for what neither can encode."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def from_json(data: bytes | str) -> Any:
    """Parse JSON; raises `ValueError` (`json.JSONDecodeError`) as `json.loads` does."""
    return orjson.loads(data)
