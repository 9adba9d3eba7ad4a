"""`--state FILE`: the fake's state in a SQLite database, one row per object, written as it changes.

Why SQLite (the standard library's), in WAL mode: a change costs one small transaction
for the one object it touched, whatever else is stored (a 50 MB file is written once,
when it is uploaded, and never again), and a committed transaction survives `kill -9`.

- **Acknowledged means saved.** The State writes each change here under its lock, before
  the call that made it returns, so before its reply is sent. With `synchronous=NORMAL`
  a commit is in the WAL file when it returns: a killed process loses nothing; a power
  cut may lose the last commits (SQLite's fsync comes at checkpoints).
- **Ids are never reused.** The id sequence is reserved in blocks (`state.ID_BLOCK`); a
  restart continues after the last reserve.
- **Private.** FILE is created 0600 (an existing one is made 0600), and SQLite gives its
  `-wal` and `-shm` files the same mode: they hold uploaded files' bytes.
- **Never replaced when unusable.** A FILE that is neither an openai-fake database nor an
  old JSON snapshot stops `run` with a message and is left as it is. An old JSON snapshot
  (`{"version": 1, ...}`, what earlier versions wrote) is converted in place, atomically.
  Temporary files a killed fake left behind (`.FILE.*.tmp`) are removed at start.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterator
from .engine.state import State

#: In the database header, so that another program's SQLite file is not taken for a state.
APPLICATION_ID = 0x6F66616B  # "ofak"
FORMAT = 2  # PRAGMA user_version; 1 was the JSON snapshot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    collection TEXT NOT NULL, id TEXT NOT NULL,
    pos INTEGER NOT NULL,  -- creation order across the state; a replaced object keeps its place
    body TEXT NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StateFileError(Exception):
    """The state file exists but is not a usable state."""


class StateFile:
    """Keeps `path` in step with `state`: `load()` at start, `start()` to follow every change, `stop()`."""

    def __init__(self, state: State, path: Path | str) -> None:
        self.state = state
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._pos = 0
        self._loaded = False
        self._closing = threading.Lock()

    # -- start and stop -------------------------------------------------------------

    def load(self) -> bool:
        """Open the file (converting an old JSON snapshot) and restore the state from it, if it exists.
        Returns whether it did. Raises StateFileError for a file that cannot be used."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp*"):  # a killed fake's
            try:
                leftover.unlink()
            except OSError:
                pass
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            if existed:
                head = _head(self.path)
                if head.lstrip()[:1] == b"{":
                    self._convert_json()
                elif not head.startswith(_SQLITE_MAGIC):
                    raise StateFileError("it is neither an openai-fake state database nor a JSON snapshot")
            self._open()
            if existed:
                self._read()
        except (OSError, ValueError, sqlite3.Error, StateFileError) as e:
            self.close()
            raise StateFileError(
                f"state file {self.path} cannot be used ({type(e).__name__}: {e}); it was left as it is — "
                f"move it away or fix it"
            ) from None
        self._loaded = existed
        return existed

    def start(self) -> None:
        """Follow every change from now on (writing the whole state first, unless it was loaded from here)."""
        if self._db is None:
            self._open()
        self.state.attach(self, write=not self._loaded)

    def stop(self) -> None:
        """Stop following, and close the file (SQLite folds the WAL back into it)."""
        with self.state.lock:
            if self.state.store is self:
                self.state.attach(None)
            self.close()

    def close(self) -> None:
        with self._closing:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)  # before SQLite makes -wal and -shm: they take this file's mode
        finally:
            os.close(fd)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)  # the State's lock serialises
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and (app_id != APPLICATION_ID or version != FORMAT):
                raise StateFileError(f"it is a SQLite database, but not an openai-fake state of format {FORMAT} "
                                     f"(application_id {app_id:#x}, user_version {version})")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            if not tables:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {FORMAT}")
        except BaseException:
            db.close()
            raise
        self._db = db
        self._pos = (db.execute("SELECT max(pos) FROM objects").fetchone()[0] or 0) + 1

    def _read(self) -> None:
        db = self._db
        objects = []
        for collection, oid, body in db.execute("SELECT collection, id, body FROM objects ORDER BY pos"):
            obj = json.loads(body)
            if not isinstance(obj, dict) or obj.get("id") != oid:
                raise ValueError(f"the row {collection}/{oid} is not that object")
            objects.append((collection, obj))
        blobs = {key: bytes(data) for key, data in db.execute("SELECT key, data FROM blobs")}
        row = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        self.state.install(objects, blobs, int(row[0]) if row else 0)

    def _convert_json(self) -> None:
        """Replace an old JSON snapshot by a database holding the same state, atomically."""
        scratch = State()
        scratch.restore(json.loads(self.path.read_bytes()))  # raises ValueError for a bad one
        snapshot = scratch.snapshot()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        converted = StateFile(State(), tmp)
        try:
            converted._open()
            converted.replace(snapshot["collections"], {key: scratch.blob(key) for key in snapshot["blobs"]}, snapshot["seq"])
            converted._db.execute("PRAGMA journal_mode = DELETE")  # fold the WAL in: one file to rename
            converted.close()
            os.replace(tmp, self.path)
        finally:
            converted.close()
            for extra in self.path.parent.glob(f"{tmp.name}*"):
                extra.unlink(missing_ok=True)

    # -- Persistence: called by the State, under its lock ------------------------------

    def put(self, collection: str, obj: dict) -> None:
        self._db.execute(
            "INSERT INTO objects (collection, id, pos, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body",
            (collection, obj["id"], self._pos, _encode(obj)))
        self._pos += 1

    def delete(self, collection: str, oid: str) -> None:
        self._db.execute("DELETE FROM objects WHERE collection = ? AND id = ?", (collection, oid))

    def replace_collection(self, collection: str, objs: list[dict]) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM objects WHERE collection = ?", (collection,))
            self._insert(collection, objs)

    def put_blob(self, key: str, data: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO blobs (key, data) VALUES (?, ?)", (key, data))

    def delete_blob(self, key: str) -> None:
        self._db.execute("DELETE FROM blobs WHERE key = ?", (key,))

    def reserve(self, seq: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seq', ?)", (seq,))

    def replace(self, collections: dict[str, list[dict]], blobs: dict[str, bytes], seq: int) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM objects")
            self._db.execute("DELETE FROM blobs")
            for collection, objs in collections.items():
                self._insert(collection, objs)
            self._db.executemany("INSERT INTO blobs (key, data) VALUES (?, ?)", blobs.items())
            self.reserve(seq)

    def _insert(self, collection: str, objs: list[dict]) -> None:
        start = self._pos
        self._db.executemany("INSERT OR REPLACE INTO objects (collection, id, pos, body) VALUES (?, ?, ?, ?)",
                             ((collection, obj["id"], start + i, _encode(obj)) for i, obj in enumerate(objs)))
        self._pos = start + len(objs)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises (the State then changes nothing)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reading, for tests and tools ---------------------------------------------------

    @staticmethod
    def read(path: Path | str) -> dict:
        """The state a file holds, as `State.snapshot()` gives it (without touching the file)."""
        db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        try:
            state = State()
            into = StateFile(state, path)
            into._db = db
            into._read()
            into._db = None
            return state.snapshot()
        finally:
            db.close()


def _encode(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(16)
