"""The record of calls: one `Entry` per answered call, kept in memory, offered to listeners
and appended to a file that `openai-fake tail` reads.

`run` prints each entry as it arrives, `exec` prints a summary, tests and the
control endpoints read the entries. API keys are redacted before an entry is made.

The file is this module's format, written and read only here: JSON Lines, one
`Entry.to_dict()` per line, in `<confdir>/journal.jsonl` (`JOURNAL_FILE`). What
scripts read (`tail --json`, `calls --json`, `GET /_fake/calls`) is `public()`:
one shape per kind, documented in docs/reference/journal.md.

- Each line is written with a single `os.write` on an `O_APPEND` descriptor, so
  lines from concurrent writers never interleave and a reader sees whole lines
  (it keeps a line without its newline until the rest arrives).
- A process that dies mid-line cannot break readers: the next writer to open the
  file ends that line first, and readers skip (with a warning) any line that is
  not a valid record.
- It is bounded: past `max_bytes` the file is renamed `journal.jsonl.1` (older
  ones shift to `.2`, `.3`, ... up to `backups`) and a new one is started.
  `follow()` notices the rename and goes on with the new file.
- It is created with mode 0600: it holds the first words of prompts.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote

from .codec import to_json

try:
    import fcntl
except ImportError:  # Windows: rotation is not guarded against another process rotating at once
    fcntl = None

logger = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"
#: Rotate past this size (bytes); a record is a few hundred bytes, so 5 MB keeps ~10,000 calls.
MAX_BYTES = 5 * 1024 * 1024
#: Old files kept: `journal.jsonl.1` (newest) ... `journal.jsonl.3`.
BACKUPS = 3
#: Bytes of request bodies kept in memory (`run --journal-bodies`): past it, the oldest kept bodies
#: are dropped (their entries stay, with `body_size` saying what was there).
BODY_BUDGET = 32 * 1024 * 1024


def journal_path(confdir: Path | str) -> Path:
    """Where the fake that uses `confdir` writes its journal."""
    return Path(confdir) / JOURNAL_FILE


def redact(authorization: str | None) -> str | None:
    """`Bearer sk-proj-abcdef...wxyz` -> `sk-...wxyz`: never keep a usable key."""
    if not authorization:
        return None
    key = authorization.split(None, 1)[-1].strip()
    return f"{key[:3]}...{key[-4:]}" if len(key) > 12 else "***"


#: Query parameters that carry a key: `?api_key=` (some clients), `?api-key=`, `?key=`, `?token=`.
_SECRET_PARAM = re.compile(r"([?&](?:api[-_]?key|key|token|access[-_]token)=)([^&#]*)", re.IGNORECASE)


def redact_target(target: str) -> str:
    """A request target with the values of key-carrying query parameters redacted as `redact` does
    (`/v1/models?api_key=sk-proj-...wxyz` -> `/v1/models?api_key=sk-...wxyz`)."""
    if "?" not in target:
        return target
    return _SECRET_PARAM.sub(lambda m: m.group(1) + (redact(unquote(m.group(2))) or ""), target)


@dataclass(frozen=True, slots=True)
class Entry:
    """One record: an answered call (kind "call"), a stream that has started and not
    ended yet (kind "stream"; its "call" record follows when it ends), a notice
    from the fake itself (kind "notice", such as a profile reload; `error` says what
    went wrong, if anything), or one attempt at delivering a webhook (kind "webhook").

    Slotted: the fake keeps the last 10,000 in memory, and without a `__dict__` each
    takes about half the memory (bench/memory.py)."""

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
    #: For a streamed reply: content deltas written, and how it ended ("completed", "error", "cut" by
    #: the pace, "aborted" by the client, or "stopped": the fake stopped first).
    chunks: int | None = None
    outcome: str | None = None
    kind: str = "call"
    #: The first words of the prompt and of the answer.
    prompt: str | None = None
    answer: str | None = None
    note: str | None = None
    #: The request body's size in bytes, kept or not.
    body_size: int = 0
    #: For a notice: what it is about (`NOTICE_EVENTS`), its message in `note`.
    #: For a webhook delivery (kind "webhook"): the event type, and which attempt this was (1 for the first).
    #: Its `path` is the receiver's URL, `request_id` the `webhook-id`, `note` the object the event is about,
    #: `outcome` "delivered", "retrying in N s" or "gave up", `status` 0 when nothing answered.
    event: str | None = None
    attempt: int | None = None
    #: For a call forwarded in record mode (`run --record`, `recording.py`): the upstream it went to, and the
    #: exchange's file in the recording (None when it was not written: `note` says why).
    upstream: str | None = None
    recorded: str | None = None
    #: The request body, kept in memory for assertions and never written anywhere; b"" once the
    #: journal's body budget made it drop it (`body_dropped`).
    body: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.body and not self.body_size:
            object.__setattr__(self, "body_size", len(self.body))

    @property
    def body_dropped(self) -> bool:
        """Whether the body was dropped to keep the journal within its memory budget."""
        return self.body_size > 0 and not self.body

    def to_dict(self) -> dict:
        """The record as written to the journal file: every field but `body`."""
        return {name: getattr(self, name) for name in _WRITTEN}

    @classmethod
    def from_dict(cls, data: Any) -> "Entry":
        """An entry from a journal record; unknown keys are ignored. Raises ValueError on a bad record."""
        if not isinstance(data, dict):
            raise ValueError(f"a record is a JSON object, not {type(data).__name__}")
        values = {}
        for name, kinds in _FIELD_TYPES.items():
            if name not in data:
                continue
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{name!r} is {value!r}")
            values[name] = value
        if "time" not in values:
            raise ValueError("no 'time'")
        return cls(**values)

    @property
    def request_json(self) -> Any:
        """The request body parsed as JSON, or None. Raises LookupError for a body the journal dropped
        (over its memory budget), rather than answer None for a body that was there."""
        if self.body_dropped:
            raise LookupError(f"the body of {self.method} {self.path} ({self.body_size} bytes) was dropped: the "
                              f"journal keeps at most {BODY_BUDGET} bytes of bodies by default (`--journal-bodies`)")
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


#: The fields a journal line holds, in order: all but the request body.
_WRITTEN = tuple(f.name for f in fields(Entry) if f.name != "body")

_STARTED, _STOPPED = "openai-fake started", "openai-fake stopped"

#: What a notice is about (its `event`), the one thing a script should test; its message is for people.
NOTICE_EVENTS = {
    "started": "the fake started listening",
    "stopped": "the fake stopped (streams still running were ended first)",
    "reset": "state and call counts reset (`openai-fake reset`, POST /_fake/reset)",
    "profile": "another profile made active (`openai-fake use`, POST /_fake/profile)",
    "profile_reloaded": "the active profile's file was saved and loaded again",
    "profile_not_reloaded": "a saved profile failed to load; the last good one is kept (`error` says why)",
    "watcher_error": "the profile watcher failed (`error` says why)",
    "webhook_endpoint_added": "a webhook endpoint was registered (POST /_fake/webhooks)",
    "webhook_endpoint_removed": "a webhook endpoint was removed (DELETE /_fake/webhooks/{id})",
}


def notice(event: str, message: str, error: str | None = None) -> Entry:
    """A notice from the fake itself, now: `event` one of `NOTICE_EVENTS`, `message` for people."""
    assert event in NOTICE_EVENTS, event
    return Entry(time=time.time(), kind="notice", event=event, note=message, error=error)


def started_notice(url: str, profile: str) -> Entry:
    """The record a fake writes when it starts listening, so that `tail` shows restarts."""
    return notice("started", f"{_STARTED} on {url}; profile {profile}")


def stopped_notice(url: str) -> Entry:
    return notice("stopped", f"{_STOPPED} ({url})")


def notice_event(entry: Entry) -> str | None:
    """What a notice is about; for a record written before notices had an `event`, told from its message."""
    if entry.event is not None:
        return entry.event
    note = entry.note or ""
    return "started" if note.startswith(_STARTED) else "stopped" if note.startswith(_STOPPED) else None


def is_lifecycle(entry: Entry) -> bool:
    """Whether `entry` says the fake started or stopped (streams in progress before it will never end)."""
    return entry.kind == "notice" and notice_event(entry) in ("started", "stopped")


def is_call(entry: Entry) -> bool:
    """Whether `entry` is a request answered or made (a call, a stream in progress, a webhook delivery), which
    `tail -n` and `calls -n` count; notices are not."""
    return entry.kind != "notice"


def public(entry: Entry) -> dict:
    """The record as `tail --json` and `calls --json` print it, by kind (docs/reference/journal.md).

    A call and a stream in progress: every field the journal writes (the shape these records always had).
    A notice: `kind`, `time`, `event`, `level` ("error" when `error` is set, else "info"), `message`, `error`.
    A webhook delivery: `kind`, `time`, `webhook_id`, `event`, `object`, `url`, `status` (0: nothing
    answered), `attempt`, `outcome`, `duration_ms`, `error`.
    """
    if entry.kind == "notice":
        return {"kind": "notice", "time": entry.time, "event": notice_event(entry),
                "level": "error" if entry.error else "info", "message": entry.note or "", "error": entry.error}
    if entry.kind == "webhook":
        return {"kind": "webhook", "time": entry.time, "webhook_id": entry.request_id, "event": entry.event,
                "object": entry.note, "url": entry.path, "status": entry.status, "attempt": entry.attempt,
                "outcome": entry.outcome, "duration_ms": entry.duration_ms, "error": entry.error}
    return entry.to_dict()


def public_line(entry: Entry) -> str:
    """`public(entry)` as one line of compact JSON, newline-terminated."""
    return to_json(public(entry)).decode() + "\n"


class Filter:
    """The filters `tail` and `calls` share (and `GET /_fake/calls`): a record passes when it matches all that
    are given. `path`: a substring of the path. `statuses`: specs such as "429" or "4xx", any of which may match.
    `model`: the exact model id, or a shell-style pattern (`gpt-4o*`, `*embedding*`). Raises ValueError for
    a status that is neither a code nor a class."""

    def __init__(self, path: str | None = None, statuses: list[str] | tuple[str, ...] = (), model: str | None = None) -> None:
        self.path, self.model = path or None, model or None
        self.statuses = [_status_test(spec) for spec in statuses for spec in spec.split(",") if spec.strip()]

    def __bool__(self) -> bool:
        """Whether any filter is given."""
        return bool(self.path or self.statuses or self.model)

    def __call__(self, entry: Entry) -> bool:
        return ((not self.path or self.path in entry.path)
                and (not self.statuses or any(test(entry.status) for test in self.statuses))
                and (not self.model or (entry.model is not None and fnmatch.fnmatchcase(entry.model, self.model))))


def _status_test(spec: str) -> Callable[[int], bool]:
    spec = spec.strip().lower()
    if re.fullmatch(r"[1-5]xx", spec):
        return lambda status: status // 100 == int(spec[0])
    if re.fullmatch(r"[1-5]\d\d", spec):
        return lambda status: status == int(spec)
    raise ValueError(f"{spec!r}: give a class (2xx, 4xx, 5xx) or a status such as 429")


_NONE = type(None)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "time": (int, float), "request_id": (str,), "method": (str,), "host": (str,), "path": (str,),
    "status": (int,), "duration_ms": (int, float), "rule": (str,), "model": (str, _NONE), "face": (str,),
    "key": (str, _NONE), "error": (str, _NONE), "chunks": (int, _NONE), "outcome": (str, _NONE), "kind": (str,),
    "prompt": (str, _NONE), "answer": (str, _NONE), "note": (str, _NONE), "body_size": (int,),
    "event": (str, _NONE), "attempt": (int, _NONE), "upstream": (str, _NONE), "recorded": (str, _NONE),
}


def encode(entry: Entry) -> bytes:
    """One journal line: the entry's dict as compact JSON, newline-terminated (JSON escapes any newline inside)."""
    return to_json(entry.to_dict()) + b"\n"


class Journal:
    """A bounded, thread-safe list of entries with listeners, also appended to `path` when given.

    Memory keeps the last `maxlen` entries, and of their request bodies at most `body_budget`
    bytes, the newest (a body larger than the budget is not kept at all); the counts that
    `summary()` gives cover every call since the start (or the last `clear()`), however many."""

    def __init__(self, path: Path | str | None = None, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS,
                 maxlen: int = 10_000, body_budget: int = BODY_BUDGET) -> None:
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self.body_budget = body_budget
        self._bodied: deque[Entry] = deque()  # the entries that still hold a body, oldest first
        self._body_bytes = 0
        self._statuses: Counter[int] = Counter()
        self._rules: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Entry], None]] = []
        self.file = JournalFile(path, max_bytes=max_bytes, backups=backups) if path is not None else None

    @property
    def path(self) -> Path | None:
        """The journal file, if this journal writes one."""
        return self.file.path if self.file is not None else None

    def subscribe(self, listener: Callable[[Entry], None]) -> None:
        """Call `listener(entry)` for every entry recorded from now on."""
        self._listeners.append(listener)

    def record(self, entry: Entry) -> None:
        line = encode(entry) if self.file is not None else b""
        with self._lock:
            if len(self._entries) == self._entries.maxlen and self._bodied and self._entries[0] is self._bodied[0]:
                self._body_bytes -= len(self._bodied.popleft().body)  # about to fall out of the window
            self._entries.append(entry)
            if entry.body:
                self._keep_body(entry)
            if entry.kind == "call":
                self._statuses[entry.status] += 1
                self._rules[entry.rule or "(no route)"] += 1
            if self.file is not None:
                self.file.write(line)
        for listener in self._listeners:
            listener(entry)

    def _keep_body(self, entry: Entry) -> None:
        """Count `entry`'s body against the budget, dropping the oldest kept bodies past it. Entries are
        frozen for everyone else; the journal alone may empty a body it holds."""
        self._bodied.append(entry)
        self._body_bytes += len(entry.body)
        while self._body_bytes > self.body_budget and self._bodied:
            old = self._bodied.popleft()
            self._body_bytes -= len(old.body)
            object.__setattr__(old, "body", b"")

    @property
    def body_bytes(self) -> int:
        """Bytes of request bodies held in memory now."""
        with self._lock:
            return self._body_bytes

    def entries(self, kind: str | None = "call") -> list[Entry]:
        """The answered calls, oldest first; `kind=None` for every record (stream starts and notices too)."""
        with self._lock:
            return [e for e in self._entries if kind is None or e.kind == kind]

    def clear(self) -> None:
        """Forget the entries kept in memory, and the counts (the file keeps them)."""
        with self._lock:
            self._entries.clear()
            self._bodied.clear()
            self._body_bytes = 0
            self._statuses.clear()
            self._rules.clear()

    def close(self) -> None:
        if self.file is not None:
            with self._lock:
                self.file.close()

    def summary(self) -> str:
        """One line: how many calls, by status and by rule (all of them, not only those kept in memory)."""
        with self._lock:
            statuses, rules = dict(self._statuses), self._rules.most_common()
        total = sum(statuses.values())
        if not total:
            return "openai-fake: no calls"
        by_status = ", ".join(f"{n}×{s}" for s, n in sorted(statuses.items()))
        by_rule = ", ".join(f"{r} {n}" for r, n in rules)
        return f"openai-fake: {total} call{'s' if total != 1 else ''} ({by_status}); {by_rule}"


# -- writing ---------------------------------------------------------------------------------


class JournalFile:
    """Appends lines to `path`, one `os.write` each, rotating past `max_bytes`. Not thread-safe: `Journal` locks.

    It opens the file on the first write, so a fake that never answers a call
    leaves no file. Another process may write the same file (a `run` and an
    `exec` sharing a conf directory): before each write it checks that `path`
    is still the file it holds, and reopens it when someone else rotated it.
    A failure to write is logged once and does not stop the fake.
    """

    def __init__(self, path: Path | str, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd: int | None = None
        self._id: tuple[int, int] | None = None
        self._failed = False

    def write(self, line: bytes) -> None:
        try:
            fd, size = self._open()
            if self.max_bytes and size and size + len(line) > self.max_bytes:
                self._rotate()
                fd, _ = self._open()
            os.write(fd, line)
            self._failed = False
        except OSError as e:
            self.close()
            if not self._failed:  # once, not once per call
                logger.warning("openai-fake cannot write the journal %s: %s", self.path, e)
            self._failed = True

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = self._id = None

    def _open(self) -> tuple[int, int]:
        """The descriptor of `path` and the file's size now; one `stat` when it is still the file held."""
        if self._fd is not None:
            info = _stat(self.path)
            if info is not None and (info.st_dev, info.st_ino) == self._id:
                return self._fd, info.st_size
        self.close()  # never opened, or rotated or removed by someone else
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # a file that existed with looser rights
            info = os.fstat(fd)
            if info.st_size and hasattr(os, "pread") and os.pread(fd, 1, info.st_size - 1) != b"\n":
                os.write(fd, b"\n")  # a writer died mid-line: end that line, so ours starts clean
        except OSError:
            os.close(fd)
            raise
        self._fd, self._id = fd, (info.st_dev, info.st_ino)
        return fd, info.st_size

    def _rotate(self) -> None:
        # Writers in other processes may want to rotate the same file at the same moment: the one
        # that holds the lock on it does, and the others then find it rotated already.
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if _file_id(self.path) != self._id:
                return  # another writer rotated it already
            for n in range(self.backups, 0, -1):
                older = self.path if n == 1 else _backup(self.path, n - 1)
                try:
                    os.replace(older, _backup(self.path, n))
                except FileNotFoundError:
                    pass
            if self.backups == 0:
                self.path.unlink(missing_ok=True)
        finally:
            self.close()  # and so unlock


def _backup(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _file_id(path: Path) -> tuple[int, int] | None:
    info = _stat(path)
    return (info.st_dev, info.st_ino) if info is not None else None


# -- reading ---------------------------------------------------------------------------------

#: `on_bad_line(where, line)`: told about a line that is not a record; `where` is "file:line" or the file.
BadLine = Callable[[str, bytes], None]


def _warn(where: str, line: bytes) -> None:
    logger.warning("skipped a journal line that is not a record (%s): %.80r", where, line)


def parse_line(line: bytes) -> Entry:
    """The entry on one journal line. Raises ValueError when it is not a record."""
    return Entry.from_dict(json.loads(line))


def journal_files(path: Path | str) -> list[Path]:
    """The journal and its rotated files that exist, newest first."""
    path = Path(path)
    found = [path] if path.exists() else []
    n = 1
    while _backup(path, n).exists():
        found.append(_backup(path, n))
        n += 1
    return found


def read_entries(path: Path | str, *, limit: int | None = None, where: Callable[[Entry], bool] | None = None,
                 on_bad_line: BadLine | None = None, files: list[Path] | None = None,
                 counted: Callable[[Entry], bool] | None = None) -> list[Entry]:
    """The entries of the journal at `path` and its rotated files (or of `files`, newest first), oldest first.

    With `limit`, the entries that pass `where`, from the newest back to the
    `limit`-th of them that `counted` counts (every entry, by default): with
    `counted=is_call`, the last `limit` calls and the notices since. Files
    are read newest first and reading stops once enough are found; `where`
    sees the entries newest first, so it may keep state (what it has seen is
    newer). A last line without its newline is a write in progress: left out,
    silently.
    """
    on_bad_line = on_bad_line or _warn
    found: list[Entry] = []
    seen = 0  # of them, those counted
    if limit == 0:
        return found
    for file in journal_files(path) if files is None else files:
        try:
            data = file.read_bytes()
        except FileNotFoundError:  # rotated away between the listing and the read
            continue
        lines = data.split(b"\n")[:-1]  # what follows the last newline is not a whole line yet
        for number in range(len(lines), 0, -1):
            line = lines[number - 1]
            if not line.strip():
                continue
            try:
                entry = parse_line(line)
            except ValueError:
                on_bad_line(f"{file}:{number}", line)
                continue
            if where is None or where(entry):
                found.append(entry)
                seen += counted is None or counted(entry)
                if limit is not None and seen >= limit:
                    return found[::-1]
    return found[::-1]


def follow(path: Path | str, *, from_start: bool = False, poll: float = 0.1,
           on_bad_line: BadLine | None = None) -> Iterator[Entry | None]:
    """Entries as they are appended to the journal at `path`, forever; None after each poll that found nothing.

    It starts at the file's end (`from_start`: at its beginning; the first None
    then means "caught up"). A file that does not exist yet is waited for and
    read from its beginning; so is the new file after a rotation (the rest of
    the old one is read first, then any rotated file it never saw, when it fell
    more than a file behind), a file removed and created again, or one
    truncated. Close the generator to stop.
    """
    path = Path(path)
    on_bad_line = on_bad_line or _warn
    handle = None
    held: tuple[int, int] | None = None
    pending = b""
    at_start = from_start
    draining = False
    try:
        while True:
            if handle is None:
                try:
                    handle = open(path, "rb")
                except FileNotFoundError:
                    at_start = True  # when it appears, all of it is new
                else:
                    info = os.fstat(handle.fileno())
                    held, pending, draining = (info.st_dev, info.st_ino), b"", False
                    if not at_start:
                        handle.seek(0, os.SEEK_END)
                    at_start = True
            if handle is not None:
                data = handle.read(1 << 16)
                if data:
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            try:
                                yield parse_line(line)
                            except ValueError:
                                on_bad_line(str(path), line)
                    continue
                now = _file_id(path)
                if now != held:  # rotated or removed
                    if not draining:  # read the old file once more: a write may have landed since
                        draining = True
                        continue
                    handle.close()
                    handle = None
                    for missed in _rotated_since(path, held):
                        with missed:
                            for line in missed.read().split(b"\n")[:-1]:
                                if line.strip():
                                    try:
                                        yield parse_line(line)
                                    except ValueError:
                                        on_bad_line(missed.name, line)
                    if now is not None:
                        continue
                elif os.fstat(handle.fileno()).st_size < handle.tell():  # truncated
                    handle.seek(0)
                    pending = b""
                    continue
            yield None
            time.sleep(poll)
    finally:
        if handle is not None:
            handle.close()


def _rotated_since(path: Path, held: tuple[int, int] | None) -> list:
    """Open handles on the rotated files newer than the file `held` (which is now one of them), oldest first.

    Opened before they are looked at, so that a rotation meanwhile cannot make
    one file be read twice or in the wrong order (names shift, handles do not).
    """
    handles, seen = [], set()
    n = 1
    while True:
        try:
            handle = open(_backup(path, n), "rb")
        except FileNotFoundError:
            break
        info = os.fstat(handle.fileno())
        if (info.st_dev, info.st_ino) in seen:  # shifted up while we were opening them
            handle.close()
        else:
            seen.add((info.st_dev, info.st_ino))
            handles.append((handle, (info.st_dev, info.st_ino)))
        n += 1
    ids = [i for _, i in handles]
    newer = ids.index(held) if held in ids else 0  # not found (removed, or rotated out of reach): none we can tell
    for handle, _ in handles[newer:]:
        handle.close()
    return [handle for handle, _ in reversed(handles[:newer])]
