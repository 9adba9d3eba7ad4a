"""Does latency=1 hold under 200 concurrent calls? Wall time of the batch and each call's error (issue 6, item 4).

    python bench/concurrency.py [--quick]

A fake runs a profile with `Profile(latency=1.0)`: every answer waits one
second, counted from the request's arrival, without blocking other calls. A
client starts 200 chat calls together with `asyncio.gather`, on each face
(base-URL on the proxy's port; base-URL on its own port, uvicorn and httptools,
where `Runner.base_url` points; and proxy: HTTPS to api.openai.com through the
fake's proxy). Each
call's error is its own duration minus 1 s. After an untimed warm-up batch
that opens 200 keep-alive connections, the batch is run 3 times (1 with
--quick) on those connections (no TLS handshakes) and the median batch by
wall time is reported.

The goals (wall time ≤ 1.2 s, p99 error ≤ 20 ms) are on a light client: one
aiohttp `ClientSession` (C HTTP parser, 200 pooled connections) posting the
SDK's JSON body. Two references, measured with the same client in the same
run: the bare mitmproxy of bench/throughput.py (same version, master,
addons, mode and options as the fake) with only the wait added, which is the floor mitmproxy
itself sets; and aimock (a Node mock server, `--chaos-latency 1000`), which
shows what the client allows by itself. The openai SDK (`AsyncOpenAI`, its
pool widened to 200) is measured as information (not with --quick): starting
200 calls costs it most of a second of CPU, so it misses the goal against
any server, aimock too.

A last table says where each call's time went, from the client's clock and
the fake's journal (same machine, same clock): from the call's start to the
request's arrival as mitmproxy timestamps it, the fake's lateness beyond 1 s
after that arrival, and from the answer being ready to the client returning.
With the CPU seconds each process spent during the batch, it tells whether
the client, the server or the machine is the bottleneck.

"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp
import httpx2
import openai

import report
from proxy_addon.journal import journal_path, read_entries
from proxy_addon.trust import ca_cert_file
from servers import Server, bare_mitmproxy, fake_server
from throughput import AIMOCK_VERSION, PeerUnavailable, aimock_server, environment

LATENCY = 1.0
CALLS = 200
WALL_GOAL = 1.2  # seconds for the whole batch
P99_GOAL = 0.020  # seconds of error per call
MODEL = "gpt-4o"
MESSAGES = [{"role": "user", "content": "Say hello"}]
BODY = json.dumps({"model": MODEL, "messages": MESSAGES}).encode()  # what the SDK sends for these arguments
OPENAI_URL = "https://api.openai.com/v1/chat/completions"  # reached only through a local proxy
PROFILE = f"from proxy_addon import Profile\n\nprofile = Profile(latency={LATENCY})\n"
OWN_PORT = "base-URL own port"
FACES = ("base-URL", OWN_PORT, "proxy")
LIGHT, SDK = "aiohttp", "openai SDK"
# Timed batches per client: the light client carries the goals; the SDK's figures are information.
REPEATS = {LIGHT: 1} if report.quick() else {LIGHT: 3, SDK: 1}


@dataclass
class Reply:
    request_id: str
    content: str
    body: bytes | None = None  # the raw answer, when the client has it
    headers: dict[str, str] | None = None  # and its headers


@dataclass
class Client:
    """One HTTP client pointed at one face of one server."""

    send: Callable[[], Awaitable[Reply]]  # one chat call; raises unless the answer is a chat completion
    opened: Callable[[], int | None]  # connections opened so far (None: unknown)
    close: Callable[[], Awaitable[None]]


@dataclass
class Call:
    """One call as the client saw it (wall-clock times, comparable with the journal's)."""

    started: float
    ended: float
    request_id: str

    @property
    def error(self) -> float:
        return self.ended - self.started - LATENCY


@dataclass
class Batch:
    """One batch of CALLS calls started together."""

    started: float
    wall: float
    calls: list[Call]
    server_cpu: float
    client_cpu: float
    new_connections: int | None  # connections the client opened during the batch (None: unknown)

    @property
    def errors(self) -> list[float]:
        return [call.error for call in self.calls]


@dataclass
class Measured:
    """One client on one face: its first reply, its warm-up batch, and the median timed batch by wall time."""

    first: Reply
    warm_up: Batch
    median: Batch


# -- the two clients ------------------------------------------------------------------------------


def _base_url(server: Server, face: str) -> str:
    """The base-URL face on the proxy's port, or (OWN_PORT) the fake's on its own."""
    return server.own_base_url if face == OWN_PORT else server.base_url


def light_client(server: Server, face: str) -> Client:
    """One aiohttp session for one face, keeping CALLS connections; the proxy face trusts the server's CA."""
    opened = 0

    async def count_connection(*_) -> None:
        nonlocal opened
        opened += 1  # a TCP connection, with its CONNECT and TLS handshake on the proxy face

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(count_connection)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CALLS, keepalive_timeout=60),
                                    trace_configs=[trace])
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
    if face == "proxy":
        url = OPENAI_URL
        options = dict(proxy=server.proxy_url, ssl=ssl.create_default_context(cafile=ca_cert_file(server.confdir)))
    else:
        url, options = f"{_base_url(server, face)}/chat/completions", {}

    async def send() -> Reply:
        async with session.post(url, data=BODY, headers=headers, **options) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: status {response.status}: {body[:200]!r}")
            content = json.loads(body)["choices"][0]["message"]["content"]  # a chat completion, or KeyError
            return Reply(response.headers.get("x-request-id", ""), content, body, dict(response.headers))

    return Client(send, lambda: opened, session.close)


def sdk_client(server: Server, face: str) -> Client:
    """An `openai.AsyncOpenAI` for one face whose pool opens and keeps CALLS connections."""
    limits = httpx2.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    if face == "proxy":
        with environment(server.env()):  # the http client reads the proxy and CA variables when built
            sdk = openai.AsyncOpenAI(api_key="sk-bench", max_retries=0,
                                     http_client=openai.DefaultAsyncHttpxClient(limits=limits))
    else:
        sdk = openai.AsyncOpenAI(base_url=_base_url(server, face), api_key="sk-bench", max_retries=0,
                                 http_client=openai.DefaultAsyncHttpxClient(limits=limits))
    seen: set[int] = set()

    def opened() -> int | None:
        """Connections seen in the pools so far, or None if httpx2's internals have moved.

        httpx2 has no public view of its pool; this reads its transport and its
        proxy mounts (httpcore2 pools, whose `connections` is public)."""
        http_client = sdk._client
        try:
            transports = [http_client._transport, *http_client._mounts.values()]
            seen.update(id(c) for t in transports if t is not None for c in t._pool.connections)
        except AttributeError:
            return None
        return len(seen)

    async def send() -> Reply:
        completion = await sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
        return Reply(completion._request_id or "", completion.choices[0].message.content or "")

    return Client(send, opened, sdk.close)


CLIENTS: dict[str, Callable[[Server, str], Client]] = {LIGHT: light_client, SDK: sdk_client}


# -- the batches ----------------------------------------------------------------------------------


async def timed_call(client: Client) -> Call:
    started = time.time()
    reply = await client.send()
    return Call(started, time.time(), reply.request_id)


async def batch(client: Client, server: Server) -> Batch:
    """CALLS calls started together; wall time, each call's times, and the CPU both sides spent."""
    opened_before = client.opened()
    server_before, client_before = server.cpu_seconds(), time.process_time()
    started = time.time()
    calls = await asyncio.gather(*(timed_call(client) for _ in range(CALLS)))
    wall = time.time() - started
    server_cpu, client_cpu = server.cpu_seconds() - server_before, time.process_time() - client_before
    opened_after = client.opened()
    new = None if opened_before is None or opened_after is None else opened_after - opened_before
    return Batch(started, wall, list(calls), server_cpu, client_cpu, new)


async def measure(client_name: str, server: Server, face: str) -> Measured:
    """One call, the warm-up batch that opens the connections, then the client's timed batches."""
    client = CLIENTS[client_name](server, face)
    try:
        first = await client.send()
        warm_up = await batch(client, server)
        batches = sorted([await batch(client, server) for _ in range(REPEATS[client_name])], key=lambda b: b.wall)
    finally:
        await client.close()
    return Measured(first, warm_up, batches[len(batches) // 2])


# -- the journal ----------------------------------------------------------------------------------


def journal_by_request(confdir: Path) -> dict[str, tuple[float, float]]:
    """Each call's arrival and answer time (wall clock) in the fake, by request id, from its journal.

    The journal's duration counts from the request's arrival, as the latency does."""
    entries = read_entries(journal_path(confdir), where=lambda e: e.kind == "call")
    return {e.request_id: (e.time - e.duration_ms / 1000, e.time) for e in entries}


def check_faces(confdir: Path) -> None:
    """The fake's journal saw every call, each client's batches on the face they were meant for."""
    faces = Counter(entry.face for entry in read_entries(journal_path(confdir)) if entry.kind == "call")
    expected = sum((1 + repeats) * CALLS + 1 for repeats in REPEATS.values())  # first call, warm-up, timed
    # Both base-URL faces (the proxy's port and its own) journal their calls as "base-url".
    if faces != Counter({"base-url": 2 * expected, "proxy": expected}):
        raise RuntimeError(f"the fake's journal counts {dict(faces)} calls by face, not {expected} on each")


# -- the report -----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if abs(seconds) >= 0.1 else f"{seconds * 1000:.1f}"


def spread(values: list[float]) -> str:
    """`median / p99` in ms."""
    return f"{ms(report.median(values))} / {ms(report.p99(values))}"


def result_row(name: str, measured: Measured) -> list[str]:
    batch_ = measured.median
    connections = "?" if batch_.new_connections is None else str(batch_.new_connections)
    return [name, f"{batch_.wall:.3f}", ms(report.median(batch_.errors)), ms(report.p99(batch_.errors)),
            f"{batch_.server_cpu:.2f}", f"{batch_.client_cpu:.2f}", connections, f"{measured.warm_up.wall:.3f}"]


def breakdown_row(name: str, measured: Batch, handlers: dict[str, tuple[float, float]]) -> list[str]:
    """Where the calls' time went: start spread, to the fake, the fake's lateness, back to the client."""
    inbound, late, outbound = [], [], []
    for call in measured.calls:
        arrived, answered = handlers[call.request_id]
        inbound.append(arrived - call.started)
        late.append(answered - arrived - LATENCY)
        outbound.append(call.ended - answered)
    last_start = max(call.started for call in measured.calls) - measured.started
    return [name, ms(last_start), spread(inbound), spread(late), spread(outbound)]


def goals(face: str, measured: Batch) -> list[report.Goal]:
    p99 = report.p99(measured.errors)
    return [
        report.Goal(f"{face} face: {CALLS} calls in ≤ {WALL_GOAL} s of wall time", f"{measured.wall:.3f} s",
                    measured.wall <= WALL_GOAL),
        report.Goal(f"{face} face: per-call error at p99 ≤ {P99_GOAL * 1000:.0f} ms", f"{ms(p99)} ms", p99 <= P99_GOAL),
    ]


COLUMNS = ["server, face", "wall s", "error median ms", "error p99 ms", "server CPU s", "client CPU s",
           "new connections", "warm-up wall s"]
AIMOCK = f"aimock {AIMOCK_VERSION}"


def row_notes(client_name: str) -> list[str]:
    """What the rows of one client's table mean."""
    return [
        f"Each row is the median (by wall time) of {REPEATS[client_name]} batch(es) of {CALLS} calls started together "
        "with asyncio.gather; error = a call's duration − 1 s, from the call's own start.",
        f"The client keeps {CALLS} connections; an untimed warm-up batch opens them (its wall time is the last "
        "column), and 'new connections' counts those opened during the reported batch (0: all reused).",
        "Server and client CPU s: CPU time each process spent during the batch, against its wall time; "
        "they share two cores.",
    ]


async def run(workdir: Path) -> list[report.Section]:
    profile = workdir / "latency_one_second.py"
    profile.write_text(PROFILE)
    title = f"Latency and concurrency: {CALLS} concurrent calls with latency={LATENCY:g} s"
    tables = {LIGHT: report.Section("concurrency", f"{title}, light client (aiohttp)", COLUMNS),
              SDK: report.Section("concurrency-sdk", f"{title}, openai SDK client (no goal)", COLUMNS)}
    breakdown = report.Section(
        "concurrency-breakdown", "Where the time of the fake's calls went (median / p99, ms)",
        ["client, face", "last call started at", "start → request arrived", "fake late by (after arrival)",
         "answer ready → client returns"])
    measured: dict[tuple[str, str], Measured] = {}

    async def measure_rows(server_name: str, server: Server, client_names, faces) -> None:
        for client_name in client_names:
            for face in faces:
                measured[client_name, face] = result = await measure(client_name, server, face)
                tables[client_name].rows.append(result_row(f"{server_name}, {face}", result))

    with fake_server(workdir, profile=str(profile)) as server:
        if server.own_base_url == server.base_url:
            raise RuntimeError("the fake's base-URL face has no port of its own")
        await measure_rows("fake", server, REPEATS, FACES)
    check_faces(workdir)
    handlers = journal_by_request(workdir)
    breakdown.rows = [breakdown_row(f"{client_name}, {face}", m.median, handlers)
                      for (client_name, face), m in measured.items()]
    first = measured[LIGHT, "base-URL"].first
    tables[LIGHT].goals = [goal for face in FACES for goal in goals(face, measured[LIGHT, face].median)]
    with bare_mitmproxy(workdir / "bare", first.body, first.headers, wait=LATENCY) as bare:
        await measure_rows("reference: bare mitmproxy + wait", bare, [LIGHT], ["base-URL", "proxy"])
    try:
        with aimock_server(workdir, first.content, "--chaos-latency", str(round(LATENCY * 1000))) as aimock:
            await measure_rows(f"reference: {AIMOCK}", aimock, REPEATS, ["base-URL"])
        aimock_note = (f"Reference {AIMOCK} (Node) with --chaos-latency {round(LATENCY * 1000)}: a server that "
                       "spends little CPU per call, so its row shows what the client allows by itself.")
    except PeerUnavailable as error:
        aimock_note = f"Reference {AIMOCK} not measured: {error}."
    tables[LIGHT].notes = [
        f"One aiohttp {aiohttp.__version__} ClientSession posting the SDK's JSON body; the proxy face sends HTTPS "
        "to api.openai.com through the server's proxy, trusting its CA. Every answer is checked (status 200, a "
        "chat completion), and the fake's journal shows each batch on the face it was meant for.",
        "Reference bare mitmproxy + wait: the bare mitmproxy of the throughput part (same version, master, addons, "
        "mode and options as the fake, one fixed answer: the fake's) with only the 1 s wait, counted from the arrival as "
        "the fake counts it: the floor mitmproxy itself sets for these goals on this machine.",
        aimock_note,
        *row_notes(LIGHT),
    ]
    sections = [tables[LIGHT]]
    if SDK in REPEATS:
        tables[SDK].notes = [
            "Information, no goal: one openai.AsyncOpenAI (pool widened to 200). Starting 200 calls costs the SDK "
            f"most of a second of CPU by itself, so it misses the goal against {AIMOCK} too: these rows measure "
            "the client.",
            *row_notes(SDK),
        ]
        sections.append(tables[SDK])
    breakdown.notes = [
        "From the client's clock and the fake's journal (one machine, one clock), for the fake's batches above. "
        f"'Last call started at': when the client's event loop first ran the last of the {CALLS} calls.",
        "'Start → request arrived': the client building and sending the request, and mitmproxy reading it "
        "(its timestamp), queued behind the others on both sides. 'Fake late by': the answer beyond 1 s after "
        "that arrival (the latency counts from there). 'Answer ready → client returns': mitmproxy writing the "
        "answer and the client reading and parsing it.",
    ]
    return [*sections, breakdown]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as workdir:
        report.emit(asyncio.run(run(Path(workdir))))


if __name__ == "__main__":
    main()
