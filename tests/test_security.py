"""Issue 12, through real running fakes: the control token, the Host allow-list, no crash from a profile's
SystemExit, bounded bodies, and keys redacted from query strings."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time

import openai
import pytest
import requests

from conftest import API_KEY, run_cli, running_fake


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
