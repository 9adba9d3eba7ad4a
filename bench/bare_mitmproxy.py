"""The limit the fake is measured against: mitmproxy with the fake's own mode, options and addons, answering a fixed body.

    python bench/bare_mitmproxy.py CONFDIR BODY_FILE [--headers JSON_FILE] [--stock] [--wait SECONDS]

It prints `listening http://127.0.0.1:PORT` once it listens, then serves until
terminated. Every request (through the proxy to api.openai.com, or straight
to the port, like the fake's base-URL face) gets the same precomputed 200:
the body, with the headers of `--headers` (a JSON object; the benchmark passes
the fake's own, so that clients read the same bytes from both).

The master is `runner.make_master`, the very one the fake runs, so the only
difference between the two is the fake's addon. With `--stock` the master
carries mitmproxy's ~35 default addons (those of `DumpMaster` and mitmdump)
instead of the fake's few: what a plain mitmproxy script gets, and what the
fake ran before it trimmed its addons. With `--wait` each answer goes out that
long after the request's arrival, counted as the fake counts its `latency`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path

from mitmproxy import http
from mitmproxy.addons import default_addons

from proxy_addon.addon import _arrival, _response  # the fake's own clock and response making
from proxy_addon.runner import make_master
from proxy_addon.trust import ensure_ca, write_bundle


class FixedAnswer:
    """Answers every request with one body and one set of headers, built once."""

    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.headers = headers or {"content-type": "application/json"}

    def request(self, flow: http.HTTPFlow) -> None:
        flow.response = _response(200, self.body, self.headers)  # made the way the fake makes its own


class WaitThenAnswer(FixedAnswer):
    """The same answer, `wait` seconds after the request's arrival (the fake's own start of its latency)."""

    def __init__(self, body: bytes, headers: dict[str, str] | None, wait: float) -> None:
        super().__init__(body, headers)
        self.wait = wait

    async def request(self, flow: http.HTTPFlow) -> None:
        left = self.wait - (time.time() - _arrival(flow.request))
        if left > 0:
            await asyncio.sleep(left)
        super().request(flow)


async def main(confdir: str, body_file: str, headers_file: str | None = None, stock: bool = False,
               wait: float = 0.0) -> None:
    ensure_ca(Path(confdir))  # the same CA and bundle as the fake's, so clients trust both alike
    write_bundle(Path(confdir))
    master = make_master("127.0.0.1", 0, Path(confdir), addons=default_addons() if stock else None)
    body = Path(body_file).read_bytes()
    headers = json.loads(Path(headers_file).read_text()) if headers_file else None
    master.addons.add(WaitThenAnswer(body, headers, wait) if wait > 0 else FixedAnswer(body, headers))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    task = asyncio.ensure_future(master.run())
    proxyserver = master.addons.get("proxyserver")
    while not proxyserver.listen_addrs():
        if task.done():
            await task  # raises what stopped it, if anything did
            raise RuntimeError("mitmproxy stopped before it listened")
        await asyncio.sleep(0.005)
    host, port = proxyserver.listen_addrs()[0][:2]
    print(f"listening http://{host}:{port}", flush=True)
    await task


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("confdir")
    parser.add_argument("body_file")
    parser.add_argument("--headers", help="a JSON file of the answer's headers (content-length is set)")
    parser.add_argument("--stock", action="store_true", help="mitmproxy's default addons, not the fake's few")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds from a request's arrival to its answer")
    args = parser.parse_args()
    asyncio.run(main(args.confdir, args.body_file, args.headers, stock=args.stock, wait=args.wait))
