"""The fake's state: per-rule and per-route call counts, and a scratch store for profile handlers.

The engine runs on one event loop, but the pytest plugin and the CLI read the
counts from other threads, so updates take a lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class State:
    """State shared by every call. Profile handlers receive it as their second argument."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        #: A free-form store for profile handlers that keep their own state between calls.
        self.data: dict[str, Any] = {}

    def count_call(self, *keys: str) -> int:
        """Record one call under each key; return the new count of the first."""
        with self._lock:
            for key in keys:
                self._counts[key] += 1
            return self._counts[keys[0]]

    def call_count(self, key: str) -> int:
        """How many calls reached a rule (`"chat.completions"`) or a route (`"models.retrieve"`)."""
        with self._lock:
            return self._counts[key]

    def counts(self) -> dict[str, int]:
        """All counts, by rule and by route."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget every count and the scratch store."""
        with self._lock:
            self._counts.clear()
            self.data.clear()
