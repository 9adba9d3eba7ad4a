"""The limit the fake is measured against: mitmproxy with the fake's own mode and options, answering a fixed body.

    python bench/bare_mitmproxy.py CONFDIR BODY_FILE

It prints `listening http://127.0.0.1:PORT` once it listens, then serves until
terminated. Every request (through the proxy to api.openai.com, or straight
to the port, like the fake's base-URL face) gets the same precomputed 200.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from mitmproxy import http, options
from mitmproxy.tools.dump import DumpMaster

from proxy_addon.addon import ALLOW_HOSTS
from proxy_addon.trust import ensure_ca, write_bundle


class FixedAnswer:
    """Answers every request with one body, built once."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def request(self, flow: http.HTTPFlow) -> None:
        flow.response = http.Response.make(200, self.body, {"content-type": "application/json"})


async def main(confdir: str, body_file: str) -> None:
    ensure_ca(Path(confdir))  # the same CA and bundle as the fake's, so clients trust both alike
    write_bundle(Path(confdir))
    opts = options.Options(listen_host="127.0.0.1", listen_port=0, mode=["regular"], confdir=confdir)
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    master.options.update(connection_strategy="lazy", allow_hosts=ALLOW_HOSTS)
    master.addons.add(FixedAnswer(Path(body_file).read_bytes()))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    task = asyncio.ensure_future(master.run())
    proxyserver = master.addons.get("proxyserver")
    while not proxyserver.listen_addrs():
        await asyncio.sleep(0.005)
    host, port = proxyserver.listen_addrs()[0][:2]
    print(f"listening http://{host}:{port}", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
