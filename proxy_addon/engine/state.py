"""The fake's state: stored objects, file contents, call counts, and a scratch store for handlers.

Objects are plain JSON dicts kept per collection in creation order
named by the API's path (`"assistants"`, `"threads/thread_abc/messages"`; `stores.py`
declares them). Pagination lives here,
once, for every list endpoint: a page costs O(limit), however large the
collection. Every mutation takes one lock (the CLI and the pytest plugin read
from other threads) and, under that lock, first tells the attached `store` (a
`Persistence`, such as `run --state`'s SQLite file) exactly what changed: one
object, one collection, one blob. So a stored object is changed only through
`put`, `update` or `touch`, never in place unannounced.
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Protocol

from . import stores
from .prompt_cache import PromptCache
from ..codec import from_json, to_json
from .bodies import stable_id

SNAPSHOT_VERSION = 1
#: Ids reserved in the store at a time: after a restart the sequence continues past the last reserve,
#: so an id handed out (stored or not) is never handed out again.
ID_BLOCK = 1024


class Persistence(Protocol):
    """Where a State writes each change, under its lock, before the call that made it returns."""

    def put(self, collection: str, obj: dict) -> None: ...
    def delete(self, collection: str, oid: str) -> None: ...
    def replace_collection(self, collection: str, objs: list[dict]) -> None: ...
    def put_blob(self, key: str, data: bytes) -> None: ...
    def delete_blob(self, key: str) -> None: ...
    def reserve(self, seq: int) -> None: ...
    def replace(self, collections: dict[str, list[dict]], blobs: dict[str, bytes], seq: int) -> None: ...


class Collection:
    """Objects of one kind, in creation order, paged in O(limit)."""

    __slots__ = ("objects", "_order", "_pos", "_holes")

    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self._order: list[str | None] = []  # ids in creation order; None where one was deleted
        self._pos: dict[str, int] = {}
        self._holes = 0

    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[dict]:
        return iter(list(self.objects.values()))

    def add(self, obj: dict) -> dict:
        oid = obj["id"]
        if oid in self.objects:
            self.objects[oid] = obj
            return obj
        self.objects[oid] = obj
        self._pos[oid] = len(self._order)
        self._order.append(oid)
        return obj

    def remove(self, oid: str) -> dict | None:
        obj = self.objects.pop(oid, None)
        if obj is not None:
            self._order[self._pos.pop(oid)] = None
            self._holes += 1
            if self._holes > 64 and self._holes > len(self._order) // 2:
                self._compact()
        return obj

    def _compact(self) -> None:
        self._order = [oid for oid in self._order if oid is not None]
        self._pos = {oid: i for i, oid in enumerate(self._order)}
        self._holes = 0

    def page(self, *, limit: int, order: str = "desc", after: str | None = None, before: str | None = None,
             where: Callable[[dict], bool] | None = None) -> tuple[list[dict], bool]:
        """Up to `limit` objects after (or before) the given id, newest first for "desc"; and whether more follow.

        An `after` or `before` id that is not (or no longer) here gives an empty
        page, so that a paging client never starts over and loops.
        """
        step = -1 if order == "desc" else 1
        if after is not None:
            if after not in self._pos:
                return [], False
            return self._walk(self._pos[after] + step, step, limit, where)
        if before is not None:
            if before not in self._pos:
                return [], False
            items, more = self._walk(self._pos[before] - step, -step, limit, where)
            items.reverse()
            return items, more
        return self._walk(len(self._order) - 1 if step == -1 else 0, step, limit, where)

    def _walk(self, i: int, step: int, limit: int, where: Callable[[dict], bool] | None) -> tuple[list[dict], bool]:
        out: list[dict] = []
        order = self._order
        while 0 <= i < len(order):
            oid = order[i]
            if oid is not None:
                obj = self.objects[oid]
                if where is None or where(obj):
                    if len(out) == limit:
                        return out, True
                    out.append(obj)
            i += step
        return out, False


class State:
    """Everything the fake remembers. Profile handlers receive it as their second argument."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._counts: Counter[str] = Counter()
        self._collections: dict[str, Collection] = {}
        self._blobs: dict[str, bytes] = {}
        self._seq = 0
        #: A free-form store for profile handlers that keep their own state between calls.
        self.data: dict[str, Any] = {}
        #: Recent long prompts' prefixes (`cached_tokens`): a cache, as the API's, so in memory only.
        self.prompt_cache = PromptCache()
        #: Told every change, under the lock (`attach`); None keeps the state in memory only.
        self.store: Persistence | None = None
        self._reserved = 0  # ids up to this are reserved in the store

    # -- call counts -------------------------------------------------------------

    def count_call(self, *keys: str) -> int:
        """Record one call under each key; return the new count of the first."""
        with self.lock:
            for key in keys:
                self._counts[key] += 1
            return self._counts[keys[0]]

    def call_count(self, key: str) -> int:
        """How many calls reached a rule (`"chat.completions"`) or a route (`"models.retrieve"`)."""
        with self.lock:
            return self._counts[key]

    def counts(self) -> dict[str, int]:
        """All counts, by rule and by route."""
        with self.lock:
            return dict(self._counts)

    def clear_counts(self) -> None:
        """Forget the call counts alone: a state a test keeps for the next (openai-responses' shared
        `StateStore`) starts each test's counts, and its `failures=`, from zero."""
        with self.lock:
            self._counts.clear()

    # -- objects -----------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """A fresh id: unique, and the same sequence of creates gives the same ids."""
        with self.lock:
            self._seq += 1
            if self.store is not None and self._seq > self._reserved:
                self._persist(self.store.reserve, self._seq + ID_BLOCK)
                self._reserved = self._seq + ID_BLOCK
            return stable_id(prefix, self._seq)

    def collection(self, name: str) -> Collection:
        with self.lock:
            found = self._collections.get(name)
            if found is None:
                found = self._collections[name] = Collection()
            return found

    def get(self, collection: str, oid: str) -> dict | None:
        """The stored object, or None."""
        with self.lock:
            found = self._collections.get(collection)
            return found.objects.get(oid) if found else None

    def fetch(self, collection: str, oid: str, noun: str) -> dict:
        """The stored object, or the real API's 404 naming it (`noun`: "assistant", "thread"...)."""
        obj = self.get(collection, oid)
        if obj is None:
            from .errors import no_such

            raise no_such(noun, oid)
        return obj

    def put(self, collection: str, obj: dict) -> dict:
        """Store (or replace) an object under its `id`."""
        with self.lock:
            if self.store is not None:
                self._persist(self.store.put, collection, obj)
            self.collection(collection).add(obj)
        return obj

    def update(self, collection: str, oid: str, changes: dict) -> dict | None:
        """Apply `changes` to a stored object; None when it does not exist."""
        with self.lock:
            obj = self.get(collection, oid)
            if obj is not None:
                if self.store is not None:
                    self._persist(self.store.put, collection, {**obj, **changes})
                obj.update(changes)
        return obj

    def touch(self, collection: str, oid: str) -> None:
        """Say that a stored object was changed in place (call under the lock), so that the store has it too."""
        with self.lock:
            obj = self.get(collection, oid)
            if obj is not None and self.store is not None:
                self._persist(self.store.put, collection, obj)

    def delete(self, collection: str, oid: str) -> dict | None:
        """Remove an object; the removed object, or None."""
        with self.lock:
            found = self._collections.get(collection)
            if found is None or oid not in found.objects:
                return None
            if self.store is not None:
                self._persist(self.store.delete, collection, oid)
            return found.remove(oid)

    def drop(self, collection: str) -> None:
        """Forget a whole collection (a deleted thread's messages, say)."""
        with self.lock:
            if collection in self._collections and self.store is not None:
                self._persist(self.store.replace_collection, collection, [])
            self._collections.pop(collection, None)

    def delete_tree(self, collection: str, oid: str) -> dict | None:
        """Remove an object and every store under its path (`threads/thread_abc/...`: its messages, runs,
        their steps); the removed object, or None."""
        with self.lock:
            obj = self.delete(collection, oid)
            if obj is not None:
                self.drop_under(f"{collection}/{oid}/")
            return obj

    # -- reading by store and parent (the stores of `stores.py`) ---------------------------

    def messages(self, thread_id: str) -> list[dict]:
        """A thread's messages, oldest first."""
        return self.all(stores.MESSAGES.key(thread_id=thread_id))

    def runs(self, thread_id: str) -> list[dict]:
        """A thread's runs, oldest first."""
        return self.all(stores.RUNS.key(thread_id=thread_id))

    def run_steps(self, thread_id: str, run_id: str) -> list[dict]:
        """A run's steps, oldest first."""
        return self.all(stores.RUN_STEPS.key(thread_id=thread_id, run_id=run_id))

    def vector_store_files(self, vector_store_id: str) -> list[dict]:
        """A vector store's files (VectorStoreFile objects), oldest first."""
        return self.all(stores.VECTOR_STORE_FILES.key(vector_store_id=vector_store_id))

    def conversation_items(self, conversation_id: str) -> list[dict]:
        """A conversation's items, oldest first."""
        return self.all(stores.CONVERSATION_ITEMS.key(conversation_id=conversation_id))

    def input_items(self, response_id: str) -> list[dict]:
        """The context a stored response saw, oldest first."""
        return self.all(stores.INPUT_ITEMS.key(response_id=response_id))

    def drop_under(self, prefix: str) -> None:
        """Forget every collection whose name starts with `prefix` (a deleted object's children: `"jobs/ftjob-1/"`)."""
        with self.lock:
            for name in [n for n in self._collections if n.startswith(prefix)]:
                self.drop(name)
            for key in [k for k in self._blobs if k.startswith(prefix)]:
                self.delete_blob(key)

    def replace_all(self, collection: str, objs: list[dict]) -> None:
        """Make `objs` the whole collection, in that order (a completion's messages, a response's inputs)."""
        with self.lock:
            if self.store is not None:
                self._persist(self.store.replace_collection, collection, objs)
            self._collections.pop(collection, None)
            found = self.collection(collection)
            for obj in objs:
                found.add(obj)

    def all(self, collection: str) -> list[dict]:
        """Every object of a collection, oldest first."""
        with self.lock:
            found = self._collections.get(collection)
            return list(found.objects.values()) if found else []

    def collections(self) -> list[str]:
        """The names of the collections that hold objects now (`"threads/thread_abc/messages"`, ...)."""
        with self.lock:
            return [name for name, found in self._collections.items() if found.objects]

    def sizes(self) -> tuple[dict[str, int], int, int]:
        """What is stored now, cheaply (no copy): (objects by collection, blobs, bytes of blobs)."""
        with self.lock:
            objects = {name: len(found) for name, found in self._collections.items() if len(found)}
            return objects, len(self._blobs), sum(map(len, self._blobs.values()))

    def blob(self, key: str) -> bytes | None:
        """Stored bytes (a file's content), or None."""
        with self.lock:
            return self._blobs.get(key)

    def put_blob(self, key: str, data: bytes) -> None:
        with self.lock:
            if self.store is not None:
                self._persist(self.store.put_blob, key, data)
            self._blobs[key] = data

    def delete_blob(self, key: str) -> None:
        with self.lock:
            if key in self._blobs and self.store is not None:
                self._persist(self.store.delete_blob, key)
            self._blobs.pop(key, None)

    def _persist(self, write: Callable[..., None], *args: Any) -> None:
        """Write one change to the store first: when it cannot be saved, the call fails and nothing changes."""
        try:
            write(*args)
        except Exception as e:
            from .errors import OpenAIError

            raise OpenAIError(500, f"openai-fake could not save its state: {type(e).__name__}: {e}",
                              type="server_error", code="state_not_saved") from None

    # -- whole state ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, blob, count and the scratch store."""
        with self.lock:
            if self.store is not None:
                self._persist(self.store.replace, {}, {}, self._reserved)  # the ids stay reserved
            self._counts.clear()
            self._collections.clear()
            self._blobs.clear()
            self._seq = 0
            self.data.clear()
            self.prompt_cache.clear()

    def attach(self, store: Persistence | None, *, write: bool = True) -> None:
        """Tell `store` every change from now on; `write`: give it the whole state first (False when it
        is where the state was just `install`ed from)."""
        with self.lock:
            if store is not None and write:
                store.replace({name: list(c.objects.values()) for name, c in self._collections.items() if len(c)},
                              dict(self._blobs), self._seq)
            self.store = store
            self._reserved = self._seq

    def install(self, objects: Iterable[tuple[str, dict]], blobs: dict[str, bytes], seq: int) -> None:
        """Replace what is stored with `objects` ((collection, object) pairs, in creation order), `blobs` and
        the id sequence (what a store loads; `restore` takes a snapshot). An attached store is told, as always."""
        collections: dict[str, Collection] = {}
        for name, obj in objects:
            found = collections.get(name)
            if found is None:
                found = collections[name] = Collection()
            found.add(obj)
        with self.lock:
            if self.store is not None:
                self._persist(self.store.replace, {name: list(c.objects.values()) for name, c in collections.items()},
                              dict(blobs), max(seq, self._reserved))
            self._collections = collections
            self._blobs = dict(blobs)
            self._seq = seq

    def snapshot(self) -> dict:
        """Everything stored, as JSON-ready data (call counts and the scratch store are not kept): a copy,
        made under the lock, so that it can be read and encoded while calls go on changing the state."""
        with self.lock:
            return from_json(to_json({
                "version": SNAPSHOT_VERSION,
                "seq": self._seq,
                "collections": {name: list(c.objects.values()) for name, c in self._collections.items() if len(c)},
                "blobs": {key: base64.b64encode(data).decode() for key, data in self._blobs.items()},
            }))

    def restore(self, snapshot: dict) -> None:
        """Replace what is stored with a snapshot. Raises ValueError when it is not one."""
        if not isinstance(snapshot, dict) or snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"not an openai-fake state snapshot (version {SNAPSHOT_VERSION})")
        try:
            objects = []
            for name, objs in snapshot["collections"].items():
                for obj in objs:
                    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                        raise ValueError(f"an object in {name!r} has no string id")
                    objects.append((name, obj))
            blobs = {key: base64.b64decode(value, validate=True) for key, value in snapshot["blobs"].items()}
            seq = int(snapshot["seq"])
        except (KeyError, TypeError, AttributeError, base64.binascii.Error) as e:
            raise ValueError(f"malformed state snapshot: {type(e).__name__}: {e}") from None
        self.install(objects, blobs, seq)
