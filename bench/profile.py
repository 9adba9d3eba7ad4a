"""Where a proxied call's CPU time goes: py-spy samples of the fake (and of a stock mitmproxy) under load.

    python bench/profile.py [--quick]

The evidence behind the speed work, reproducible: a fake (`openai-fake run`)
and a bare mitmproxy with mitmproxy's default addons (`bench/bare_mitmproxy.py
--stock`, the master the fake used before) each answer chat calls from 16
keep-alive aiohttp connections on one face at a time, while py-spy samples the
server process (CPU-active stacks only). Every sample is put in the first
bucket its stack matches:

- the fake's request hook (`OpenAIFake.request`), split into the engine, making
  mitmproxy's response object, the journal, and the rest of the hook;
- the fixed answer of the bare proxy's addon (`FixedAnswer.request`);
- mitmproxy handing hooks to its addons (`AddonManager.trigger_event`, outside
  the two above): the cost of every addon that is loaded, used or not;
- mitmproxy's proxy core: connections, TLS, HTTP/1 parsing and writing.

The shares are of the process's CPU samples; ms per call is the process's own
CPU time (from /proc) per call in the same window. py-spy needs permission to
read the server's memory (ptrace); where it has none, the part says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

import report
from proxy_addon.trust import ca_cert_file
from servers import Server, bare_mitmproxy, fake_server

CONNECTIONS = 16
CALLS = 1_500 if report.quick() else 6_000
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}]}).encode()
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
#: (bucket, frame names that put a sample in it), the first match wins.
BUCKETS = [
    ("fake hook: engine", ("Engine.handle",)),
    ("fake hook: mitmproxy Response.make", ("OpenAIFake.request;Response.make",)),
    ("fake hook: journal", ("Journal.record",)),
    ("fake hook: the rest", ("OpenAIFake.request",)),
    ("bare addon: fixed answer", ("FixedAnswer.request",)),
    ("mitmproxy: hooks to addons", ("AddonManager.trigger_event",)),
]
CORE = "mitmproxy: proxy core (connections, TLS, HTTP/1)"


def py_spy() -> str | None:
    """The py-spy next to this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def load(server: Server, face: str, calls: int) -> None:
    """`calls` chat calls over CONNECTIONS keep-alive connections, every answer a 200."""
    options: dict = {}
    url = f"{server.base_url}/chat/completions"
    if face == "proxy":
        url = "https://api.openai.com/v1/chat/completions"
        options = dict(proxy=server.proxy_url, ssl=ssl.create_default_context(cafile=ca_cert_file(server.confdir)))
    numbers = iter(range(calls))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:
        async def connection() -> None:
            for _ in numbers:
                async with session.post(url, data=BODY, headers=HEADERS, **options) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url}: status {response.status}")

        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))


def sampled(server: Server, face: str, spy: str, workdir: Path) -> tuple[Counter, int, float]:
    """Bucketed py-spy samples of `server` while it answers CALLS calls, their total, and its CPU ms per call."""
    asyncio.run(load(server, face, 200))  # warm: connections, TLS, first-call imports
    out = workdir / f"{server.pid}-{face}.txt"
    recorder = subprocess.Popen([spy, "record", "--pid", str(server.pid), "--rate", "500", "--format", "raw",
                                 "--output", str(out), "--nonblocking"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)  # py-spy attaches
    if recorder.poll() is not None:
        raise PermissionError(f"py-spy could not sample: {recorder.stdout.read().strip()[-300:]}")
    cpu = server.cpu_seconds()
    asyncio.run(load(server, face, CALLS))
    cpu = server.cpu_seconds() - cpu
    recorder.send_signal(2)  # SIGINT: py-spy writes what it has and exits
    recorder.wait(30)
    buckets: Counter = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = ";".join(frame.split(" (")[0] for frame in stack.split(";"))
        if frames.endswith(("select", "EpollSelector.select")):
            continue  # waiting for the client, not working
        total += int(count)
        buckets[next((name for name, marks in BUCKETS if any(m in frames for m in marks)), CORE)] += int(count)
    return buckets, total, cpu / CALLS * 1000


def main() -> None:
    section = report.Section("profile", "Where the server's CPU goes under load (py-spy samples, % of the process)",
                             ["bucket", "stock proxy", "fake proxy", "stock base-URL", "fake base-URL"])
    spy = py_spy()
    if spy is None:
        section.notes.append("Not measured: py-spy is not installed (pip install -e '.[bench]').")
        report.emit([section])
        return
    columns: list[tuple[Counter, int, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, contextlib.ExitStack() as stack:
            workdir = Path(tmp)
            for name in ("fake", "stock"):
                (workdir / name).mkdir()
            fake = stack.enter_context(fake_server(workdir / "fake"))
            body = b'{"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"gpt-4o","choices":[]}'
            stock = stack.enter_context(bare_mitmproxy(workdir / "stock", body, stock=True))
            for face in ("proxy", "base-URL"):
                for server in (stock, fake):
                    columns.append(sampled(server, face, spy, workdir))
    except PermissionError as error:
        section.notes.append(f"Not measured: {error}")
        report.emit([section])
        return
    names = [name for name, _ in BUCKETS] + [CORE]
    for name in names:
        section.rows.append([name, *(f"{100 * buckets[name] / total:.0f} %" if total else "—"
                                     for buckets, total, _ in columns)])
    section.rows.append(["server CPU ms per call", *(f"{ms:.2f}" for _, _, ms in columns)])
    section.notes += [
        f"{CALLS:,} chat calls per column from {CONNECTIONS} keep-alive aiohttp connections; py-spy at 500 Hz, "
        "CPU-active samples only; each sample counted in the first bucket its stack matches.",
        "Stock: bench/bare_mitmproxy.py --stock, a fixed answer from a master with mitmproxy's default addons (the "
        "master the fake ran before). Fake: `openai-fake run`, whose master keeps six addons (runner.make_master).",
    ]
    report.emit([section])


if __name__ == "__main__":
    main()
