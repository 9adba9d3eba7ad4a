"""The recording on disk: one small JSON file per exchange, written atomically, keys redacted first.

A recording is a directory. Each exchange is `<endpoint>-<hash>-<nn>.json`: the SDK method name
(`chat.completions.create`), six hex digits of the request's match document (`matching.document`)
and a sequence number for repeats (`-01`, `-02`, ...), with side files beside it for bodies that are
not text: `<same name>.request.bin` (an upload, kept by choice) and `<same name>.response.bin` (audio,
images, file contents). The layout is documented in docs/guide/record-replay.md.

Writing is crash-safe: each file is written to a hidden temp file in the same directory
(`.partial-*.tmp`), flushed to the disk, then linked to its name, which never replaces an existing
file; side files are in place before the JSON that names them. A `kill -9` leaves every finished
exchange readable and nothing half-written under a real name; `read()` reports the leftovers.

Writes block on `fsync`: an event loop should call `Recorder` from a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import orjson

from ..codec import from_json
from ..engine import forms
from ..engine.errors import OpenAIError
from ..engine.wire import Request
from . import matching, redaction

__all__ = ["FORMAT", "REQUEST_HEADERS", "RESPONSE_HEADERS", "Recorder", "StreamRecording", "RealtimeRecording",
           "Exchange", "Contents", "read", "clear", "has_exchanges", "describe_request", "describe_response"]

logger = logging.getLogger(__name__)

#: The version of the file format; a reader refuses files of a later version.
FORMAT = 1
#: Request headers kept: the ones that change how the API reads the request.
REQUEST_HEADERS = ("content-type", "openai-beta", "accept")
#: Response headers kept: what the SDKs read (ids, retry hints, rate limits, the poll helpers' interval,
#: `openai-poll-after-ms`) and what says how to read the body.
RESPONSE_HEADERS = ("content-type", "content-disposition", "openai-model", "openai-version", "x-request-id",
                    "retry-after", "retry-after-ms", "x-should-retry", "x-ratelimit-*", "openai-poll-after-ms")

PARTIAL_PREFIX = ".partial-"
_PARTIAL_SUFFIX = ".tmp"
_NAME = re.compile(r"^(?P<base>.+)-(?P<hash>[0-9a-f]{6})-(?P<seq>\d{2,})(?P<ext>\.json|\.request\.bin|\.response\.bin)$")
_SSE_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def _media(headers: Mapping[str, str]) -> str:
    return (headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _kept(headers: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The headers named (lower-case; `x-ratelimit-*` for a prefix), redacted."""
    names = tuple(names)
    exact = {n for n in names if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
    lowered = {k.lower(): v for k, v in headers.items()}
    return redaction.headers({k: v for k, v in lowered.items() if k in exact or (prefixes and k.startswith(prefixes))})


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe_request(request: Request, header_names: Iterable[str] = REQUEST_HEADERS) -> tuple[dict, bytes | None]:
    """A request as a recording holds it, redacted, and its raw body when that is not text (an upload):
    `{"method", "path", "query", "headers", and one of "json" | "text" | "form" + "raw" | "raw"}`.

    `form` lists the parts of a multipart body in order: `{"name", "value"}` for a field,
    `{"name", "filename", "content_type", "sha256", "size"}` for a file; `raw` is `{"sha256", "size"}`
    of the whole body (and `"file"`, its side file, once written). The organization and project ids the
    request's headers name are `MARKER` wherever else it repeats them (`redaction.account_ids`), on recording
    and on replay alike, so that it still matches.
    """
    ids = redaction.account_ids(request.headers)
    record, raw = _describe_request(request, header_names)
    return redaction.without(record, ids), redaction.without(raw, ids)


def _describe_request(request: Request, header_names: Iterable[str]) -> tuple[dict, bytes | None]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    record: dict[str, Any] = {
        "method": request.method.upper(),
        "path": redaction.text(request.path),
        "query": redaction.query(request.query),
        "headers": _kept(headers, header_names),
    }
    body = request.body
    if not body:
        return record, None
    media = _media(headers)
    if media == "multipart/form-data":
        try:
            parts = forms.parts(Request("POST", "/", {"content-type": headers["content-type"]}, body))
        except OpenAIError:
            parts = None  # not parsable: kept as bytes, matched by its hash
        if parts is not None:
            record["form"] = [_part(name, part) for name, part in parts]
            record["raw"] = {"sha256": _sha256(body), "size": len(body)}
            return record, body
        return _body(record, body, json=False, text=False)
    return _body(record, body, json=_is_json(media) or not media,
                 text=media.startswith("text/") or media in ("", "application/x-www-form-urlencoded") or _is_json(media))


def _body(record: dict, body: bytes, *, json: bool, text: bool) -> tuple[dict, bytes | None]:
    """`record` with its body as `json` (when asked and it parses), else `text` (when asked and it is UTF-8),
    else `raw`: its hash and size, the bytes returned for a side file."""
    if json:
        try:
            record["json"] = redaction.data(from_json(body))
            return record, None
        except ValueError:
            pass
    if text:
        try:
            record["text"] = redaction.text(body.decode("utf-8"))
            return record, None
        except UnicodeDecodeError:
            pass
    record["raw"] = {"sha256": _sha256(body), "size": len(body)}
    return record, body


def _part(name: str, part: forms.Field) -> dict:
    if part.filename is None:
        try:
            return {"name": redaction.text(name), "value": redaction.text(part.value.decode("utf-8"))}
        except UnicodeDecodeError:
            pass
    return {"name": redaction.text(name), "filename": redaction.text(part.filename or ""), "content_type": part.content_type,
            "sha256": _sha256(part.value), "size": len(part.value)}


def _chunk(at: float, data: bytes) -> dict:
    try:
        return {"at": round(at, 3), "data": redaction.text(data.decode("utf-8"))}
    except UnicodeDecodeError:
        return {"at": round(at, 3), "base64": base64.b64encode(redaction.blob(data)).decode()}


def describe_response(status: int, headers: Mapping[str, str], body: bytes = b"",
                      chunks: Iterable[tuple[float, bytes]] | None = None, latency: float | None = None,
                      header_names: Iterable[str] = RESPONSE_HEADERS) -> tuple[dict, bytes | None]:
    """A response as a recording holds it, redacted, and its raw body when that is not text:
    `{"status", "headers", "latency"?, and one of "chunks" | "json" | "text" | "raw"}`. `body` is
    decoded (no content-encoding); `chunks` are a stream's `(seconds since the response began, bytes)`."""
    headers = {k.lower(): v for k, v in headers.items()}
    record: dict[str, Any] = {"status": int(status), "headers": _kept(headers, header_names)}
    if latency is not None:
        record["latency"] = round(latency, 3)
    if chunks is not None:
        record["chunks"] = [_chunk(at, data) for at, data in chunks]
        return record, None
    if not body:
        return record, None
    media = _media(headers)
    return _body(record, body, json=_is_json(media), text=_is_json(media) or media.startswith("text/"))


def encode(value: Any) -> bytes:
    """A recording file's bytes: JSON indented by two, keys sorted, a final newline."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    except TypeError:  # integers past 64 bits
        return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory; its renames are durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(directory: Path, name: str, data: bytes) -> None:
    """Write `data` as `directory/name`, whole or not at all; FileExistsError if the name is taken."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=PARTIAL_PREFIX, suffix=_PARTIAL_SUFFIX)
    final = directory / name
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # a recording is shared (committed, reviewed): it holds no secret
        try:
            os.link(tmp, final)  # atomic, and never replaces: two writers can't take one name
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: a rename, after a look
            if final.exists():
                raise FileExistsError(final) from None
            os.replace(tmp, final)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    _fsync_dir(directory)


def _slug(method: str, path: str) -> str:
    """A file name's endpoint part for a path the route table lacks: `get.v1.nope`."""
    text = f"{method.lower()}.{path.strip('/').replace('/', '.')}"
    return re.sub(r"[^A-Za-z0-9._]+", "_", text)[:80] or "request"


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Recorder:
    """Writes exchanges into a recording directory (created if need be), redacted, one file each.

    keep_uploads: keep a request's non-text body (an upload) as its side file; False keeps its sha256
        and size alone, which is enough to match it on replay.
    request_headers / response_headers: the headers kept (lower-case names; `prefix-*` for a prefix);
        whatever is kept is still redacted.

    Safe to share between threads; several processes may write into one directory (names are taken
    atomically, never overwritten).
    """

    def __init__(self, directory: Path | str, *, keep_uploads: bool = True,
                 request_headers: Iterable[str] = REQUEST_HEADERS, response_headers: Iterable[str] = RESPONSE_HEADERS) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep_uploads = keep_uploads
        self.request_headers = tuple(h.lower() for h in request_headers)
        self.response_headers = tuple(h.lower() for h in response_headers)
        self._lock = threading.Lock()
        self._seq: dict[tuple[str, str], int] = {}
        for entry in os.scandir(self.directory):
            found = _NAME.match(entry.name)
            if found:
                slot = (found["base"], found["hash"])
                self._seq[slot] = max(self._seq.get(slot, 0), int(found["seq"]))

    def _names(self, request: Request) -> tuple[str | None, dict, bytes | None, str, str]:
        described, raw = describe_request(request, self.request_headers)
        endpoint = matching.endpoint_of(request.method, request.path, request.host, request.query)
        doc = matching.document(described, None, endpoint)
        base = endpoint or _slug(request.method, described["path"])
        return endpoint, described, raw, base, matching.short_hash(doc)

    def record(self, request: Request, status: int, headers: Mapping[str, str], body: bytes = b"", *,
               chunks: Iterable[tuple[float, bytes]] | None = None, latency: float | None = None,
               started: float | None = None) -> Path:
        """Write one exchange; its file's path. `body` is the decoded response body; `chunks` a stream's
        `(seconds since the response began, bytes)`; `latency` the seconds from the request to the
        response's headers; `started` when the request was sent (`time.time()`; now by default), which
        orders repeats of one request on replay."""
        endpoint, described, raw_request, base, digest = self._names(request)
        response, raw_response = describe_response(status, headers, body, chunks, latency, self.response_headers)
        # The account's ids the client sent, out of the answer too (a fine-tuning job's `organization_id`).
        ids = redaction.account_ids(request.headers)
        response, raw_response = redaction.without(response, ids), redaction.without(raw_response, ids)
        top = {"format": FORMAT, "recorded_at": _iso(time.time() if started is None else started), "route": endpoint,
               "request": described, "response": response}
        sides = {}
        if raw_request is not None and self.keep_uploads:
            sides["request"] = raw_request
        if raw_response is not None:
            sides["response"] = raw_response
        return self._write(base, digest, top, sides)

    def stream(self, request: Request, status: int, headers: Mapping[str, str], *, latency: float | None = None,
               started: float | None = None) -> "StreamRecording":
        """A response to record as it arrives (`feed`, then `finish`); its clock starts now."""
        return StreamRecording(self, request, status, headers, latency, started)

    def realtime(self, request: Request, *, started: float | None = None) -> "RealtimeRecording":
        """A Realtime session to record as an event log (`client`, `server`, then `finish`), from its handshake."""
        return RealtimeRecording(self, request, started)

    def _write(self, base: str, digest: str, top: dict, sides: dict[str, bytes]) -> Path:
        blobs = {which: redaction.blob(raw) for which, raw in sides.items()}
        with self._lock:
            while True:
                seq = self._seq.get((base, digest), 0) + 1
                self._seq[(base, digest)] = seq
                stem = f"{base}-{digest}-{seq:02d}"
                published: list[Path] = []
                try:
                    for which, data in blobs.items():
                        name = f"{stem}.{which}.bin"
                        _publish(self.directory, name, data)
                        published.append(self.directory / name)
                        top[which]["raw"]["file"] = name
                    _publish(self.directory, f"{stem}.json", encode(top))
                    return self.directory / f"{stem}.json"
                except FileExistsError:  # another process took the number: ours are removed, the next one tried
                    for path in published:
                        path.unlink(missing_ok=True)


class StreamRecording:
    """A response being recorded as it arrives. A server-sent-event stream is kept event by event, each
    with the time its last byte came; any other body is kept whole. Made by `Recorder.stream`."""

    def __init__(self, recorder: Recorder, request: Request, status: int, headers: Mapping[str, str],
                 latency: float | None, started: float | None) -> None:
        self._recorder, self._request, self._status, self._headers = recorder, request, status, dict(headers)
        self._latency, self._started = latency, time.time() if started is None else started
        self._t0 = time.monotonic()
        self._sse = _media({k.lower(): v for k, v in headers.items()}) == "text/event-stream"
        self._buffer = bytearray()
        self._chunks: list[tuple[float, bytes]] = []
        self.path: Path | None = None

    def feed(self, data: bytes, at: float | None = None) -> None:
        """Bytes as they arrived; `at`: seconds since the response began (now, by default)."""
        at = time.monotonic() - self._t0 if at is None else at
        self._buffer += data
        if not self._sse:
            return
        start = 0
        for end in _SSE_END.finditer(self._buffer):
            self._chunks.append((at, bytes(self._buffer[start:end.end()])))
            start = end.end()
        del self._buffer[:start]

    def finish(self) -> Path:
        """Write the exchange (what arrived, if the stream was cut short); its file's path. Once."""
        if self.path is None:
            if self._sse:
                if self._buffer:
                    self._chunks.append((time.monotonic() - self._t0, bytes(self._buffer)))
                self.path = self._recorder.record(self._request, self._status, self._headers, chunks=self._chunks,
                                                  latency=self._latency, started=self._started)
            else:
                self.path = self._recorder.record(self._request, self._status, self._headers, bytes(self._buffer),
                                                  latency=self._latency, started=self._started)
        return self.path


class RealtimeRecording:
    """A Realtime session being recorded: `{"at", "direction": "client" | "server", "event"}` for each
    message, `at` in seconds since the handshake. Made by `Recorder.realtime`; written by `finish`."""

    def __init__(self, recorder: Recorder, request: Request, started: float | None) -> None:
        self._recorder, self._request = recorder, request
        self._started = time.time() if started is None else started
        self._t0 = time.monotonic()
        self._events: list[dict] = []
        self.path: Path | None = None

    def _add(self, direction: str, event: Any, at: float | None) -> None:
        if isinstance(event, (bytes, str)):
            try:
                event = from_json(event)
            except ValueError:
                event = event.decode("utf-8", "replace") if isinstance(event, bytes) else event
        at = time.monotonic() - self._t0 if at is None else at
        self._events.append({"at": round(at, 3), "direction": direction, "event": redaction.data(event)})

    def client(self, event: Any, at: float | None = None) -> None:
        """A message the client sent (JSON text, bytes or a parsed event)."""
        self._add("client", event, at)

    def server(self, event: Any, at: float | None = None) -> None:
        """A message the server sent."""
        self._add("server", event, at)

    def finish(self) -> Path:
        """Write the session's log; its file's path. Once."""
        if self.path is None:
            rec = self._recorder
            endpoint, described, _, base, digest = rec._names(self._request)
            events = redaction.without(self._events, redaction.account_ids(self._request.headers))
            top = {"format": FORMAT, "recorded_at": _iso(self._started), "route": endpoint, "request": described,
                   "events": events}
            self.path = rec._write(base, digest, top, {})
        return self.path


# -- reading -------------------------------------------------------------------


@dataclass
class Exchange:
    """One recorded file, read: `request`, and `response` (an HTTP exchange) or `events` (a Realtime
    session). Side files are read when asked for (`side`), not before."""

    path: Path
    data: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def route(self) -> str | None:
        return self.data.get("route")

    @property
    def recorded_at(self) -> str:
        return self.data.get("recorded_at", "")

    @property
    def request(self) -> dict:
        return self.data["request"]

    @property
    def response(self) -> dict | None:
        return self.data.get("response")

    @property
    def events(self) -> list[dict] | None:
        return self.data.get("events")

    def side(self, which: str) -> bytes:
        """The bytes of the request's or the response's side file (`which`: "request" or "response").
        Raises FileNotFoundError when it was not kept (`keep_uploads=False`) or is gone."""
        part = self.request if which == "request" else self.response
        name = ((part or {}).get("raw") or {}).get("file")
        if not name:
            raise FileNotFoundError(f"{self.path}: its {which} body was not kept (only its sha256)")
        return (self.path.parent / name).read_bytes()


@dataclass
class Contents:
    """What `read` found: the exchanges in recorded order, and what it skipped."""

    exchanges: list[Exchange] = field(default_factory=list)
    #: Temp files of writes that never finished, and side files no exchange names (a crash between the two).
    leftovers: list[Path] = field(default_factory=list)
    #: Files named like exchanges that could not be read, with the reason.
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def _check(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    version = data.get("format")
    if not isinstance(version, int) or version > FORMAT:
        return f"format {version!r}: this openai-fake reads format {FORMAT} and before"
    request = data.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("method"), str) or not isinstance(request.get("path"), str):
        return "no request method and path"
    response = data.get("response")
    if not isinstance(response, dict) and not isinstance(data.get("events"), list):
        return "neither a response nor events"
    if isinstance(response, dict):
        if isinstance(response.get("status"), bool) or not isinstance(response.get("status"), int):
            return "a response without a status"
        chunks = response.get("chunks", [])
        if not isinstance(chunks, list) or not all(
                isinstance(c, dict) and isinstance(c.get("at"), (int, float)) and isinstance(c.get("data", c.get("base64")), str)
                for c in chunks):
            return "chunks that are not each {\"at\": seconds, \"data\": text}"
    for part in (request, data.get("response") or {}):
        raw = part.get("raw")
        name = raw.get("file") if isinstance(raw, dict) else None
        if name is not None and (not isinstance(name, str) or Path(name).name != name or not name.endswith(".bin")):
            return f"its side file {name!r} is not a file of the recording"  # never read a path outside it
    return None


def read(directory: Path | str) -> Contents:
    """Every exchange of a recording, in recorded order (by `recorded_at`, then name). Temp files, orphan
    side files and unreadable files are skipped, logged and listed; side files are not read."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no recording at {directory}: not a directory")
    contents = Contents()
    names = sorted(os.listdir(directory))
    present = set(names)
    for name in names:
        path = directory / name
        if name.startswith(PARTIAL_PREFIX):
            contents.leftovers.append(path)
        elif name.endswith((".request.bin", ".response.bin")):
            if f"{name.rsplit('.', 2)[0]}.json" not in present:
                contents.leftovers.append(path)
        elif name.endswith(".json") and not name.startswith("."):
            try:
                data = from_json(path.read_bytes())
            except (OSError, ValueError) as e:
                contents.unreadable.append((path, f"{type(e).__name__}: {e}"))
                continue
            problem = _check(data)
            if problem:
                contents.unreadable.append((path, problem))
            else:
                contents.exchanges.append(Exchange(path, data))
    contents.exchanges.sort(key=lambda e: (e.recorded_at, e.name))
    for path in contents.leftovers:
        logger.warning("openai-fake: %s is left from a recording that did not finish; skipped", path)
    for path, why in contents.unreadable:
        logger.warning("openai-fake: %s is not a readable exchange (%s); skipped", path, why)
    return contents


def has_exchanges(directory: Path | str) -> bool:
    """Whether `directory` holds a recorded exchange's file (by name; not read)."""
    directory = Path(directory)
    return directory.is_dir() and any(_NAME.match(name) and name.endswith(".json") for name in os.listdir(directory))


def _recorded_at(path: Path) -> float | None:
    """When an exchange file says it was recorded (seconds since the epoch), or None if it cannot say."""
    try:
        text = from_json(path.read_bytes()).get("recorded_at", "")
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def clear(directory: Path | str, before: float | None = None) -> int:
    """Remove a recording's files (exchanges, side files, leftovers; nothing else) before recording it
    anew; how many were removed. A directory that is not there is nothing to clear.

    `before` (seconds since the epoch): remove only what was recorded before then (an exchange by its
    `recorded_at`, its side files with it, a leftover by its mtime), so that several processes recording into
    one directory in one run (pytest-xdist workers) never remove each other's new exchanges."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    names = os.listdir(directory)
    doomed = set()
    for name in names:
        found = _NAME.match(name)
        if found and found["ext"] == ".json":
            when = _recorded_at(directory / name) if before is not None else None
            if before is None or when is None or when < before:
                doomed.add(name[: -len(".json")])
    def old(path: Path) -> bool:
        return before is None or _mtime(path) < before

    removed = 0
    for name in names:
        path, found = directory / name, _NAME.match(name)
        if found:
            stem = name[: len(name) - len(found["ext"])]
            exchange = found["ext"] == ".json" or f"{stem}.json" in names  # an exchange or a side file of one
            if not (stem in doomed if exchange else old(path)):  # an orphan side file: a leftover
                continue
        elif not (name.startswith(PARTIAL_PREFIX) and name.endswith(_PARTIAL_SUFFIX)) or not old(path):
            continue  # not the recording's, or another process's write in progress
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
