"""Fresh ids on replay: every id the API minted in a recording is answered as a new one, and mapped back.

The real API never gives one id twice. A recording replayed as it is would: to two tests that replay it, after
a reset, to an app that keeps objects by id. So, by default (`Replay(ids="fresh")`), each id a recorded answer
minted (`chatcmpl-…`, `resp_…`, `file-…`, `thread_…`, `run_…`, `call_…`) is answered as a fresh id of the same
shape (its prefix kept, the rest random in the same alphabet and length), the same fresh id every time it comes
up in this replay; and a request that brings a fresh id back (a `previous_response_id`, `/v1/files/file-…`, a
run's poll, a tool output's `call_id`) is matched as if it brought the recorded one. `rewind` (a reset) forgets
the fresh ids: the next session gets new ones, as it would from the API.

What counts as a minted id: a string under a key `id` or `…_id` (or in a list under `…_ids`) in a recorded
answer (whole, or an event of a stream) that looks like one (`prefix-` or `prefix_` and at least 8 more
letters and digits), unless a request sent it before any answer did (an id the client chose: `custom_id`
values, metadata) or it names the account (an organization, a project, a user: the same in every session). Bodies that are not JSON or text (uploads, audio, images) are left as they are.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
from typing import Any, Iterable

import orjson

__all__ = ["IdMap", "minted_ids"]

#: The shape of an id: a lower-case prefix, a separator, then letters and digits (and more separators).
_SHAPE = re.compile(r"[a-z][a-z0-9]*[-_][A-Za-z0-9][A-Za-z0-9_-]{7,}")
#: Where ids are looked for in text: runs of the characters an id is made of.
_TOKEN = re.compile(rb"[A-Za-z0-9][A-Za-z0-9_-]{7,}")
#: Keys whose values the client chooses, or that name the account (the same in every session), whatever they look like.
_KEPT_KEYS = frozenset({"custom_id", "user", "safety_identifier", "prompt_cache_key", "organization_id", "project_id",
                        "org_id", "user_id", "owner_id"})
#: The account's ids by their prefix: an organization, a project, a user.
_ACCOUNT = ("org-", "org_", "proj_", "user-", "user_")
_HEX = frozenset(string.hexdigits.lower())
_ALNUM = string.ascii_letters + string.digits


def _ids_in(value: Any, key: str = "") -> Iterable[str]:
    """The id-shaped strings under `id` / `…_id` / `…_ids` keys anywhere in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _ids_in(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _ids_in(v, key)
    elif isinstance(value, str) and key not in _KEPT_KEYS and (key == "id" or key.endswith(("_id", "_ids"))) \
            and _SHAPE.fullmatch(value) and not value.startswith(_ACCOUNT):
        yield value


def _sse_json(data: str) -> Iterable[Any]:
    """The JSON payloads of one recorded server-sent event's `data:` lines."""
    for line in data.splitlines():
        if line.startswith("data:"):
            try:
                yield orjson.loads(line[5:].strip())
            except orjson.JSONDecodeError:
                pass


def minted_ids(exchanges: Iterable[Any]) -> frozenset[str]:
    """The ids the answers of `exchanges` (`store.Exchange`s, in recorded order) minted (see the module)."""
    sent: set[str] = set()
    minted: set[str] = set()
    for exchange in exchanges:
        request = exchange.request
        for value in (request.get("json"), {"id": request.get("path", "").rsplit("/", 1)[-1]}):
            sent.update(v for v in _ids_in(value) if v not in minted)
        response = exchange.response or {}
        answers: list[Any] = [response.get("json")]
        for chunk in response.get("chunks") or []:
            answers.extend(_sse_json(chunk.get("data", "")))
        for event in exchange.events or []:  # a Realtime session's server events
            if event.get("direction") == "server":
                answers.append(event.get("event"))
        for answer in answers:
            minted.update(v for v in _ids_in(answer) if v not in sent)
    return frozenset(minted)


def _fresh_like(recorded: str) -> str:
    """A random id of `recorded`'s shape: its prefix (to the first separator) kept, the rest in its alphabet."""
    cut = next(i for i, c in enumerate(recorded) if c in "-_") + 1
    body = recorded[cut:]
    alphabet = "0123456789abcdef" if set(body) <= _HEX else _ALNUM
    return recorded[:cut] + "".join(c if c in "-_" else secrets.choice(alphabet) for c in body)


class IdMap:
    """The recorded ids of one replay and the fresh ids they are answered as. Thread-safe."""

    def __init__(self, minted: frozenset[str]) -> None:
        self.minted = minted
        self._fresh: dict[bytes, bytes] = {}
        self._recorded: dict[bytes, bytes] = {}
        self._lock = threading.Lock()
        self._minted = {m.encode() for m in minted}

    @property
    def answered(self) -> bool:
        """Whether any fresh id has been answered yet (until then a request brings none back)."""
        return bool(self._recorded)

    def _to_fresh(self, match: re.Match) -> bytes:
        token = match.group()
        if token not in self._minted:
            return token
        fresh = self._fresh.get(token)
        if fresh is None:
            with self._lock:
                fresh = self._fresh.get(token)
                while fresh is None or fresh in self._recorded or fresh in self._minted:
                    fresh = _fresh_like(token.decode()).encode()
                self._fresh[token], self._recorded[fresh] = fresh, token
        return fresh

    def _to_recorded(self, match: re.Match) -> bytes:
        token = match.group()
        return self._recorded.get(token, token)

    def outgoing(self, data: bytes) -> bytes:
        """An answer's bytes with each recorded id as its fresh id (made the first time it is answered)."""
        return _TOKEN.sub(self._to_fresh, data) if self._minted else data

    def incoming(self, data: bytes) -> bytes:
        """A request's bytes with each fresh id this replay answered as the recorded id it stands for."""
        return _TOKEN.sub(self._to_recorded, data) if self._recorded else data

    def incoming_text(self, text: str) -> str:
        return self.incoming(text.encode()).decode() if self._recorded else text

    def forget(self) -> None:
        """Forget the fresh ids (a reset): the next answers get new ones, and the old ones match nothing."""
        with self._lock:
            self._fresh.clear()
            self._recorded.clear()
