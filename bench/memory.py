"""Does the fake's memory stay flat over many calls? Resident memory after 1,000, 10,000 and 50,000 calls.

    python bench/memory.py [--quick]

A real fake (`openai-fake run`, in its own process) answers real HTTP calls on
its base-URL face: a round of chat.completions.create (not stored, the API's
default), embeddings.create and models.list, none of which stores anything, so
growth is what the fake keeps per call rather than data the user asked it to
keep. The client is a few keep-alive connections on raw asyncio streams posting
fixed bodies (the SDK is too slow for 50,000 calls in the time budget); every
answer must be a 200. The server's RSS (VmRSS) is read once it is idle after
starting, then after 1,000, 10,000 and 50,000 calls (quick: 1,000, 5,000,
10,000), each time with the connections closed.

By design the fake's in-memory journal keeps the last 10,000 entries
(`Journal(maxlen=10_000)`), so memory may rise up to the 10k mark and should be
flat after it: the table shows the ratio to the 1k mark (the goal, issue 6:
RSS after 50k ≤ 1.10 × RSS after 1k) and to the 10k mark.

Then, on the same fake (its journal already full), 10,000 responses.create
(quick: 1,000), which are stored by default as in the real API: that growth is
data the user asked to keep, shown as bytes per stored response, with no goal.
Last, the journal file's size against its rotation bound (5 MiB, 3 backups).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import report
from proxy_addon.journal import BACKUPS, MAX_BYTES, Journal, journal_path
from servers import Server, fake_server

GOAL_RATIO = 1.10
CONNECTIONS = 8
MIB = 1024 * 1024
#: How many entries the fake's in-memory journal keeps (its `maxlen`).
JOURNAL_KEEPS = Journal.__init__.__kwdefaults__["maxlen"]
STATELESS_CALLS = [  # (method, path, body): none of these stores anything
    ("POST", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    ("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}),
    ("GET", "/v1/models", None),
]
STORED_CALLS = [("POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "hi"})]


def http_request(port: int, method: str, path: str, body: dict | None) -> bytes:
    """One keep-alive HTTP/1.1 request, as bytes to send as is."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer sk-bench\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request and read its whole answer (the fake always sends Content-Length); return the status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(value) for name, _, value in (line.partition(b":") for line in lines[1:])
                   if name.strip().lower() == b"content-length"), None)
    if length is None:
        raise RuntimeError(f"an answer without Content-Length: {head!r}")
    await reader.readexactly(length)
    return int(lines[0].split(b" ", 2)[1])


async def _send(port: int, requests: list[bytes], count: int, connections: int) -> int:
    """`count` calls cycling through `requests` over `connections` keep-alive connections; returns the failures."""
    numbers = iter(range(count))
    failures = 0

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n in numbers:  # shared: each call is taken by whichever connection is free
                if await _exchange(reader, writer, requests[n % len(requests)]) != 200:
                    failures += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return failures


@dataclass
class Mark:
    """The server after a number of calls: its RSS, and how fast the calls since the previous mark went."""

    calls: int
    rss: int
    calls_per_second: float
    cpu_ms_per_call: float


class Driver:
    """Sends calls of one kind to a fake and reads its memory at marks."""

    def __init__(self, server: Server, calls: list[tuple[str, str, dict | None]]) -> None:
        self.server = server
        self.port = int(server.proxy_url.rsplit(":", 1)[1])
        self.requests = [http_request(self.port, *call) for call in calls]
        self.sent = 0

    def mark(self, calls: int) -> Mark:
        """Send calls until `calls` have been sent in all, then read the RSS (connections closed, settled)."""
        count = calls - self.sent
        cpu, start = self.server.cpu_seconds(), time.perf_counter()
        failures = asyncio.run(_send(self.port, self.requests, count, CONNECTIONS))
        elapsed, cpu = time.perf_counter() - start, self.server.cpu_seconds() - cpu
        if failures:
            raise RuntimeError(f"{failures} of {count} calls were not answered 200")
        self.sent = calls
        time.sleep(0.2)  # let the fake finish closing the connections
        return Mark(calls, self.server.rss_bytes(), count / elapsed, cpu / count * 1e3)


def stored_objects(port: int, confdir: Path) -> int:
    """How many objects the fake holds in its state (`GET /_fake/state`, with the run's control token)."""
    token = json.loads((confdir / "running.json").read_text())["control_token"]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/_fake/state", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        state = json.loads(response.read())
    finally:
        connection.close()
    return sum(len(items) for items in state["collections"].values())


def journal_files(confdir: Path) -> list[Path]:
    current = journal_path(confdir)
    return sorted(current.parent.glob(current.name + "*"))


def journal_note(confdir: Path) -> str:
    """The journal files' sizes against their rotation bound."""
    files = journal_files(confdir)
    current = journal_path(confdir)
    backups = [f for f in files if f != current]
    total = sum(f.stat().st_size for f in files)
    size = current.stat().st_size if current.exists() else 0
    within = size <= MAX_BYTES + 64 * 1024 and len(backups) <= BACKUPS  # slack: the line that crossed the bound
    return (f"Journal file: {size / MIB:.1f} MiB now, {len(backups)} backups, {total / MIB:.1f} MiB on disk in all; "
            f"bound {MAX_BYTES / MIB:.0f} MiB × (1 + {BACKUPS} backups): {'within' if within else 'EXCEEDED'}.")


def mark_row(mark: Mark, first: Mark, settled: Mark) -> list[str]:
    return [f"{mark.calls:,} calls", f"{mark.rss / MIB:.1f}", report.ratio(mark.rss, first.rss),
            report.ratio(mark.rss, settled.rss), f"{mark.calls_per_second:.0f}", f"{mark.cpu_ms_per_call:.2f}"]


def main() -> None:
    marks_at = [1_000, 5_000, 10_000] if report.quick() else [1_000, 10_000, 50_000]
    stored_count = 1_000 if report.quick() else 10_000
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as confdir, fake_server(Path(confdir)) as server:
        idle_rss = server.rss_bytes()
        stateless = Driver(server, STATELESS_CALLS)
        marks = [stateless.mark(n) for n in marks_at]
        stored_before = stored_objects(stateless.port, Path(confdir))
        stored = Driver(server, STORED_CALLS)
        stored_mark = stored.mark(stored_count)
        stored_after = stored_objects(stateless.port, Path(confdir))
        journal = journal_note(Path(confdir))

    first, settled, last = marks[0], marks[1], marks[-1]
    growth = last.rss / first.rss
    stateless_section = report.Section(
        key="memory",
        title="Memory: fake's RSS after N stateless calls (chat without store, embeddings, models list; base-URL face)",
        columns=["after", "RSS MiB", f"× {first.calls:,}", f"× {settled.calls:,}", "calls/s", "server CPU ms/call"],
        rows=[["started, no call", f"{idle_rss / MIB:.1f}", report.ratio(idle_rss, first.rss),
               report.ratio(idle_rss, settled.rss), "", ""]] + [mark_row(mark, first, settled) for mark in marks],
        goals=[report.Goal(f"RSS after {last.calls:,} calls ≤ {GOAL_RATIO:.2f} × RSS after {first.calls:,}",
                           f"{growth:.2f}", growth <= GOAL_RATIO)],
        notes=[
            f"Client: {CONNECTIONS} keep-alive connections (asyncio streams), every answer a 200; calls/s and CPU "
            "are for the calls since the previous mark.",
            f"The in-memory journal keeps the last {JOURNAL_KEEPS:,} calls by design, so RSS may rise until "
            f"{JOURNAL_KEEPS:,} calls; after that it should be flat (the × {settled.calls:,} column).",
            f"Objects stored by the fake after these calls: {stored_before}.",
            journal,
        ],
    )
    grown = stored_mark.rss - last.rss
    stored_section = report.Section(
        key="memory-stored",
        title="Memory: responses.create, stored by default (data the user asked to keep; no goal)",
        columns=["after", "RSS MiB", "growth MiB", "bytes per stored response", "calls/s"],
        rows=[
            [f"{last.calls:,} stateless calls", f"{last.rss / MIB:.1f}", "", "", ""],
            [f"+ {stored_count:,} responses.create", f"{stored_mark.rss / MIB:.1f}", f"{grown / MIB:.1f}",
             f"{grown / stored_count:,.0f}", f"{stored_mark.calls_per_second:.0f}"],
        ],
        notes=[f"Same fake, its journal already full, so the growth is the stored responses "
               f"({stored_after - stored_before:,} stored objects: each response and its input items)."],
    )
    report.emit([stateless_section, stored_section])


if __name__ == "__main__":
    main()
