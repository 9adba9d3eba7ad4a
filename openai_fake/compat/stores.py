"""openai-responses' `StateStore`, over the fake's own state (`proxy_addon.engine.state.State`).

    from openai_fake.compat.stores import StateStore

    shared = StateStore()                           # a state of its own: share it between tests, swap it in
    shared.beta.assistants.put(Assistant(...))      # an SDK model (or a dict of one)
    openai_mock.state = shared                      # the fake answers from it for the rest of the test
    run = openai_mock.state.beta.threads.runs.get(run_id)   # an SDK model, a copy: `put` it back to change it

Each store is named as the seed named it (`beta.threads.messages`, `vector_stores.file_batches`) and
keeps its objects where the fake keeps them (`threads/{thread_id}/messages`, ...), so what a test
puts is what the API answers, and what a client created can be read back. `put` checks the object
against its SDK type, so a store never holds what the SDK could not parse.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from proxy_addon.engine.state import State

__all__ = ["StateStore", "ContentStore"]


class _Store:
    """One kind of object: `put`, `get`, `delete`, `list`, as openai-responses' stores have them."""

    #: The SDK type (a dotted "module:Name"), the collection's path (parent ids from the object's fields).
    _type = ""
    _path = ""

    def __init__(self, state: State) -> None:
        self._state = state
        fields = re.findall(r"\{(\w+)\}", self._path)
        self._parents = tuple(fields)
        self._pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self._path)) + "$")

    @property
    def _model(self) -> Any:
        from proxy_addon.engine.instances import resolve

        return resolve(self._type)

    def _key(self, obj: dict) -> str:
        missing = [f for f in self._parents if not obj.get(f)]
        if missing:
            raise ValueError(f"{type(self).__name__}.put: the object needs {', '.join(missing)}, where it is kept")
        return self._path.format(**{f: obj[f] for f in self._parents})

    def _keys(self) -> list[str]:
        if not self._parents:
            return [self._path]
        return [name for name in self._state.collections() if self._pattern.match(name)]

    def put(self, obj: Any) -> None:
        """Store (or replace) `obj`, an SDK model or a dict of one, under its `id`."""
        model = self._model
        if not isinstance(obj, model):
            obj = model.model_validate(obj)  # a dict the SDK could not parse is refused here, at the test's line
        data = obj.model_dump(mode="json", by_alias=True)
        self._state.put(self._key(data), data)

    def get(self, id: str) -> Any:  # noqa: A002 - the seed's name
        """The stored object as an SDK model (a copy), or None."""
        for key in self._keys():
            found = self._state.get(key, id)
            if found is not None:
                return self._model.model_validate(found)
        return None

    def delete(self, id: str) -> bool:  # noqa: A002
        """Forget the object (and what is kept under it); whether there was one."""
        for key in self._keys():
            if self._state.get(key, id) is not None:
                self._state.delete_tree(key, id)
                return True
        return False

    def _page(self, key: str, limit: Any, order: Any, after: Any, before: Any, where=None) -> list:
        items, _ = self._state.collection(key).page(limit=int(limit or 20), order=order or "desc", after=after,
                                                    before=before, where=where)
        return [self._model.model_validate(o) for o in items]


class _TopStore(_Store):
    def list(self, limit: Any = None, order: Any = None, after: Any = None, before: Any = None) -> list:
        """A page, newest first unless `order="asc"`, as the list endpoint answers it."""
        return self._page(self._path, limit, order, after, before)


class ContentStore:
    """File contents by file id (`state.files.content`)."""

    def __init__(self, state: State) -> None:
        self._state = state

    def put(self, id: str, content: bytes) -> None:  # noqa: A002
        self._state.put_blob(id, bytes(content))

    def get(self, id: str) -> bytes | None:  # noqa: A002
        return self._state.blob(id)

    def delete(self, id: str) -> None:  # noqa: A002
        self._state.delete_blob(id)


class FileStore(_Store):
    _type, _path = "openai.types:FileObject", "files"

    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.content = ContentStore(state)

    def list(self, purpose: str | None = None) -> list:
        return [self._model.model_validate(o) for o in self._state.all("files")
                if purpose is None or o.get("purpose") == purpose]


class AssistantStore(_TopStore):
    _type, _path = "openai.types.beta:Assistant", "assistants"


class MessageStore(_Store):
    _type, _path = "openai.types.beta.threads:Message", "threads/{thread_id}/messages"

    def list(self, thread_id: str, limit: Any = None, order: Any = None, after: Any = None, before: Any = None,
             run_id: str | None = None) -> list:
        where = (lambda m: m.get("run_id") == run_id) if run_id else None
        return self._page(f"threads/{thread_id}/messages", limit, order, after, before, where)


class RunStepStore(_Store):
    _type, _path = "openai.types.beta.threads.runs:RunStep", "threads/{thread_id}/runs/{run_id}/steps"

    def list(self, thread_id: str, run_id: str, limit: Any = None, order: Any = None, after: Any = None,
             before: Any = None) -> list:
        return self._page(f"threads/{thread_id}/runs/{run_id}/steps", limit, order, after, before)


class RunStore(_Store):
    _type, _path = "openai.types.beta.threads:Run", "threads/{thread_id}/runs"

    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.steps = RunStepStore(state)

    def list(self, thread_id: str, limit: Any = None, order: Any = None, after: Any = None, before: Any = None) -> list:
        return self._page(f"threads/{thread_id}/runs", limit, order, after, before)


class ThreadStore(_Store):
    _type, _path = "openai.types.beta:Thread", "threads"

    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.messages = MessageStore(state)
        self.runs = RunStore(state)


class VectorStoreFileStore(_Store):
    _type, _path = "openai.types.vector_stores:VectorStoreFile", "vector_stores/{vector_store_id}/files"

    def list(self, vector_store_id: str, limit: Any = None, order: Any = None, after: Any = None, before: Any = None,
             filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = None) -> list:  # noqa: A002
        where = (lambda f: f.get("status") == filter) if filter else None
        return self._page(f"vector_stores/{vector_store_id}/files", limit, order, after, before, where)


class VectorStoreFileBatchStore(_Store):
    _type, _path = "openai.types.vector_stores:VectorStoreFileBatch", "vector_stores/{vector_store_id}/file_batches"


class VectorStoreStore(_TopStore):
    _type, _path = "openai.types:VectorStore", "vector_stores"

    def __init__(self, state: State) -> None:
        super().__init__(state)
        self.files = VectorStoreFileStore(state)
        self.file_batches = VectorStoreFileBatchStore(state)


class Beta:
    def __init__(self, state: State) -> None:
        self.assistants = AssistantStore(state)
        self.threads = ThreadStore(state)


class StateStore:
    """openai-responses' state store: what the fake answers from, by resource.

    `StateStore()` is a state of its own (empty); `openai_mock.state` is the one the fake answers
    from now, and `openai_mock.state = store` (or `@mock(state=store)`) makes it `store` for the
    rest of the test, so a module-scoped `StateStore` carries objects from one test to the next.
    Models are the profile's `models` knob, not state (`openai_fake.configure("models", models=[...])`).
    """

    def __init__(self) -> None:
        self._init(State())

    @classmethod
    def _of(cls, state: State) -> "StateStore":
        """The store over a `State` the fake already has (the test's own)."""
        store = cls.__new__(cls)
        store._init(state)
        return store

    def _init(self, state: State) -> None:
        self._state = state
        self.files = FileStore(state)
        self.vector_stores = VectorStoreStore(state)
        self.beta = Beta(state)

    def __repr__(self) -> str:
        return f"<StateStore {len(self._state.collections())} collections>"
