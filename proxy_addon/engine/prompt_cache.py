"""Prompt caching as the API does it: `cached_tokens` for the part of a long prompt seen before.

The API caches prompts of 1,024 tokens or more by their exact prefix, in steps of 128 tokens, for a
few minutes after their last use; a later prompt that starts the same way reports the cached part in
`usage.prompt_tokens_details.cached_tokens` (chat) or `usage.input_tokens_details.cached_tokens`
(Responses). `prompt_cache_key` keeps prompts apart (it steers the API's routing; here it is part of the
key). So an app that puts its long system prompt first sees its cache hits here as with the real API.

The fake keeps, per model and key, a hash of each 128-token boundary of the prompts it has answered
(at most `LIMIT` of them, each forgotten `TTL` seconds after its last use); in memory only, like the
API's cache, and emptied with the state.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from array import array
from collections import OrderedDict
from typing import Any, Iterable

from . import tokens

#: The least prompt the API caches, the step its cached part grows by, and how long an unused prefix stays.
MINIMUM, STEP, TTL = 1024, 128, 600.0
#: Prefix hashes kept in all (the oldest used forgotten first): bounded memory, whatever the traffic.
LIMIT = 50_000


class PromptCache:
    """The prefixes of recent long prompts. `cached(...)` answers a prompt's cached tokens and remembers it."""

    def __init__(self, ttl: float = TTL, limit: int = LIMIT) -> None:
        self.ttl, self.limit = ttl, limit
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, total: int, model: str | None, key: str | None = None, *, tools: Any = None,
               instructions: str | None = None, turns: Iterable[tuple[Any, str]] = ()) -> int:
        """Tokens of a prompt already cached for `model` and `key` (`prompt_cache_key`); then its own prefixes
        are cached. `total`: its token count as usage reports it, which the answer never exceeds; under the
        minimum, nothing more is read. The prompt is read in the order the model reads it: `tools`, the
        `instructions`, then each turn's (role, text)."""
        if total < MINIMUM:
            return 0
        ids = tokens.ids(_rendered(tools, instructions, turns), model)
        if len(ids) < MINIMUM:
            return 0
        digest = hashlib.blake2b(f"{tokens.encoding_of(model)}\0{model}\0{key or ''}\0".encode(), digest_size=16)
        raw = array("I", ids).tobytes()
        boundaries = []
        for end in range(STEP, len(ids) + 1, STEP):
            digest.update(raw[(end - STEP) * 4:end * 4])
            if end >= MINIMUM:
                boundaries.append((end, digest.copy().digest()))
        now = time.monotonic()
        hit = 0
        with self._lock:
            for end, h in boundaries:
                seen = self._seen.get(h)
                if seen is not None and now - seen <= self.ttl:
                    hit = end
                self._seen[h] = now
                self._seen.move_to_end(h)
            while len(self._seen) > self.limit:
                self._seen.popitem(last=False)
        return min(hit, total)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def _rendered(tools: Any, instructions: str | None, turns: Iterable[tuple[Any, str]]) -> str:
    head = [json.dumps(tools, separators=(",", ":"), sort_keys=True)] if tools else []
    head += [instructions] if isinstance(instructions, str) else []
    return "\n".join(head + [f"{role}: {text}" for role, text in turns])
