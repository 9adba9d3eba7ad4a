"""The servers a benchmark measures, each in a process of its own, and what /proc says about them.

    with fake_server(confdir) as server:        # `openai-fake run --port 0 --quiet`
        server.base_url, server.own_base_url, server.env(), server.cpu_seconds(), server.rss_bytes()
    with bare_mitmproxy(confdir, body) as bare:  # the limit: same mitmproxy and addons, fixed answer
        ...

A server runs apart from the client so that the two do not share one GIL; on
a 2-core machine they still share the cores, which is why every figure is
read against a reference measured in the same run.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
CLI = Path(sys.executable).with_name("openai-fake")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A running server process: where it listens and how to point the SDK at it."""

    process: subprocess.Popen
    proxy_url: str
    confdir: Path
    #: The fake's base-URL face on its own port (`asgi_face.py`); None for servers with one port.
    own_base_url: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        """The base-URL face on the proxy's port (mitmproxy's HTTP stack)."""
        return f"{self.proxy_url}/v1"

    def env(self) -> dict[str, str]:
        """The variables that send the SDK's api.openai.com traffic through this proxy (see `runner.client_env`)."""
        from proxy_addon.runner import client_env
        from proxy_addon.trust import ca_cert_file

        return client_env(self.proxy_url, self.confdir / "openai-fake-bundle.pem", ca_cert_file(self.confdir))

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


def rss_bytes(pid: int) -> int:
    """Resident memory of the process now (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextlib.contextmanager
def fake_server(confdir: Path, profile: str = "default", timeout: float = 30.0) -> Iterator[Server]:
    """`openai-fake run` on a free loopback port, as a user starts it (journal file and all), quiet; yielded
    once it is idle (it imports the SDK's types in a thread after it starts listening)."""
    confdir = Path(confdir)
    running = confdir / "running.json"
    running.unlink(missing_ok=True)
    process = subprocess.Popen(
        [str(CLI), "run", "--port", "0", "--quiet", "--confdir", str(confdir), "--profile", profile],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=PROJECT,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = json.loads(running.read_text())
                if info.get("pid") == process.pid:
                    break
            except (OSError, ValueError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"openai-fake run did not start: {process.stderr.read().decode(errors='replace')}")
            time.sleep(0.01)
        server = Server(process, info["proxy_url"], confdir, own_base_url=info["base_url"])
        settle(server)
        yield server
    finally:
        _stop(process)


def settle(server: Server, timeout: float = 15.0) -> None:
    """Wait until the fake is idle (what it does once it listens, such as importing the SDK types, is done)."""
    deadline = time.monotonic() + timeout
    cpu = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        cpu, before = server.cpu_seconds(), cpu
        if cpu - before < 0.02:  # a clock tick or two: the profile watcher's polling
            return
    raise RuntimeError(f"the fake was still busy {timeout} s after it started")


@contextlib.contextmanager
def bare_mitmproxy(confdir: Path, body: bytes, headers: dict[str, str] | None = None, stock: bool = False,
                   wait: float = 0.0, timeout: float = 30.0) -> Iterator[Server]:
    """A bare mitmproxy (same version, master, addons, mode and options as the fake) whose addon answers `body`
    with `headers` to every request, `wait` seconds after its arrival; `stock`: with mitmproxy's default
    addons instead of the fake's few (see bench/bare_mitmproxy.py)."""
    confdir = Path(confdir)
    confdir.mkdir(parents=True, exist_ok=True)
    body_file = confdir / "bare-body.json"
    body_file.write_bytes(body)
    options = (["--stock"] if stock else []) + (["--wait", str(wait)] if wait else [])
    if headers:
        headers_file = confdir / "bare-headers.json"
        headers_file.write_text(json.dumps({k: v for k, v in headers.items() if k.lower() != "content-length"}))
        options += ["--headers", str(headers_file)]
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "bare_mitmproxy.py"), str(confdir), str(body_file), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT, text=True,
    )
    try:
        line = process.stdout.readline()  # "listening http://127.0.0.1:PORT"
        if not line.startswith("listening "):
            process.kill()
            raise RuntimeError(f"bare mitmproxy did not start: {line}{process.stderr.read()}")
        yield Server(process, line.split()[1], confdir)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
