"""The base-URL face on its own port (`asgi_face.py`): what the proxy's port does for `/v1`, through the same
functions, on a faster server. Real SDK calls and raw sockets over loopback, port 0."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import openai
import pytest
import requests

from conftest import API_KEY
from proxy_addon.asgi_face import BaseUrlApp, BaseUrlFace
from proxy_addon.engine import Engine
from proxy_addon.journal import Journal
from proxy_addon.profile import Profile
from proxy_addon.runner import Runner

MESSAGES = [{"role": "user", "content": "Hello there"}]


def plain() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # straight to the fake, never via a proxy
    return session


def port_of(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes to the fake's `port`; everything it answers until it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        return got


# -- where clients are sent ------------------------------------------------------------------------------


def test_base_url_is_the_faces_own_port_and_the_proxys_port_still_answers_v1(fake, use_profile):
    assert port_of(fake.base_url) == fake.face.address[1] != fake.address[1]
    assert fake.base_url == f"http://127.0.0.1:{fake.face.address[1]}/v1"
    assert fake.azure_endpoint == f"http://127.0.0.1:{fake.face.address[1]}"
    for url in (fake.base_url, f"{fake.proxy_url}/v1"):
        with openai.OpenAI(api_key=API_KEY, base_url=url, max_retries=0) as client:
            assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    assert [c.face for c in fake.journal.entries()][-2:] == ["base-url", "base-url"]


@pytest.mark.openai_fake(base_url=True)
def test_the_fixtures_base_url_is_the_faces_own_port(openai_fake):
    import os

    runner = openai_fake.runner
    assert os.environ["OPENAI_BASE_URL"] == runner.base_url == openai_fake.base_url
    assert port_of(os.environ["OPENAI_BASE_URL"]) == runner.face.address[1] != openai_fake.port
    openai_fake.chat.completions(choices=[{"message": {"content": "on its own port"}}])
    client = openai.OpenAI(max_retries=0)
    assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content == "on its own port"
    assert openai_fake.calls.last.face == "base-url"


def test_the_running_file_records_both(tmp_path):
    with Runner(Profile(), port=0, confdir=tmp_path, warm=False) as runner:
        info = json.loads(runner.write_running_file().read_text())
        assert info["base_url"] == runner.base_url and port_of(info["base_url"]) == runner.face.address[1]
        assert info["proxy_url"] == runner.proxy_url and info["base_url_on_proxy_port"] == runner.proxy_url + "/v1"


def test_a_taken_port_fails_the_start_with_a_clear_error(tmp_path):
    from proxy_addon.runner import StartupError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(StartupError, match=r"base-URL face"):
            Runner(Profile(), port=0, confdir=tmp_path, warm=False, base_url_port=taken.getsockname()[1]).start()


# -- the same call, the same record ---------------------------------------------------------------------


def test_the_journal_entry_is_the_one_the_proxys_port_makes(fake, use_profile):
    use_profile(Profile())
    entries = []
    for url in (f"{fake.proxy_url}/v1", fake.base_url):
        with openai.OpenAI(api_key=API_KEY, base_url=url, max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_query={"note": "x"})
        entries.append(fake.journal.entries()[-1].to_dict())
    on_proxy_port, on_own_port = entries
    assert on_proxy_port["request_id"] != on_own_port["request_id"]  # two calls
    varying = {"time", "request_id", "duration_ms"}
    assert {k: v for k, v in on_own_port.items() if k not in varying} == \
        {k: v for k, v in on_proxy_port.items() if k not in varying}
    assert on_own_port["face"] == "base-url" and on_own_port["path"] == "/v1/chat/completions?note=x"


def test_a_stream_is_journaled_as_on_the_proxys_port(fake, base_client, use_profile):
    use_profile(Profile())
    chunks = list(base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert chunks
    deadline = time.monotonic() + 5
    while fake.streams_active and time.monotonic() < deadline:
        time.sleep(0.01)
    started, ended = [e for e in fake.journal.entries(kind=None) if e.face == "base-url"][-2:]
    assert (started.kind, ended.kind, ended.outcome) == ("stream", "call", "completed")
    assert started.request_id == ended.request_id and ended.chunks > 0


# -- the stream, over time --------------------------------------------------------------------------------


def test_a_stream_is_paced_over_time(base_client, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "a b c d"}}], stream={"ttft": 0.3, "chunk_delay": 0.2})
    use_profile(profile)
    started = time.monotonic()
    arrivals = [time.monotonic() - started
                for chunk in base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
                if chunk.choices and chunk.choices[0].delta.content]
    assert len(arrivals) == 4
    assert 0.25 <= arrivals[0] <= 0.55, arrivals
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(0.15 <= gap <= 0.3 for gap in gaps), gaps  # sent over time, not at once at the end


def test_a_cut_stream_drops_the_connection(base_client, fake, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "one two three four"}}], stream={"cut_after": 2})
    use_profile(profile)
    with pytest.raises(openai.APIConnectionError):
        list(base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    deadline = time.monotonic() + 5
    while fake.journal.entries()[-1].outcome is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (fake.journal.entries()[-1].outcome, fake.journal.entries()[-1].chunks) == ("cut", 2)


# -- the control API, with the run's token ----------------------------------------------------------------


def test_the_control_api_answers_on_the_faces_port_with_the_token_only(fake, base_client, use_profile):
    base_client.models.list()
    origin = fake.base_url_origin
    with plain() as session:
        assert session.get(f"{origin}/_fake/calls", timeout=10).status_code == 401
        assert session.get(f"{origin}/_fake/calls", headers={"authorization": "Bearer wrong"}, timeout=10).status_code == 401
        answered = session.get(f"{origin}/_fake/calls", params={"limit": 1}, timeout=10,
                               headers={"authorization": f"Bearer {fake.control_token}"})
        assert answered.status_code == 200 and answered.json()["data"][0]["path"] == "/v1/models"
        # A browser page on another origin cannot use it, token or not (control.py).
        assert session.get(f"{origin}/_fake/calls", timeout=10, headers={
            "authorization": f"Bearer {fake.control_token}", "origin": "http://localhost:3000"}).status_code == 403


# -- refused before the engine -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.1:{port}", "127.0.0.1:1", "localhost:{port}x", ""])
def test_a_misdirected_host_is_refused_and_journaled(fake, use_profile, host):
    port = fake.face.address[1]
    header = f"Host: {host.format(port=port)}\r\n" if host else ""
    reply = exchange(port, f"GET /v1/models HTTP/1.1\r\n{header}Authorization: Bearer {API_KEY}\r\n"
                           f"Connection: close\r\n\r\n".encode())
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 421"), reply
    error = json.loads(body)["error"]
    assert error["code"] == "misdirected_request" and f"http://127.0.0.1:{port}/v1" in error["message"]
    last = fake.journal.entries()[-1]
    assert (last.face, last.status, last.path) == ("misdirected", 421, "/v1/models")


def test_own_names_are_answered(fake, use_profile):
    port = fake.face.address[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        reply = exchange(port, f"GET /v1/models HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
                               f"Connection: close\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.1 200"), (host, reply[:200])


@pytest.fixture
def small(tmp_path):
    """A fake of its own whose bodies may be 1000 bytes at most, and whose connections have 0.5 s to send headers."""
    with Runner(Profile(), port=0, confdir=tmp_path, warm=False, max_request_size=1000, header_timeout=0.5) as runner:
        yield runner


def test_a_body_over_the_limit_gets_the_apis_413_and_is_journaled(small):
    client = openai.OpenAI(api_key=API_KEY, base_url=small.base_url, max_retries=0)
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * 5000}])
    assert refused.value.status_code == 413 and refused.value.code == "request_too_large"
    assert "over openai-fake's limit of 1000 bytes" in refused.value.message
    last = small.journal.entries()[-1]
    assert (last.status, last.face, last.body_size) == (413, "base-url", 0)
    # Control: a body under the limit is answered.
    assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices


def test_a_large_declared_body_is_read_and_dropped_not_kept(tmp_path):
    """100 MB against a 1000-byte limit, its length given: the 413 comes once it is all sent, and the fake's
    peak memory does not grow by the body's size. In a process of its own, whose peak (VmHWM) is its own;
    the body is sent from there in 64 KiB pieces of one buffer."""
    script = f"""
import json, socket
from proxy_addon.runner import Runner
from proxy_addon import Profile

def peak():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))

with Runner(Profile(), port=0, confdir={str(tmp_path)!r}, max_request_size=1000, warm=False) as r:
    port = r.face.address[1]
    before = peak()
    size, piece = 100 * 1024 * 1024, b"x" * 65536
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"POST /v1/files HTTP/1.1\\r\\nHost: 127.0.0.1:{{port}}\\r\\nContent-Length: {{size}}\\r\\n"
                     f"Authorization: Bearer sk-test-123456789\\r\\nConnection: close\\r\\n\\r\\n".encode())
        for _ in range(size // len(piece)):
            sock.sendall(piece)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    calls = [(e.status, e.body_size) for e in r.journal.entries()]
    print(json.dumps({{"head": reply[:12].decode(), "reply": reply.decode(errors="replace"), "grown_kib": peak() - before,
                      "calls": calls}}))
"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["head"] == "HTTP/1.1 413" and "the body is 104857600 bytes" in result["reply"]
    assert result["grown_kib"] < 30 * 1024, result["grown_kib"]  # kept, it would be 100 MiB more
    assert result["calls"] == [[413, 0]]


def test_a_chunked_body_over_the_limit_gets_the_413_too(small):
    port = small.face.address[1]
    chunk = b"y" * 800
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    reply = exchange(port, f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           f"Transfer-Encoding: chunked\r\nAuthorization: Bearer {API_KEY}\r\n"
                           f"Connection: close\r\n\r\n".encode() + chunks)
    assert reply.startswith(b"HTTP/1.1 413") and b"the body is 2400 bytes" in reply, reply[:300]


# -- connections: the header deadline ---------------------------------------------------------------------


def test_a_connection_that_sends_no_headers_in_time_is_closed(small):
    port = small.face.address[1]
    for opening in (b"", b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"):  # silent; headers begun, never ended
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(opening)
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the fake
            assert 0.4 <= time.monotonic() - started < 3
    # Control: a slow stream outlasts the deadline (a request in flight is never closed by it).
    profile = Profile()
    profile.chat.completions(stream={"ttft": 1.0})
    small.engine.use(profile)
    client = openai.OpenAI(api_key=API_KEY, base_url=small.base_url, max_retries=0)
    assert list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))


# -- websockets ------------------------------------------------------------------------------------------


def test_a_websocket_nobody_serves_is_refused(fake):
    pytest.importorskip("websockets")
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    for path in ("/v1/not-a-socket", "/v1/realtime/other"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{fake.face.address[1]}{path}", open_timeout=10)
        assert refused.value.response.status_code == 403


# -- the app alone, with no server ------------------------------------------------------------------------


async def test_the_app_answers_an_asgi_call_without_a_server():
    """Hot reload, `use`, reset: the app reads the engine's profile at each call, as the addon does."""
    engine = Engine(Profile())
    app = BaseUrlApp(engine, Journal())
    face = BaseUrlFace(app, "127.0.0.1", 0)
    await face.start()
    try:
        port = face.address[1]
        loop = asyncio.get_running_loop()

        async def ask() -> bytes:
            return await loop.run_in_executor(None, exchange, port, (
                f"GET /v1/models/gpt-4o HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {API_KEY}\r\n"
                "Connection: close\r\n\r\n").encode())

        assert b'"id":"gpt-4o"' in (await ask()).replace(b" ", b"")
        changed = Profile()
        changed.models.retrieve(failures=1, failure_status=503)
        engine.use(changed)  # what the profile watcher does when the file is saved
        assert (await ask()).startswith(b"HTTP/1.1 503")
    finally:
        await face.stop()


def test_a_request_head_over_its_bound_is_a_400_and_the_connection_closed(small):
    from proxy_addon.asgi_face import MAX_HEAD_BYTES

    port = small.face.address[1]
    padding = "a" * 1000
    many = "".join(f"X-Pad-{i}: {padding}\r\n" for i in range(MAX_HEAD_BYTES // 1000 + 1))
    reply = exchange(port, f"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{many}\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]  # and then closed: `exchange` read to the end
    # Control: a head under the bound is answered.
    few = "".join(f"X-Pad-{i}: {padding}\r\n" for i in range(MAX_HEAD_BYTES // 1000 - 2))
    reply = exchange(port, f"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {API_KEY}\r\n"
                           f"{few}Connection: close\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


def test_a_forwarded_for_header_does_not_change_who_the_client_is(fake):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; the fake must not: the control API answers by the
    peer's own address. A loopback client naming a remote one is still answered (it is on this machine)."""
    with plain() as session:
        reply = session.get(f"{fake.base_url_origin}/_fake/profile", timeout=10, headers={
            "authorization": f"Bearer {fake.control_token}", "x-forwarded-for": "203.0.113.9"})
    assert reply.status_code == 200, reply.text
