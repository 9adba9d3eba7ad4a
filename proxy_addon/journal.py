"""The record of calls: one `Entry` per answered call, kept in memory and offered to listeners.

`run` prints each entry as it arrives, `exec` prints a summary, and tests read
the entries. API keys are redacted before an entry is made.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
import json
from dataclasses import dataclass, field, fields
from typing import Any, Callable


def redact(authorization: str | None) -> str | None:
    """`Bearer sk-proj-abcdef...wxyz` -> `sk-...wxyz`: never keep a usable key."""
    if not authorization:
        return None
    key = authorization.split(None, 1)[-1].strip()
    return f"{key[:3]}...{key[-4:]}" if len(key) > 12 else "***"


@dataclass(frozen=True)
class Entry:
    """One record: an answered call (kind "call"), a stream that has started and not
    ended yet (kind "stream"; its "call" record follows when it ends), or a notice
    from the fake itself (kind "notice", such as a profile reload; `error` says what
    went wrong, if anything)."""

    time: float
    request_id: str = ""
    method: str = ""
    host: str = ""
    path: str = ""
    status: int = 0
    duration_ms: float = 0.0
    rule: str = ""
    model: str | None = None
    face: str = ""  # "proxy" or "base-url"
    key: str | None = None  # redacted: `sk-...abcd`
    error: str | None = None
    #: For a streamed reply: content deltas written, and how it ended
    #: ("completed", "error", "cut" by the pace, or "aborted" by the client).
    chunks: int | None = None
    outcome: str | None = None
    kind: str = "call"
    #: The first words of the prompt and of the answer.
    prompt: str | None = None
    answer: str | None = None
    note: str | None = None
    #: The request body, kept in memory for assertions and never written anywhere.
    body: bytes = field(default=b"", repr=False, compare=False)

    def to_dict(self) -> dict:
        """The record as written to the journal file: every field but `body`."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "body"}

    @property
    def request_json(self) -> Any:
        """The request body parsed as JSON, or None."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class Journal:
    """A bounded, thread-safe list of entries with listeners."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Entry], None]] = []

    def subscribe(self, listener: Callable[[Entry], None]) -> None:
        """Call `listener(entry)` for every entry recorded from now on."""
        self._listeners.append(listener)

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)
        for listener in self._listeners:
            listener(entry)

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def summary(self) -> str:
        """One line: how many calls, by status and by rule."""
        entries = self.entries()
        if not entries:
            return "openai-fake: no calls"
        statuses = Counter(e.status for e in entries)
        rules = Counter(e.rule or "(no route)" for e in entries)
        by_status = ", ".join(f"{n}×{s}" for s, n in sorted(statuses.items()))
        by_rule = ", ".join(f"{r} {n}" for r, n in rules.most_common())
        return f"openai-fake: {len(entries)} call{'s' if len(entries) != 1 else ''} ({by_status}); {by_rule}"

