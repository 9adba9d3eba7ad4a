"""How long the fake's own logic takes per call, in-process: no sockets, no mitmproxy.

    python bench/engine.py [--quick]

For each call it times `Engine.handle(Request(...))` many times, in
interleaved rounds, and reports the median and p99 in microseconds. The
streamed response also walks the pace schedule (what the relay does before
writing each event). One more row times the whole mitmproxy request hook
(engine, call record, journal line written to a file) on a test flow, awaited
in a running event loop: what each proxied call costs beyond mitmproxy
itself. Goal (issue 6): at most 100 µs per call, so the fake is never the
bottleneck.

The reference, measured in the same run, is `json.loads` + `json.dumps` of a
chat request and its answer: the least any JSON API server must do per call.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import report
from proxy_addon import Profile
from proxy_addon.engine import Engine, Request
from proxy_addon.engine.streams import StreamReply, schedule

GOAL_US = 100.0
ROUNDS = 5
AUTH = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "What is the capital of France?"}]}
#: What openai-python sends with a chat call (17 headers), so the hook converts as many as it does for real.
SDK_HEADERS = tuple((k.encode(), v.encode()) for k, v in {
    "host": "api.openai.com", "accept-encoding": "gzip, deflate", "connection": "keep-alive",
    "accept": "application/json", "content-type": "application/json", "user-agent": "OpenAI/Python 3.57.0",
    "x-stainless-lang": "python", "x-stainless-package-version": "3.57.0", "x-stainless-os": "Linux",
    "x-stainless-arch": "x64", "x-stainless-runtime": "CPython", "x-stainless-runtime-version": "3.12.1",
    "authorization": "Bearer sk-bench", "x-stainless-async": "false", "x-stainless-retry-count": "0",
    "x-stainless-read-timeout": "600", "content-length": "120",
}.items())
BOUNDARY = "benchboundary"
UPLOAD = (
    f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
    f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"
    f"Content-Type: text/plain\r\n\r\n{'some notes ' * 50}\r\n--{BOUNDARY}--\r\n"
).encode()


def post(path: str, body: dict) -> Request:
    return Request("POST", path, AUTH, json.dumps(body).encode())


def calls(engine: Engine) -> dict[str, Callable[[], object]]:
    """The calls to time, each a closure over a fresh request (a Request caches its parsed body)."""
    assistant = json.loads(engine.handle(post("/v1/assistants", {"model": "gpt-4o"})).body)["id"]
    thread = json.loads(engine.handle(post("/v1/threads", {})).body)["id"]
    run = json.loads(engine.handle(post(f"/v1/threads/{thread}/runs", {"assistant_id": assistant})).body)["id"]
    chat = json.dumps(CHAT).encode()
    embed = json.dumps({"model": "text-embedding-3-small", "input": "The food was delicious."}).encode()
    respond = json.dumps({"model": "gpt-4o", "input": "Tell me a three sentence story."}).encode()
    streamed = json.dumps({"model": "gpt-4o", "input": "Tell me a three sentence story.", "stream": True}).encode()
    upload_headers = {**AUTH, "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    batch = json.dumps({"input_file_id": "file-bench", "endpoint": "/v1/chat/completions", "completion_window": "24h"}).encode()
    batch_id = json.loads(engine.handle(Request("POST", "/v1/batches", AUTH, batch)).body)["id"]

    def stream() -> None:
        reply = engine.handle(Request("POST", "/v1/responses", AUTH, streamed))
        assert isinstance(reply, StreamReply)
        for _ in schedule(reply):
            pass

    return {
        "chat.completions.create": lambda: engine.handle(Request("POST", "/v1/chat/completions", AUTH, chat)),
        "embeddings.create": lambda: engine.handle(Request("POST", "/v1/embeddings", AUTH, embed)),
        "files.create": lambda: engine.handle(Request("POST", "/v1/files", upload_headers, UPLOAD)),
        "runs.retrieve": lambda: engine.handle(Request("GET", f"/v1/threads/{thread}/runs/{run}", AUTH)),
        "responses.create": lambda: engine.handle(Request("POST", "/v1/responses", AUTH, respond)),
        "responses.create (stream)": stream,
        "batches.create (generic)": lambda: engine.handle(Request("POST", "/v1/batches", AUTH, batch)),
        "batches.retrieve (generic)": lambda: engine.handle(Request("GET", f"/v1/batches/{batch_id}", AUTH)),
    }


def json_reference() -> Callable[[], object]:
    """Parse a chat request and encode a chat answer: the floor for any JSON API server."""
    engine = Engine(Profile())
    body = json.dumps(CHAT).encode()
    answer = json.loads(engine.handle(Request("POST", "/v1/chat/completions", AUTH, body)).body)
    return lambda: (json.loads(body), json.dumps(answer, separators=(",", ":")).encode())


def hook(confdir: Path) -> Callable[[int], list[float]]:
    """The addon's whole request hook on a test flow (engine, call record, journal file line): a function that
    times `n` calls, each awaited inside one running event loop, as mitmproxy awaits the hook."""
    from mitmproxy.test import tflow, tutils

    from proxy_addon.addon import OpenAIFake
    from proxy_addon.journal import Journal

    addon = OpenAIFake(Engine(Profile()), Journal(confdir / "journal.jsonl"))
    body = json.dumps(CHAT).encode()
    request = tutils.treq(host="api.openai.com", port=443, path=b"/v1/chat/completions", method=b"POST",
                          content=body, headers=SDK_HEADERS)
    flow = tflow.tflow(req=request)
    flow.live = True  # as mitmproxy's own flows are while being handled

    async def timed(n: int) -> list[float]:
        out = []
        for _ in range(n):
            flow.response = None  # one flow, answered again and again: its making is not timed
            t = time.perf_counter()
            await addon.request(flow)
            out.append(time.perf_counter() - t)
            assert flow.response is not None and flow.response.status_code == 200
        return out

    return lambda n: asyncio.run(timed(n))


def timings(call: Callable[[], object], n: int) -> list[float]:
    for _ in range(min(200, n)):  # warm up: imports, caches, first-call work
        call()
    gc.collect()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    n = 2_000 if report.quick() else 20_000
    rounds = ROUNDS
    section = report.Section(
        "engine", "Engine cost per call, in-process (µs)", ["call", "median µs", "p99 µs", "× JSON reference"],
        notes=[f"{n:,} calls each, in {rounds} interleaved rounds of {n // rounds:,} (each after a warm-up), so "
               "that the machine's drift touches every row alike; median and p99 of all of them. One process, "
               "one thread; the clock is time.perf_counter.",
               "The reference is json.loads of a chat request plus json.dumps of its answer (standard library): "
               "the least a JSON API server does per call. Its row tells how fast the machine was during the run."],
    )
    engine = Engine(Profile())
    measures: dict[str, Callable[[int], list[float]]] = {"reference: JSON in + out": _timer(json_reference())}
    measures.update({name: _timer(call) for name, call in calls(engine).items()})
    confdir = tempfile.TemporaryDirectory()
    hook_name = "whole request hook (chat, journal to file)"
    measures[hook_name] = hook(Path(confdir.name))
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            samples[name] += measure(n // rounds)
    confdir.cleanup()
    reference = report.median(samples.pop("reference: JSON in + out"))
    section.rows.append(["reference: JSON in + out", f"{reference * 1e6:.1f}", "", "1.00"])
    for name, measured in samples.items():
        mid, tail = report.median(measured), report.p99(measured)
        section.rows.append([name, f"{mid * 1e6:.1f}", f"{tail * 1e6:.1f}", report.ratio(mid, reference)])
        if name != hook_name:
            section.goals.append(report.Goal(f"{name}: median ≤ {GOAL_US:.0f} µs", f"{mid * 1e6:.0f} µs",
                                             mid * 1e6 <= GOAL_US))
    section.notes.append("The request-hook row (no goal) is what the mitmproxy face does per proxied chat call on "
                         "top of mitmproxy itself: the engine, mitmproxy's Response.make, the call record with its "
                         "prompt and answer summary, and one journal line written to a file, awaited in a running "
                         "event loop as mitmproxy awaits it.")
    report.emit([section])


def _timer(call: Callable[[], object]) -> Callable[[int], list[float]]:
    return lambda n: timings(call, n)


if __name__ == "__main__":
    main()
