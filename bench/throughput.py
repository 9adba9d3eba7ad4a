"""How many chat calls a second the real openai SDK gets from the fake, against a bare mitmproxy (issue 6, items 1 and 2).

    python bench/throughput.py [--quick]

The reference is a bare mitmproxy (`bench/bare_mitmproxy.py`: the same
version, master, addons, mode and options as the fake) whose addon answers one
fixed body and set of headers, taken once from the fake's own answer, so both
send the same bytes (one request id). A stock mitmproxy (the same, with mitmproxy's default addons) shows
what the fake's trimmed addon set is worth. The SDK
calls `chat.completions.create` with one fixed small request, in two
workloads: sequential calls from one `openai.OpenAI`, and 16 asyncio tasks
calling in a loop on one `openai.AsyncOpenAI` (16 keep-alive connections in
its pool). Each face is measured on both servers: the proxy face (HTTPS to
api.openai.com through HTTPS_PROXY, set from `server.env()` when the client is
built) and the base-URL face on the proxy's port (`base_url=server.base_url`).
The fake's base-URL face on its own port (`server.own_base_url`: uvicorn and
httptools, `proxy_addon/asgi_face.py`) is measured in the same rounds, against
aimock (issue 16: its server CPU per call ≤ 1.0 × aimock's).

Every client is warmed up first (imports, connections, TLS), and again with a
few untimed calls right before each timed batch, since the pool drops
connections idle for 5 s. A round times one short batch per server and face,
in alternating order, and there are many rounds: the speed of a shared machine
moves within seconds, so each figure is the median over the rounds, and a
ratio is the median of the ratios within each round, between batches run a
second apart. Client and servers share two cores, so req/s mostly measures the
client; the server's own cost is its CPU time per call (from /proc), read
around each batch.

A peer, aimock 1.43.0 (a Node mock server, base-URL only), is measured in the
same rounds when `node` and `npm` are available; it is installed once into
`bench/.cache/aimock/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Iterator

import openai

import report
from servers import BENCH, Server, _stop, bare_mitmproxy, cpu_seconds, fake_server  # _stop: the same way to end a server
from proxy_addon.journal import journal_path, read_entries

MODEL = "gpt-4o"
MESSAGES = [{"role": "user", "content": "Say hello"}]
CONCURRENCY = 16
ROUNDS = 6 if report.quick() else 20
SEQUENTIAL_CALLS = 40 if report.quick() else 100
CONCURRENT_CALLS = CONCURRENCY * (4 if report.quick() else 8)
GOAL = 0.9  # issue 6: at least 0.9 of the bare proxy
PEER_GOAL = 1.0  # issue 16: the base-URL face's own port spends at most aimock's server CPU per call
OWN_PORT = "base-URL own port"

AIMOCK_PACKAGE = "@copilotkit/aimock"
AIMOCK_VERSION = "1.43.0"
AIMOCK_DIR = BENCH / ".cache" / "aimock"


@dataclass
class Target:
    """One server face, with the SDK clients pointed at it."""

    name: str  # e.g. "fake proxy"
    pid: int  # the server process whose CPU is counted
    sync: openai.OpenAI
    aio: openai.AsyncOpenAI


@dataclass
class Batch:
    """One timed batch of calls."""

    calls: int
    seconds: float
    server_cpu: float
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @property
    def server_ms(self) -> float:
        return self.server_cpu / self.calls * 1000

    @property
    def client_ms(self) -> float:
        return self.client_cpu / self.calls * 1000


# -- the two workloads ---------------------------------------------------------------------------


async def sequential(target: Target, calls: int) -> None:
    """`calls` calls, one after another, from the sync client (it blocks the loop, which has nothing else to do)."""
    for _ in range(calls):
        target.sync.chat.completions.create(model=MODEL, messages=MESSAGES)


async def concurrent(target: Target, calls: int) -> None:
    """`calls` calls from CONCURRENCY tasks sharing the async client, each calling in a loop."""

    async def task(count: int) -> None:
        for _ in range(count):
            await target.aio.chat.completions.create(model=MODEL, messages=MESSAGES)

    await asyncio.gather(*(task(calls // CONCURRENCY) for _ in range(CONCURRENCY)))


Workload = Callable[[Target, int], Awaitable[None]]
WORKLOADS: dict[str, tuple[Workload, int, int]] = {  # name: (run, timed calls, warm-up calls before each batch)
    "sequential": (sequential, SEQUENTIAL_CALLS, 5),
    f"{CONCURRENCY} concurrent": (concurrent, CONCURRENT_CALLS, 2 * CONCURRENCY),
}


async def timed_batch(target: Target, workload: Workload, calls: int, warm_calls: int) -> Batch:
    """Warm the connections, then time `calls` calls with the server's and this process's CPU time around them."""
    await workload(target, warm_calls)
    server_before, client_before = cpu_seconds(target.pid), time.process_time()
    started = time.perf_counter()
    await workload(target, calls)
    seconds = time.perf_counter() - started
    return Batch(calls, seconds, cpu_seconds(target.pid) - server_before, time.process_time() - client_before)


# -- clients, and checks that they reach the face they are meant to ---------------------------------


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """`env` in os.environ for the block (the SDK's http client reads proxy and CA variables when it is built)."""
    saved = dict(os.environ)
    os.environ.update(env)
    os.environ.pop("OPENAI_BASE_URL", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def target(name: str, server: Server, face: str) -> Target:
    """Clients for `server`'s proxy face (api.openai.com through HTTPS_PROXY), its base-URL face on the proxy's
    port, or (OWN_PORT) the fake's base-URL face on its own port."""
    options = dict(api_key="sk-bench", max_retries=0)
    if face == "proxy":
        with environment(server.env()):
            return Target(name, server.pid, openai.OpenAI(**options), openai.AsyncOpenAI(**options))
    url = server.own_base_url if face == OWN_PORT else server.base_url
    return Target(name, server.pid, openai.OpenAI(base_url=url, **options), openai.AsyncOpenAI(base_url=url, **options))


def raw_answer(client: openai.OpenAI):
    """One call's raw HTTP response."""
    return client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES).http_response


def check_bare(t: Target, body: bytes) -> None:
    """The bare proxy answered this client (its fixed bytes), through the proxy for the proxy face."""
    response = raw_answer(t.sync)
    if response.content != body:
        raise RuntimeError(f"{t.name}: the answer is not the bare proxy's fixed body")


def check_fake_face(t: Target, confdir: Path, face: str) -> None:
    """The fake's journal says this client's call arrived on `face` ("proxy" or "base-url")."""
    request_id = raw_answer(t.sync).headers["x-request-id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = read_entries(journal_path(confdir), limit=1, where=lambda e: e.request_id == request_id)
        if found:
            if found[0].face != face:
                raise RuntimeError(f"{t.name}: the fake saw the call on its {found[0].face} face, not {face}")
            return
        time.sleep(0.02)
    raise RuntimeError(f"{t.name}: call {request_id} is not in the fake's journal")


# -- the peer: aimock ----------------------------------------------------------------------------


class PeerUnavailable(Exception):
    """aimock cannot be installed or started here; the reason is the message."""


def aimock_cli() -> Path:
    """aimock's `llmock` bin, installed into bench/.cache/aimock once."""
    package_dir = AIMOCK_DIR / "node_modules" / AIMOCK_PACKAGE
    manifest = package_dir / "package.json"
    installed = manifest.exists() and json.loads(manifest.read_text()).get("version") == AIMOCK_VERSION
    if not installed:
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        if missing:
            raise PeerUnavailable(f"{' and '.join(missing)} not found")
        try:
            subprocess.run(["npm", "install", "--prefix", str(AIMOCK_DIR), f"{AIMOCK_PACKAGE}@{AIMOCK_VERSION}",
                            "--no-audit", "--no-fund"], check=True, capture_output=True, text=True, timeout=180)
        except (subprocess.SubprocessError, OSError) as error:
            detail = getattr(error, "stderr", None) or error
            detail = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
            raise PeerUnavailable(f"npm install {AIMOCK_PACKAGE}@{AIMOCK_VERSION} failed: {detail.strip()[-300:]}")
    if shutil.which("node") is None or not manifest.exists():
        raise PeerUnavailable("node not found" if manifest.exists() else f"{manifest} missing after npm install")
    return package_dir / json.loads(manifest.read_text())["bin"]["llmock"]


@contextlib.contextmanager
def aimock_server(workdir: Path, content: str, *options: str, timeout: float = 30.0) -> Iterator[Server]:
    """aimock on a free loopback port, answering MESSAGES with `content`; its log goes to a file, not a pipe.

    `options` are more `llmock` options, e.g. `--chaos-latency 1000`. Raises PeerUnavailable."""
    fixtures = workdir / "aimock-fixtures.json"
    fixtures.write_text(json.dumps({"fixtures": [
        {"match": {"userMessage": MESSAGES[-1]["content"]}, "response": {"content": content}}]}))
    log = workdir / "aimock.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(["node", str(aimock_cli()), "--port", "0", "--host", "127.0.0.1",
                                    "--fixtures", str(fixtures), *options], stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while "listening on " not in (text := log.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise PeerUnavailable(f"aimock did not start: {text.strip()[-300:]}")
            time.sleep(0.02)
        url = text.split("listening on ", 1)[1].split()[0].rstrip("/")
        yield Server(process, url, workdir)
    finally:
        _stop(process)


# -- the run -------------------------------------------------------------------------------------


async def measure_rounds(targets: list[Target]) -> dict[tuple[str, str], list[Batch]]:
    """ROUNDS rounds of one timed batch per workload and target, the target order reversed every other round."""
    batches: dict[tuple[str, str], list[Batch]] = {}
    for workload_name, (workload, _, warm_calls) in WORKLOADS.items():
        for t in targets:  # first use: imports, TLS, the pool's connections
            await workload(t, max(warm_calls, 2 * CONCURRENCY))
    for round_number in range(ROUNDS):
        order = targets if round_number % 2 == 0 else targets[::-1]
        for workload_name, (workload, calls, warm_calls) in WORKLOADS.items():
            for t in order:
                batches.setdefault((workload_name, t.name), []).append(await timed_batch(t, workload, calls, warm_calls))
    return batches


@dataclass
class Figures:
    """The medians over the rounds for one workload and target, and the CPU per call over all of them."""

    rate: float
    server_ms: float
    client_ms: float
    server_ms_overall: float

    @classmethod
    def of(cls, batches: list[Batch]) -> "Figures":
        return cls(report.median([b.rate for b in batches]), report.median([b.server_ms for b in batches]),
                   report.median([b.client_ms for b in batches]),
                   sum(b.server_cpu for b in batches) / sum(b.calls for b in batches) * 1000)


def paired(batches: dict[tuple[str, str], list[Batch]], workload: str, name: str, reference: str,
           measure: str = "rate") -> float:
    """The median over the rounds of `name`'s figure over `reference`'s in the same round. A round whose
    reference measured 0 (CPU counted in 10 ms ticks: a short batch of a light server may get none) is left
    out; with none left, NaN."""
    pairs = zip(batches[(workload, name)], batches[(workload, reference)])
    ratios = [getattr(a, measure) / getattr(b, measure) for a, b in pairs if getattr(b, measure)]
    return report.median(ratios) if ratios else float("nan")


def sections(batches: dict[tuple[str, str], list[Batch]], peer_note: str | None) -> list[report.Section]:
    figures = {key: Figures.of(value) for key, value in batches.items()}

    def ratio(workload: str, name: str, reference: str, measure: str = "rate") -> float:
        return paired(batches, workload, name, reference, measure)

    throughput = report.Section(
        "throughput", "Throughput: the openai SDK through the fake against a bare mitmproxy (same bytes)",
        ["face / workload", "bare req/s", "fake req/s", "fake/bare", "bare CPU ms/call", "fake CPU ms/call",
         "fake/bare CPU"])
    faces = report.Section(
        "throughput-faces", "Throughput: the fake's base-URL face against its proxy face",
        ["workload", "proxy req/s", "base-URL req/s", "base-URL/proxy", "proxy CPU ms/call", "base-URL CPU ms/call"],
        notes=["No goal: a figure. The base-URL face skips the CONNECT and the TLS layer, so it is expected to be ≥ 1."])
    for face in ("proxy", "base-URL"):
        for workload in WORKLOADS:
            bare, fake = figures[(workload, f"bare {face}")], figures[(workload, f"fake {face}")]
            measured = ratio(workload, f"fake {face}", f"bare {face}")
            throughput.rows.append([f"{face}, {workload}", f"{bare.rate:.0f}", f"{fake.rate:.0f}", f"{measured:.2f}",
                                    f"{bare.server_ms:.2f}", f"{fake.server_ms:.2f}",
                                    f"{ratio(workload, f'fake {face}', f'bare {face}', 'server_ms'):.2f}"])
            throughput.goals.append(report.Goal(f"{face} face, {workload}: fake ≥ {GOAL} × bare mitmproxy",
                                                f"{measured:.3f}", measured >= GOAL))  # 3 places: 0.897 is not 0.90
    for workload in WORKLOADS:
        proxy, base = figures[(workload, "fake proxy")], figures[(workload, "fake base-URL")]
        faces.rows.append([workload, f"{proxy.rate:.0f}", f"{base.rate:.0f}",
                           f"{ratio(workload, 'fake base-URL', 'fake proxy'):.2f}",
                           f"{proxy.server_ms:.2f}", f"{base.server_ms:.2f}"])
    client_ms = sorted(f.client_ms for f in figures.values())
    throughput.notes += [
        f"req/s: median of {ROUNDS} alternating rounds of {SEQUENTIAL_CALLS} sequential calls (one openai.OpenAI) "
        f"and {CONCURRENT_CALLS} calls from {CONCURRENCY} asyncio tasks on one openai.AsyncOpenAI. A ratio is the "
        "median over the rounds of the ratio within each round (batches a second or so apart), so that the "
        "machine's drift cancels out.",
        "CPU ms/call: the server process's own CPU time (user + system, /proc) per call, median of the rounds. "
        "Before timing, one call per client checks the face: the bare proxy's bytes came back, and the fake's "
        "journal recorded the call on the proxy or base-URL face as meant.",
        f"The SDK client in the same run spent {client_ms[0]:.2f}–{client_ms[-1]:.2f} ms CPU per call: with client and "
        "server on the same cores, req/s is mostly the client's speed; CPU per call is the server's own cost.",
    ]
    stock = report.Section(
        "throughput-stock", "What trimming mitmproxy's addons bought: the fake against a stock mitmproxy",
        ["face / workload", "stock req/s", "bare req/s", "fake req/s", "fake/stock", "stock CPU ms/call",
         "bare CPU ms/call", "fake CPU ms/call"],
        notes=["No goal: a figure. Stock: the same bare answer from a master with mitmproxy's ~35 default addons "
               "(those of DumpMaster and mitmdump), as the fake ran before; bare and fake run `runner.make_master`, "
               "which keeps six. Every addon receives every hook of every flow, so the stock proxy spends its "
               "extra CPU dispatching hooks to addons that do nothing with them."])
    for face in ("proxy", "base-URL"):
        for workload in WORKLOADS:
            old, bare, fake = (figures[(workload, f"{kind} {face}")] for kind in ("stock", "bare", "fake"))
            stock.rows.append([f"{face}, {workload}", f"{old.rate:.0f}", f"{bare.rate:.0f}", f"{fake.rate:.0f}",
                               f"{ratio(workload, f'fake {face}', f'stock {face}'):.2f}", f"{old.server_ms:.2f}",
                               f"{bare.server_ms:.2f}",
                               f"{fake.server_ms:.2f}"])
    peer = report.Section(
        "throughput-peer", f"Against a peer: aimock {AIMOCK_VERSION} (Node, base-URL face)",
        ["workload", "aimock req/s", "fake req/s", "fake/aimock req/s", "aimock CPU ms/call", "fake CPU ms/call",
         "fake/aimock CPU"])
    if peer_note:
        peer.notes.append(peer_note)
    else:
        for workload in WORKLOADS:
            aimock, fake = figures[(workload, "aimock base-URL")], figures[(workload, "fake base-URL")]
            peer.rows.append([workload, f"{aimock.rate:.0f}", f"{fake.rate:.0f}",
                              f"{ratio(workload, 'fake base-URL', 'aimock base-URL'):.2f}",
                              f"{aimock.server_ms:.2f}", f"{fake.server_ms:.2f}",
                              f"{ratio(workload, 'fake base-URL', 'aimock base-URL', 'server_ms'):.2f}"])
        peer.notes.append("No goal: a comparison. Measured in the same rounds as the base-URL rows above; "
                          "aimock answers from a fixture with the fake's reply text. Lower CPU per call is better.")
    own = report.Section(
        "throughput-own-port", f"The base-URL face on its own port (uvicorn + httptools) against aimock {AIMOCK_VERSION} "
        "and the proxy's port",
        ["workload", "aimock req/s", "own port req/s", "proxy's port req/s", "aimock CPU ms/call",
         "own port CPU ms/call", "proxy's port CPU ms/call", "own port/aimock CPU", "proxy's port/aimock CPU"])
    if peer_note:
        own.notes.append(peer_note)
        own.goals = [report.Goal(f"base-URL face on its own port, {workload}: server CPU per call ≤ {PEER_GOAL:g} × "
                                 "aimock's", "not measured", False) for workload in WORKLOADS]
    else:
        for workload in WORKLOADS:
            aimock, fast, slow = (figures[(workload, name)]
                                  for name in ("aimock base-URL", f"fake {OWN_PORT}", "fake base-URL"))
            measured = fast.server_ms_overall / aimock.server_ms_overall
            own.rows.append([workload, f"{aimock.rate:.0f}", f"{fast.rate:.0f}", f"{slow.rate:.0f}",
                             f"{aimock.server_ms_overall:.3f}", f"{fast.server_ms_overall:.3f}",
                             f"{slow.server_ms_overall:.3f}", f"{measured:.2f}",
                             f"{slow.server_ms_overall / aimock.server_ms_overall:.2f}"])
            own.goals.append(report.Goal(f"base-URL face on its own port, {workload}: server CPU per call ≤ "
                                         f"{PEER_GOAL:g} × aimock's", f"{measured:.2f}", measured <= PEER_GOAL))
        own.notes += [
            "Measured in the same rounds as the rows above. CPU ms/call here: each server's CPU over all the "
            f"rounds divided by its calls ({ROUNDS} batches): /proc counts in 10 ms clock ticks, a few per batch, "
            "so a per-batch ratio is coarse.",
            "Own port: `Runner.base_url`, where `exec --base-url`, `env --base-url` and the fixture's base_url=True "
            "point; the proxy's port answers /v1 too, through mitmproxy's HTTP stack (the rows above).",
        ]
    return [throughput, faces, stock, peer, own]


async def run(workdir: Path) -> list[report.Section]:
    fake_dir, bare_dir, stock_dir = workdir / "fake", workdir / "bare", workdir / "stock"
    for folder in fake_dir, bare_dir, stock_dir:
        folder.mkdir()
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(fake_server(fake_dir))
        fake_base = target("fake base-URL", fake, "base-URL")
        answer = raw_answer(fake_base.sync)  # the bare proxies send these very bytes to every call
        body, headers = answer.content, dict(answer.headers)
        content = json.loads(body)["choices"][0]["message"]["content"]
        bare = stack.enter_context(bare_mitmproxy(bare_dir, body, headers))
        stock = stack.enter_context(bare_mitmproxy(stock_dir, body, headers, stock=True))
        fake_own = target(f"fake {OWN_PORT}", fake, OWN_PORT)
        targets = [target("bare proxy", bare, "proxy"), target("fake proxy", fake, "proxy"),
                   target("bare base-URL", bare, "base-URL"), fake_base,
                   target("stock proxy", stock, "proxy"), target("stock base-URL", stock, "base-URL"), fake_own]
        for t in targets[0], targets[2], targets[4], targets[5]:
            check_bare(t, body)
        check_fake_face(targets[1], fake_dir, "proxy")
        check_fake_face(targets[3], fake_dir, "base-url")
        check_fake_face(fake_own, fake_dir, "base-url")
        if fake.own_base_url == fake.base_url:
            raise RuntimeError("the fake's base-URL face has no port of its own")
        peer_note = None
        try:
            aimock = stack.enter_context(aimock_server(workdir, content))
            targets.append(target("aimock base-URL", aimock, "base-URL"))
        except PeerUnavailable as error:
            peer_note = f"Not measured: {error}."
        batches = await measure_rounds(targets)
    return sections(batches, peer_note)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as workdir:
        report.emit(asyncio.run(run(Path(workdir))))


if __name__ == "__main__":
    main()
