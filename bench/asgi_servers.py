"""Which ASGI server should carry the fast base-URL face? uvicorn (h11 or httptools) against granian, embedded (issue 16).

    python bench/asgi_servers.py [--quick]

Not a part of `bench/run.py`: the measurement that chose the server (bench/findings.md). Each server
runs in a process of its own, inside a running asyncio loop (as the face runs in the proxy's), serving
one small ASGI app that answers from a fresh `Engine` and records the call in a `Journal` (the work
of the face without its checks). The openai SDK calls `chat.completions.create` through each, and
aimock, in the rounds of `bench/throughput.py` (sequential and 16 concurrent); the figure is each
server's own CPU per call, against aimock's in the same rounds.

granian is not a dependency of the project: `pip install granian` first to measure it; without it
its row is left out.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVERS = ("uvicorn-h11", "uvicorn-httptools", "granian-embedded")


def available() -> list[str]:
    import importlib.util

    return [kind for kind in SERVERS if importlib.util.find_spec(kind.split("-")[0]) is not None]


async def app_for(engine, journal):
    from proxy_addon.engine import Request
    from proxy_addon.faces import answered, entry_fields

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        started = time.time()
        request = Request(scope["method"], scope["path"], headers, body, host="127.0.0.1", scheme="http")
        reply = engine.handle(request)
        fields = entry_fields(method=scope["method"], host="127.0.0.1", target=scope["path"], headers=headers,
                              reply=reply, body=body, request=request, face="base-url")
        journal.record(answered(reply, started, fields))
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()]
                    + [(b"content-length", b"%d" % len(reply.body))]})
        await send({"type": "http.response.body", "body": reply.body})

    return app


async def serve(kind: str) -> None:
    """Serve the app with `kind` on a free loopback port; print it; run until killed."""
    from proxy_addon.engine import Engine
    from proxy_addon.journal import Journal

    app = await app_for(Engine(), Journal())
    if kind.startswith("uvicorn"):
        import uvicorn

        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so (a bare socket() says 0),
        # and without it every reply waits for the client's delayed ACK (~40 ms).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, http="h11" if kind.endswith("h11") else "httptools", lifespan="off",
                                access_log=False, log_config=None, log_level="warning", interface="asgi3")
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        print("listening", sock.getsockname()[1], flush=True)
        await task
    else:
        from granian.constants import Interfaces
        from granian.server.embed import Server

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGINL, log_enabled=False,
                        websockets=False)
        task = asyncio.ensure_future(server.serve())
        await asyncio.sleep(0.5)
        print("listening", port, flush=True)
        await task


def overall(batches) -> float:
    """CPU ms per call over all the batches together (a batch's own figure is a few clock ticks)."""
    return sum(b.server_cpu for b in batches) / sum(b.calls for b in batches) * 1000


def main() -> None:
    if "--serve" in sys.argv:
        asyncio.run(serve(sys.argv[sys.argv.index("--serve") + 1]))
        return
    import report
    from servers import Server, _stop
    from throughput import WORKLOADS, PeerUnavailable, aimock_server, measure_rounds, paired, raw_answer, target

    processes = []
    with tempfile.TemporaryDirectory(prefix="bench-asgi-") as workdir:
        try:
            targets = []
            for kind in available():
                process = subprocess.Popen([sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE, text=True)
                processes.append(process)
                port = int(process.stdout.readline().split()[1])
                targets.append(target(kind, Server(process, f"http://127.0.0.1:{port}", Path(workdir)), "base-URL"))
            content = json.loads(raw_answer(targets[0].sync).content)["choices"][0]["message"]["content"]
            with aimock_server(Path(workdir), content) as aimock:
                targets.append(target("aimock", aimock, "base-URL"))
                batches = asyncio.run(measure_rounds(targets))
        except PeerUnavailable as error:
            sys.exit(f"aimock is needed as the reference: {error}")
        finally:
            for process in processes:
                _stop(process)
    section = report.Section("asgi-servers", "The fast face's server, embedded in an asyncio loop: server CPU per chat call",
                             ["server / workload", "req/s", "server CPU ms/call", "CPU / aimock's (same rounds)",
                              "CPU ms/call, all rounds", "all rounds / aimock's"])
    for workload in WORKLOADS:
        for t in targets:
            ours = batches[(workload, t.name)]
            section.rows.append([f"{t.name}, {workload}", f"{report.median([b.rate for b in ours]):.0f}",
                                 f"{report.median([b.server_ms for b in ours]):.2f}",
                                 f"{paired(batches, workload, t.name, 'aimock', 'server_ms'):.2f}",
                                 f"{overall(ours):.3f}", f"{overall(ours) / overall(batches[(workload, 'aimock')]):.2f}"])
    section.notes.append("CPU is read from /proc in clock ticks (10 ms): a batch's figure is coarse, so the last two "
                         "columns add every round's CPU and calls up before dividing.")
    report.emit([section])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
