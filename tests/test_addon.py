"""The mitmproxy face, driven through mitmproxy's own test harness (taddons, tflow)."""

from __future__ import annotations

import asyncio

import json
import time

import pytest
from mitmproxy import connection, exceptions, http
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import taddons, tflow, tutils

from proxy_addon import Profile
from proxy_addon.addon import OpenAIFake
from proxy_addon.engine import Engine


def flow(host: str, path: str = "/v1/models", method: str = "GET", body: bytes = b"", port: int = 443, scheme="https"):
    f = tflow.tflow()
    f.request = tutils.treq(host=host, port=port, scheme=scheme, method=method, path=path, content=body,
                            headers=[(b"authorization", b"Bearer sk-test-123456789"), (b"content-type", b"application/json")])
    return f


@pytest.mark.parametrize("host", ["api.openai.com", "eu.api.openai.com", "us.api.openai.com", "API.OPENAI.COM", "api.openai.com."])
async def test_openai_hosts_are_answered(host):
    addon = OpenAIFake()
    with taddons.context(addon):
        f = flow(host)
        await addon.request(f)
        assert f.response.status_code == 200
        assert json.loads(f.response.content)["object"] == "list"
        assert f.response.headers["x-request-id"].startswith("req_")
        assert addon.journal.entries()[0].face == "proxy"


@pytest.mark.parametrize("host", ["example.com", "api.openai.com.evil.example", "notapi.openai.com", "openai.com"])
async def test_other_hosts_are_left_alone(host):
    addon = OpenAIFake()
    with taddons.context(addon):
        f = flow(host)
        await addon.request(f)
        assert f.response is None and not addon.journal.entries()


async def test_requests_to_the_proxy_itself_are_the_base_url_face():
    addon = OpenAIFake()
    with taddons.context(addon):
        f = flow("127.0.0.1", port=8080, scheme="http")
        f.client_conn.sockname = ("127.0.0.1", 8080)
        await addon.request(f)
        assert f.response.status_code == 200
        assert addon.journal.entries()[0].face == "base-url"
        other_port = flow("127.0.0.1", port=9999, scheme="http")
        other_port.client_conn.sockname = ("127.0.0.1", 8080)
        await addon.request(other_port)
        assert other_port.response is None  # a proxied request to another local service


async def test_flows_already_answered_are_skipped():
    addon = OpenAIFake()
    with taddons.context(addon):
        f = flow("api.openai.com")
        f.response = tutils.tresp(status_code=204)
        await addon.request(f)
        assert f.response.status_code == 204


async def test_no_upstream_connection_to_openai_hosts():
    addon = OpenAIFake()
    with taddons.context(addon):
        for host, sni, refused in [("api.openai.com", None, True), ("eu.api.openai.com", None, True),
                                   ("api.openai.com.", None, True), ("203.0.113.7", "api.openai.com", True),
                                   ("example.com", None, False), ("203.0.113.7", "example.com", False)]:
            server = connection.Server(address=(host, 443), sni=sni)
            client = tflow.tclient_conn()
            client.peername, client.sockname = ("127.0.0.1", 50000), ("127.0.0.1", 8080)
            await addon.server_connect(ServerConnectionHookData(server=server, client=client))
            assert bool(server.error) is refused, (host, sni)


@pytest.mark.parametrize("host, port, peer, refused", [
    ("127.0.0.1", 8080, "127.0.0.1", True),  # the fake itself: a loop
    ("127.1", 8080, "127.0.0.1", True),
    ("0.0.0.0", 8080, "127.0.0.1", True),
    ("127.0.0.1", 5432, "127.0.0.1", False),  # a local client may reach local services (it can anyway)
    ("127.0.0.1", 5432, "192.168.1.20", True),  # a client from the network may not
    ("10.0.0.3", 80, "192.168.1.20", True),
    ("169.254.169.254", 80, "192.168.1.20", True),
    ("0x7f.1", 22, "192.168.1.20", True),
    ("203.0.113.7", 443, "192.168.1.20", True),  # documentation range: not public either
    ("8.8.8.8", 443, "192.168.1.20", False),
])
async def test_upstream_connections_are_kept_off_the_fake_and_off_private_addresses(host, port, peer, refused):
    addon = OpenAIFake()
    with taddons.context(addon):
        server = connection.Server(address=(host, port))
        client = tflow.tclient_conn()
        client.peername, client.sockname = (peer, 50000), ("0.0.0.0", 8080)
        await addon.server_connect(ServerConnectionHookData(server=server, client=client))
        assert bool(server.error) is refused, server.error


async def test_the_profile_option_loads_and_bad_profiles_fail_configuration(tmp_path):
    addon = OpenAIFake(Engine(Profile()))
    with taddons.context(addon) as tctx:
        tctx.configure(addon, openai_fake_profile="flaky")
        assert addon.engine.profile.name == "flaky"
        bad = tmp_path / "bad.py"
        bad.write_text("from proxy_addon import Profile\nprofile = Profile(oops=1)\n")
        with pytest.raises(exceptions.OptionsError, match=f"{bad}:2"):
            tctx.configure(addon, openai_fake_profile=str(bad))
        assert addon.engine.profile.name == "flaky"  # the last good profile stays


async def test_keys_are_redacted_in_the_journal():
    addon = OpenAIFake()
    with taddons.context(addon):
        f = flow("api.openai.com")
        f.request.headers["authorization"] = "Bearer sk-proj-verysecretvalue1234"
        await addon.request(f)
        entry = addon.journal.entries()[0]
        assert entry.key == "sk-...1234" and "verysecret" not in json.dumps(entry.to_dict())


@pytest.mark.parametrize("address, intercepted", [
    ("api.openai.com:443", True), ("api.openai.com.:443", True), ("jp.api.openai.com:443", True),
    ("example.com:443", False), ("api.openai.com.evil.example:443", False), ("openai.com:443", False),
])
def test_allow_hosts_intercepts_only_openai_hosts(address, intercepted):
    import re

    from proxy_addon.addon import ALLOW_HOSTS

    assert bool(re.search(ALLOW_HOSTS[0], address, re.IGNORECASE)) is intercepted


_STREAM_BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}], "stream": True}).encode()


async def test_a_stream_is_handed_to_the_relay_and_its_response_streamed():
    from proxy_addon.engine import tokens
    from proxy_addon.relay import TOKEN_HEADER, Relay

    tokens.warm()  # as the Runner does once it listens: the first count's vocabulary load is not the hop's
    relay = Relay()
    relay.port = 45678  # not started: the hand-over is what is tested here
    addon = OpenAIFake(relay=relay)
    with taddons.context(addon):
        f = flow("api.openai.com", "/v1/chat/completions", "POST", _STREAM_BODY)
        await addon.request(f)
        assert f.response is None  # mitmproxy will fetch it from the relay
        assert (f.request.scheme, f.request.host, f.request.port) == ("http", "127.0.0.1", 45678)
        token = f.request.headers[TOKEN_HEADER]
        assert token in relay._pending and f.request.content == b""
        f.response = tutils.tresp()
        addon.responseheaders(f)
        assert f.response.stream is True
        addon.error(f)  # a flow that fails before the relay answers leaves nothing behind
        assert token not in relay._pending


@pytest.mark.parametrize("status, body, headers", [
    (200, b'{"ok": true}', {"content-type": "application/json", "x-request-id": "req_1", "openai-version": "2020-10-01"}),
    (429, b'{"error": {}}', {"content-type": "application/json", "retry-after-ms": "10", "Content-Length": "999"}),
    (599, b"", {}),
])
def test_a_whole_reply_makes_the_response_response_make_would(status, body, headers):
    """The hook builds mitmproxy's response with its constructor (cheaper); it must be the one `make` builds."""
    from proxy_addon.addon import _response

    ours, theirs = _response(status, body, headers), http.Response.make(status, body, headers)
    # The same fields (a Content-Length given is replaced by the body's own; names are case-insensitive).
    assert sorted((k.lower(), v) for k, v in ours.headers.fields) == sorted((k.lower(), v) for k, v in theirs.headers.fields)
    assert ours.headers["content-length"] == str(len(body))
    assert (ours.status_code, ours.reason, ours.http_version, ours.content) == \
        (theirs.status_code, theirs.reason, theirs.http_version, theirs.content)


async def test_the_relay_schedule_counts_from_when_the_reply_was_due():
    """A request that arrived 0.3 s ago is handed over as due 0.3 s ago (no latency): the relay's pace
    counts from then, so the hop inside the fake takes nothing from `ttft`."""
    from proxy_addon.engine import tokens
    from proxy_addon.relay import TOKEN_HEADER, Relay

    tokens.warm()  # as the Runner does once it listens: the first count's vocabulary load is not the hop's
    relay = Relay()
    relay.port = 45678  # not started: the hand-over is what is tested here
    addon = OpenAIFake(relay=relay)
    with taddons.context(addon):
        f = flow("api.openai.com", "/v1/chat/completions", "POST", _STREAM_BODY)
        f.request.timestamp_start = f.request.timestamp_end = time.time() - 0.3
        await addon.request(f)
        due = relay._pending[f.request.headers[TOKEN_HEADER]][2]
        assert abs(asyncio.get_running_loop().time() - 0.3 - due) < 0.05


async def test_without_a_relay_a_stream_is_sent_whole():
    addon = OpenAIFake()
    with taddons.context(addon):
        f = flow("api.openai.com", "/v1/chat/completions", "POST", _STREAM_BODY)
        await addon.request(f)
        assert f.response.headers["content-type"].startswith("text/event-stream")
        lines = f.response.content.decode().split("\n\n")
        assert lines[0].startswith("data: {") and "data: [DONE]" in lines


async def test_latency_counts_from_the_request_arrival():
    # A request that waited 0.3 s in mitmproxy's queue before the hook ran has 0.2 s of its 0.5 s latency left.
    addon = OpenAIFake(Engine(Profile(latency=0.5)))
    with taddons.context(addon):
        queued = flow("api.openai.com")
        queued.request.timestamp_end = time.time() - 0.3
        started = time.monotonic()
        await addon.request(queued)
        queued_took = time.monotonic() - started
        fresh = flow("api.openai.com")
        fresh.request.timestamp_end = time.time()
        started = time.monotonic()
        await addon.request(fresh)
        fresh_took = time.monotonic() - started
    assert queued.response.status_code == fresh.response.status_code == 200
    assert 0.15 <= queued_took <= 0.3, queued_took
    assert 0.45 <= fresh_took <= 0.6, fresh_took
    # The record's duration is the client's view: from the arrival, queue included.
    assert [round(e.duration_ms, -2) for e in addon.journal.entries()] == [500, 500]


@pytest.mark.parametrize("host, port, scheme, sockname, face, named", [
    ("api.openai.com", 443, "https", None, "proxy", "api.openai.com"),
    ("127.0.0.1", 8080, "http", ("127.0.0.1", 8080), "base-url", "127.0.0.1:8080"),
])
async def test_a_realtime_upgrade_is_handed_to_the_relay_as_a_socket(host, port, scheme, sockname, face, named):
    from proxy_addon.engine import tokens
    from proxy_addon.relay import TOKEN_HEADER, Relay

    tokens.warm()  # as the Runner does once it listens: the first count's vocabulary load is not the hop's
    relay = Relay()
    relay.port = 45678  # not started: the hand-over is what is tested here
    addon = OpenAIFake(relay=relay)
    with taddons.context(addon):
        f = flow(host, "/v1/realtime?model=gpt-realtime", port=port, scheme=scheme)
        if sockname:
            f.client_conn.sockname = sockname
        f.request.headers["host"] = named  # as a client sends it
        f.request.headers["upgrade"] = "websocket"
        f.request.headers["connection"] = "Upgrade"
        await addon.request(f)
        assert f.response is None  # mitmproxy passes the upgrade on to the relay, then relays the frames
        assert (f.request.scheme, f.request.host, f.request.port) == ("http", "127.0.0.1", 45678)
        assert f.request.headers["host"] == named  # the host the call is answered (and journaled) as
        handler = relay._sockets[f.request.headers[TOKEN_HEADER]]
        assert handler.keywords["face"] == face and handler.keywords["engine"] is addon.engine
        assert not addon.journal.entries()  # the socket journals the call when it closes
        addon.error(f)
        assert not relay._sockets
        plain = flow(host, "/v1/realtime?model=gpt-realtime", port=port, scheme=scheme)
        if sockname:
            plain.client_conn.sockname = sockname
        await addon.request(plain)  # no upgrade: the engine's 400
        assert plain.response.status_code == 400
        assert json.loads(plain.response.content)["error"]["code"] == "websocket_upgrade_required"
