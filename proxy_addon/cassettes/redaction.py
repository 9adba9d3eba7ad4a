"""Redaction of a recording: what must never reach the disk, taken out before anything is written.

Keys are masked by the journal's own `journal.redact` (`sk-proj-abc...wxyz` -> `sk-...wxyz`), so a
recording and `openai-fake tail` show the same mask and one can tell which key was used, never the key;
key-carrying query parameters are recognised by the journal's `redact_target`. What is not a key but
still identifies an account (organization and project ids, cookies) is replaced by `MARKER`.

Every string is scrubbed: header values, query values, the path, JSON bodies' strings (keys and values,
at any depth), text bodies, stream chunks, Realtime events, and the bytes of side files.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Mapping

from ..journal import redact, redact_target

__all__ = ["MARKER", "SECRET_HEADERS", "ACCOUNT_HEADERS", "headers", "query", "is_secret_param", "text", "data", "blob",
           "account_ids", "without"]

#: What replaces a value that identifies an account but is not a key (organization, project, cookies).
MARKER = "<redacted>"

#: Headers whose whole value is a credential: masked as a key.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key"})
#: Headers that name an account or carry a session: replaced by `MARKER`.
ACCOUNT_HEADERS = frozenset({"openai-organization", "openai-project", "cookie", "set-cookie"})
#: Of those, the ones whose value is an id an answer's body can repeat (a fine-tuning job's `organization_id`).
ACCOUNT_ID_HEADERS = ("openai-organization", "openai-project")
#: The shortest header value taken for an account id (real ones are `org-` and 24 characters): never a word.
_SHORTEST_ID = 8

#: A key inside any text: OpenAI's secret keys (`sk-...`, `sk-proj-...`, `sk-svcacct-...`, `sk-admin-...`),
#: the old session keys (`sess-...`) and Realtime's ephemeral client secrets (`ek_...`). Long enough that
#: ids and words never match; the mask `journal.redact` gives (`sk-...wxyz`) does not match again.
_KEY_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_\-])(?:(?:sk|sess)-|ek_)[A-Za-z0-9_\-]{16,}")
_KEY_IN_BYTES = re.compile(_KEY_IN_TEXT.pattern.encode())


def text(value: str) -> str:
    """`value` with every key in it masked."""
    if "-" not in value and "ek_" not in value:  # the common case, at no regex cost
        return value
    return _KEY_IN_TEXT.sub(lambda m: redact(m.group(0)), value)


def blob(value: bytes) -> bytes:
    """`value` (a side file's bytes) with every key-shaped run of bytes masked; anything else unchanged."""
    return _KEY_IN_BYTES.sub(lambda m: redact(m.group(0).decode()).encode(), value)


def data(value: Any) -> Any:
    """A JSON value with every string in it (object keys too) scrubbed by `text`."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {text(k) if isinstance(k, str) else k: data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [data(v) for v in value]
    return value


def headers(values: Mapping[str, str]) -> dict[str, str]:
    """Headers (lower-case names) with credentials masked, account headers replaced, and keys in any
    other value masked."""
    out = {}
    for name, value in values.items():
        name = name.lower()
        if name in SECRET_HEADERS:
            out[name] = redact(value) or MARKER
        elif name in ACCOUNT_HEADERS:
            out[name] = MARKER
        else:
            out[name] = text(value)
    return out


@functools.lru_cache(maxsize=256)
def is_secret_param(name: str) -> bool:
    """Whether a query parameter carries a key (`api_key`, `api-key`, `key`, `token`...): the journal's
    `redact_target` decides, so the two never disagree."""
    probe = f"?{name}=value-to-probe"
    return redact_target(probe) != probe


def query(values: Mapping[str, str]) -> dict[str, str]:
    """A query's parameters with key-carrying values masked and keys in any other value masked."""
    return {text(name): (redact(value) or MARKER) if is_secret_param(name) else text(value) for name, value in values.items()}


def account_ids(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The organization and project ids a request's headers name (`OpenAI-Organization`, `OpenAI-Project`),
    longest first: its body, and the answer, that repeat one have it replaced by `without`."""
    found = {value.strip() for name, value in headers.items()
             if name.lower() in ACCOUNT_ID_HEADERS and len(value.strip()) >= _SHORTEST_ID}
    return tuple(sorted(found, key=len, reverse=True))


def without(value: Any, ids: tuple[str, ...]) -> Any:
    """A JSON value (strings at any depth, object keys too), a string or bytes with each of `ids` replaced by `MARKER`."""
    if not ids:
        return value
    if isinstance(value, bytes):
        for found in ids:
            value = value.replace(found.encode(), MARKER.encode())
        return value
    if isinstance(value, str):
        for found in ids:
            value = value.replace(found, MARKER)
        return value
    if isinstance(value, dict):
        return {without(k, ids): without(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [without(v, ids) for v in value]
    return value
