"""Issue 12, through real running fakes: the control token, the Host allow-list, no crash from a profile's
SystemExit, bounded bodies, keys redacted from query strings, and connections bounded in time (no lock-out
by silent connections under a low file descriptor limit)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import socket
import stat
import subprocess
import time

import openai
import pytest
import requests

from conftest import API_KEY, run_cli, running_fake, wait_for


def plain(method: str, url: str, **kw) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, url, timeout=10, **kw)


def raw(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes to the fake's port and read what it answers (until it closes or goes quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < 12:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.settimeout(0.3)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        return data


# -- the control token ------------------------------------------------------------------------


def test_control_endpoints_refuse_requests_without_the_token(fake):
    for method, path in [("GET", "/_fake/state"), ("GET", "/_fake/calls"), ("POST", "/_fake/reset"),
                         ("POST", "/_fake/profile")]:
        reply = plain(method, fake.proxy_url + path, json={"profile": "flaky"})
        assert reply.status_code == 401, (path, reply.text)
        assert reply.json()["error"]["code"] == "invalid_control_token"
    wrong = plain("GET", fake.proxy_url + "/_fake/state", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = plain("GET", fake.proxy_url + "/_fake/state", headers={"authorization": f"Bearer {fake.control_token}"})
    assert right.status_code == 200 and "collections" in right.json()


def test_a_dev_server_page_on_another_localhost_port_cannot_steer_the_fake(fake):
    port = fake.address[1]
    for origin in ("http://localhost:3000", "null", "http://evil.example"):
        reply = plain("POST", fake.proxy_url + "/_fake/reset", headers={
            "authorization": f"Bearer {fake.control_token}", "origin": origin})
        assert reply.status_code == 403, origin
    same = plain("POST", fake.proxy_url + "/_fake/reset", headers={
        "authorization": f"Bearer {fake.control_token}", "origin": f"http://127.0.0.1:{port}"})
    assert same.status_code == 200


def test_the_cli_wrappers_read_the_token_from_a_0600_run_file(tmp_path):
    conf = tmp_path / "conf"
    with running_fake(conf):
        running = conf / "running.json"
        assert stat.S_IMODE(running.stat().st_mode) == 0o600
        info = json.loads(running.read_text())
        assert len(info["control_token"]) >= 32
        # Without the token (as another local user would call it): refused, and the profile did not change.
        refused = plain("POST", info["proxy_url"] + "/_fake/profile", json={"profile": "flaky"})
        assert refused.status_code == 401
        done = run_cli("use", "flaky", "--confdir", str(conf))
        assert done.returncode == 0, done.stderr
        assert "profile: flaky" in done.stdout
        state = run_cli("state", "--confdir", str(conf))
        assert state.returncode == 0 and "collections" in json.loads(state.stdout)


# -- the Host allow-list ----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.1:{port}", "127.0.0.2:{port}", "0x7f.1:{port}"])
def test_a_foreign_host_at_the_fakes_port_is_refused_not_proxied_in_a_loop(fake, host):
    port = fake.address[1]
    started = time.monotonic()
    answer = raw(port, f"GET /v1/models HTTP/1.1\r\nHost: {host.format(port=port)}\r\n"
                       f"Authorization: Bearer {API_KEY}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 421"), answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "misdirected_request" and "127.0.0.1" in body["error"]["message"]
    assert time.monotonic() - started < 5  # answered at once, no loop
    # The fake still serves everyone else.
    ok = plain("GET", fake.base_url + "/models", headers={"authorization": f"Bearer {API_KEY}"})
    assert ok.status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}"])
def test_the_fakes_own_names_are_the_base_url_face(fake, host):
    port = fake.address[1]
    answer = raw(port, f"GET /v1/models HTTP/1.1\r\nHost: {host.format(port=port)}\r\n"
                       f"Authorization: Bearer {API_KEY}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


# -- no crash from a profile ----------------------------------------------------------------------


@pytest.mark.parametrize("body", ["import sys\nsys.exit(3)\n", "raise SystemExit('bye')\n", "raise KeyboardInterrupt\n"])
def test_a_profile_that_exits_is_an_error_and_the_fake_serves_on(fake, use_profile, tmp_path, body):
    bad = tmp_path / "exits.py"
    bad.write_text("from proxy_addon import Profile\nprofile = Profile()\n" + body)
    reply = plain("POST", fake.proxy_url + "/_fake/profile", json={"profile": str(bad)},
                  headers={"authorization": f"Bearer {fake.control_token}"})
    assert reply.status_code == 422, reply.text
    assert f"{bad}:{len(body.splitlines()) + 2}" in reply.json()["error"]["message"]  # the line that exits
    assert plain("GET", fake.base_url + "/models", headers={"authorization": f"Bearer {API_KEY}"}).status_code == 200


def test_a_handler_that_calls_sys_exit_is_a_500_and_the_fake_serves_on(base_client, use_profile):
    from proxy_addon import Profile

    profile = Profile()

    @profile.chat.completions
    def leave(request, state):
        raise SystemExit(0)

    use_profile(profile)
    with pytest.raises(openai.InternalServerError) as e:
        base_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert "SystemExit" in e.value.message
    assert base_client.models.list().data


# -- bounded bodies -----------------------------------------------------------------------------


def test_a_body_over_the_limit_gets_the_apis_413_without_being_kept(tmp_path):
    # In a process of its own: mitmproxy allows one master per process, and the session has one.
    script = f"""
import json, sys, requests
sys.path.insert(0, {str(tmp_path)!r})
from proxy_addon.runner import Runner
from proxy_addon import Profile
with Runner(Profile(), port=0, confdir={str(tmp_path / 'conf')!r}, max_request_size=1024 * 1024, warm=False) as r:
    s = requests.Session(); s.trust_env = False
    big = s.post(r.base_url + "/embeddings", data=b"x" * (3 * 1024 * 1024),
                 headers={{"authorization": "Bearer sk-test-123456789", "content-type": "application/json"}})
    small = s.post(r.base_url + "/embeddings", json={{"model": "text-embedding-3-small", "input": "hi"}},
                   headers={{"authorization": "Bearer sk-test-123456789"}})
    calls = [(e.status, e.body_size, len(e.body)) for e in r.journal.entries()]
    print(json.dumps({{"big": [big.status_code, big.json()], "small": small.status_code, "calls": calls}}))
"""
    done = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    status, body = result["big"]
    assert status == 413 and body["error"]["code"] == "request_too_large"
    assert body["error"]["type"] == "invalid_request_error"
    assert result["small"] == 200
    assert result["calls"][0][0] == 413 and result["calls"][0][2] == 0  # journaled, its body never kept


# -- keys in query strings ------------------------------------------------------------------------


def test_keys_in_the_query_and_azures_header_are_redacted_everywhere(fake, use_profile):
    key = "sk-proj-QUERYSECRET1234567890abcd"
    plain("GET", fake.base_url + f"/models?api_key={key}", headers={"authorization": f"Bearer {API_KEY}"})
    plain("GET", fake.base_url + "/models", headers={"api-key": "azure-SECRET-1234567890wxyz", "authorization": "Bearer x" * 1})
    calls = plain("GET", fake.proxy_url + "/_fake/calls", headers={"authorization": f"Bearer {fake.control_token}"}).text
    assert "QUERYSECRET" not in calls and "sk-...abcd" in calls
    journal = fake.journal.path.read_text()
    assert "QUERYSECRET" not in journal
    assert all("QUERYSECRET" not in (e.path or "") for e in fake.journal.entries())


# -- connections are bounded ----------------------------------------------------------------------


def test_silent_and_idle_connections_are_closed_in_time(tmp_path):
    with running_fake(tmp_path / "conf", "--header-timeout", "1", "--idle-timeout", "1", "--quiet") as (_, base_url):
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
        half = socket.create_connection(("127.0.0.1", port), timeout=10)
        half.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        started = time.monotonic()
        for s in [*silent, half]:
            assert s.recv(1) == b""  # closed by the fake (mitmproxy's own timeout is 600 s)
            s.close()
        assert time.monotonic() - started < 5
        # A kept-alive connection that goes quiet after a reply is closed after the idle timeout.
        kept = socket.create_connection(("127.0.0.1", port), timeout=10)
        kept.sendall(f"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {API_KEY}\r\n\r\n".encode())
        assert kept.recv(12) == b"HTTP/1.1 200"
        deadline = time.monotonic() + 5
        while kept.recv(65536) and time.monotonic() < deadline:
            pass
        assert time.monotonic() < deadline
        kept.close()
        assert plain("GET", base_url + "/models", headers={"authorization": f"Bearer {API_KEY}"}).status_code == 200


#: The fake's file descriptor limit in the lock-out test (issue 12: `ulimit -n 256`).
FD_LIMIT = 256


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _listening(pid: int) -> dict[int, int]:
    """The process's listening TCP ports, each with how many connections wait in its accept queue."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = {}
    with open("/proc/net/tcp") as table:  # the fake listens on 127.0.0.1
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN; its rx_queue is the accept queue's length
                ports[int(fields[1].rsplit(":", 1)[1], 16)] = int(fields[4].split(":")[1], 16)
    return ports


def _silent_flood(pid: int, port: int, count: int) -> list[socket.socket]:
    """`count` connections to `port` that say nothing, every one of them established when this returns.

    Opened 25 at a time, and the next 25 only once the fake's accept queue is short (or its fd table full):
    the queue holds 100 (asyncio's backlog), and a connection beyond that has its SYN dropped and retried
    a second later, so that a flood opened all at once is still arriving when the client under test comes,
    and that client may get a descriptor before the last silent ones do (no lock-out to see)."""
    socks: list[socket.socket] = []
    deadline = time.monotonic() + 10
    while len(socks) < count:
        for _ in range(min(25, count - len(socks))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        while _listening(pid).get(port, 0) >= 50 and _fds(pid) < FD_LIMIT and time.monotonic() < deadline:
            time.sleep(0.002)
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_WRITE)
        pending = set(socks)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(0.1):
                sel.unregister(key.fileobj)
                pending.discard(key.fileobj)
    assert not pending, f"{len(pending)} of the {count} silent connections never got established"
    assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for s in socks)
    return socks


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(resource, "prlimit") or not os.path.exists("/proc/net/tcp"), reason="Linux's prlimit and /proc")
@pytest.mark.parametrize("how", ["silent", "connect-then-silent", "silent-at-the-relay", "silent-at-the-base-url-face"])
def test_300_silent_connections_under_ulimit_256_do_not_lock_a_client_out(tmp_path, how):
    """Issue 12's scenario, for real: a fake limited to 256 file descriptors, 300 connections that say nothing
    (or only a CONNECT for api.openai.com; or that go to the stream relay's port or the base-URL face's, which
    share the fake's fd table), its fd table full and connections waiting in its accept queue behind them: a
    client that then asks that port (the proxy's for the relay) for /v1/models is served within the header
    timeout and a margin, not locked out until they go.
    (With the deadlines off it is not served at all: 30 s and counting, by hand.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:  # this process holds the 300 silent connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096 if hard == resource.RLIM_INFINITY else min(hard, 4096), hard))
    try:
        with running_fake(tmp_path / "conf", "--header-timeout", "1", "--quiet") as (proc, face_url):
            proxy_url = json.loads((tmp_path / "conf" / "running.json").read_text())["proxy_url"]
            port = int(proxy_url.rsplit(":", 1)[1])
            face_port = int(face_url.rsplit(":", 1)[1].split("/")[0])
            resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
            listening = _listening(proc.pid)
            assert {port, face_port} <= set(listening) and len(listening) == 3, listening  # and the relay's
            base_url = face_url if how == "silent-at-the-base-url-face" else proxy_url + "/v1"
            target = {"silent-at-the-relay": next(p for p in listening if p not in (port, face_port)),
                      "silent-at-the-base-url-face": face_port}.get(how, port)
            # The SDK types are imported in a thread at start (runner._warm_sdk_types): once it is done, nothing
            # else in the fake opens a descriptor for a moment, so the count below is the connections' alone.
            wait_for(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) == 1, timeout=20)
            socks = _silent_flood(proc.pid, target, 300)
            try:
                if how == "connect-then-silent":
                    for s in socks:  # a CONNECT the fake intercepts, then no TLS handshake
                        s.send(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n")
                # The lock-out: every descriptor taken, connections left waiting to be accepted.
                held, queued = _fds(proc.pid), _listening(proc.pid)[target]
                assert held == FD_LIMIT and queued > 0, (held, queued)
                started = time.monotonic()
                with requests.Session() as session:
                    session.trust_env = False
                    try:
                        reply = session.get(base_url + "/models", headers={"authorization": f"Bearer {API_KEY}"},
                                            timeout=6)
                    except requests.exceptions.Timeout:
                        reply = None
                took = time.monotonic() - started
                assert reply is not None, (f"locked out: not served within 6 s (the fake held {held} of {FD_LIMIT} "
                                           f"descriptors, {queued} connections waited to be accepted)")
                assert reply.status_code == 200 and reply.json()["data"]
                # Header timeout 1 s, a sweep each 0.25 s, asyncio retrying accept() a second after EMFILE.
                assert took < 6, took
            finally:
                for s in socks:
                    s.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow  # 5 s: uvicorn's keep-alive timeout
async def test_the_relay_closes_connections_that_send_no_request_in_time():
    """uvicorn waits forever for a new connection's first request (and for the rest of one begun after a
    reply): the relay's own deadline closes those, and leaves a stream that outlasts it alone."""
    import asyncio

    from proxy_addon.engine.streams import Event, Pace, StreamReply
    from proxy_addon.relay import TOKEN_HEADER, Relay

    relay = Relay(header_timeout=1)
    await relay.start()
    try:
        async def closed_after(opening: bytes, then: bytes = b"") -> float:
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
            try:
                if opening:
                    writer.write(opening)
                    if then:  # a whole request first, answered; then the start of another
                        head = await reader.readuntil(b"\r\n\r\n")
                        assert head.startswith(b"HTTP/1.1 404"), head
                        await reader.readuntil(b"\r\n0\r\n\r\n")  # chunked
                        writer.write(then)
                started = asyncio.get_running_loop().time()
                assert await asyncio.wait_for(reader.read(), 10) == b""
                return asyncio.get_running_loop().time() - started
            finally:
                writer.close()

        async def slow_stream() -> bytes:
            token = relay.offer(StreamReply(200, b"", events=[Event(b"a"), Event(b"b", content=True)], pace=Pace(ttft=1.5)))
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
            writer.write(f"GET / HTTP/1.1\r\nHost: relay\r\n{TOKEN_HEADER}: {token}\r\nConnection: close\r\n\r\n".encode())
            try:
                return await asyncio.wait_for(reader.read(), 10)
            finally:
                writer.close()

        silent, partial, after_a_reply, stream = await asyncio.gather(
            closed_after(b""),
            closed_after(b"GET / HTTP/1.1\r\nHost: relay\r\n"),
            closed_after(b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n", then=b"G"),
            slow_stream())
    finally:
        await relay.stop()
    for took in (silent, partial):
        assert 0.9 <= took < 3, took
    assert 4.9 <= after_a_reply < 7, after_a_reply  # not before uvicorn's keep-alive timeout (5 s)
    assert stream.startswith(b"HTTP/1.1 200") and stream.endswith(b"\r\n1\r\nb\r\n0\r\n\r\n"), stream  # all of it
