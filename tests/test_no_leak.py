"""Intercepted OpenAI traffic never leaves the machine (issue 12, point 3), tested in a network namespace
that has only loopback: a canary listener on the address api.openai.com resolves to there counts every
connection that reaches it. Skipped where namespaces cannot be made (not root, no CAP_SYS_ADMIN)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


@pytest.fixture
def netns():
    if not shutil.which("ip"):
        pytest.skip("iproute2's `ip` is not installed")
    name = f"ofake-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
    etc = Path("/etc/netns") / name
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", name, "addr", "add", "203.0.113.7/32", "dev", "lo"], check=True)
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text("127.0.0.1 localhost\n203.0.113.7 api.openai.com eu.api.openai.com\n")
        yield name
    finally:
        shutil.rmtree(etc, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_no_connection_reaches_the_openai_address_whatever_way_it_is_asked_for(netns, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, str(HERE / "netns_probe.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    results = report["results"]
    assert results["connect_by_name_sdk"] is True
    assert results["connect_by_ip_sni"].startswith("HTTP/1.1 200"), results
    assert results["absolute_form"].startswith("HTTP/1.1 200"), results
    assert results["http2"].startswith(("HTTP/2 200", "skipped")), results
    assert results["websocket"].startswith("HTTP/1.1 101"), results  # the fake's own Realtime socket (the canary saw nothing)
    assert report["canary"] == 0, report
    assert report["calls"] >= 4
