"""Other hosts a test names (`profile.host(...)`, `openai_fake.host(...)`; `proxy_addon/engine/hosts.py`):
answered by the fake through the proxy, never sent upstream, journaled; hosts nobody registered stay tunnelled
with their own certificate. Registration is checked at load; matching and answers by table, without sockets."""

from __future__ import annotations

import json
import ssl
import threading

import httpx
import pytest
import requests
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import taddons, tflow

from proxy_addon import OpenAIError, Profile
from proxy_addon.addon import ALLOW_HOSTS, OpenAIFake
from proxy_addon.engine import Engine, Reply, Request
from proxy_addon.engine.hosts import as_reply
from test_interception import TLSServer, get_through_proxy, self_signed_cert

WEATHER = "api.myweatherapi.com"


# -- registration, checked at load ---------------------------------------------------------------------


@pytest.mark.parametrize("name, why", [
    ("https://api.example.com", "not a URL"), ("api.example.com:443", "not a URL or a port"),
    ("localhost", "not a host name"), ("127.0.0.1", "not a host name"), ("example", "not a host name"),
    ("api.openai.com", "OpenAI's and Azure OpenAI's hosts already"),
    ("eu.api.openai.com", "already"), ("myres.openai.azure.com", "already"), ("*.openai.com", "already"),
    ("*.azure.com", "already"), ("*.cognitiveservices.azure.com", "already"),
])
def test_host_names_the_fake_cannot_take_are_refused_at_load(name, why):
    with pytest.raises(ValueError, match=why):
        Profile().host(name)


def test_a_host_is_kept_by_its_name_and_asked_again_gives_the_same():
    profile = Profile()
    host = profile.host("API.Example.COM.")
    assert host.name == "api.example.com" and profile.host("api.example.com") is host
    assert profile.host_for("Api.Example.Com") is host and profile.host_for("other.example.com") is None
    wild = profile.host("*.example.org")
    assert profile.host_for("a.b.example.org") is wild and profile.host_for("example.org") is None


@pytest.mark.parametrize("args, kwargs, error, why", [
    (("FETCH", "/"), {"answer": {}}, ValueError, "method is one of"),
    (("GET", "forecast"), {"answer": {}}, ValueError, "starts with '/'"),
    (("GET", "/a?b=1"), {"answer": {}}, ValueError, "without a query"),
    (("GET", "/a/{b"), {"answer": {}}, ValueError, "a parameter is a whole segment"),
    (("GET", "/{a}/{a}"), {"answer": {}}, ValueError, "names a parameter twice"),
    (("GET", "/"), {"answer": object()}, TypeError, "cannot answer a object"),
    (("GET", "/"), {"answer": (700, {})}, ValueError, "status from 100 to 599"),
    (("GET", "/"), {"answer": (200, {}, {"x": 1})}, TypeError, "headers must be a dict of strings"),
    (("GET", "/"), {"answer": (200,)}, ValueError, "not 1 items"),
    (("GET", "/"), {"answer": None}, TypeError, "the answer is None"),
    (("GET", "/"), {"answer": {"a": {1, 2}}}, TypeError, "cannot be sent as JSON"),
    (("GET", "/"), {"answer": {}, "latency": -1}, ValueError, "latency must be"),
])
def test_bad_routes_are_refused_at_load(args, kwargs, error, why):
    with pytest.raises(error, match=why):
        Profile().host("api.example.com").route(*args, **kwargs)


def test_a_profile_file_with_a_bad_route_fails_at_its_line(tmp_path):
    from proxy_addon.profile import ProfileError, load

    bad = tmp_path / "bad_host.py"
    bad.write_text("from openai_fake import Profile\nprofile = Profile()\n"
                   "profile.host('api.example.com').get('nope', answer={})\n")
    with pytest.raises(ProfileError, match=f"{bad}:3: ValueError: .*starts with '/'"):
        load(str(bad))


# -- matching and answers, by table ----------------------------------------------------------------------


def _engine() -> Engine:
    profile = Profile()
    weather = profile.host(WEATHER)
    weather.post("/", answer={"value": "57"})
    weather.get("/forecast/{city}/{day}", answer=(203, {"fixed": True}))

    @weather.get("/forecast/{city}")
    def forecast(request, state):
        return {"city": request.params["city"], "units": request.query.get("units"), "route": request.route}

    @weather.route(None, "/echo")
    def echo(request, state):
        return 200, request.body, {"Content-Type": request.headers.get("content-type", "text/plain"), "X-Echo": "1"}

    weather.delete("/gone", answer=Reply(204, b""))
    weather.put("/text", answer="plain words")
    weather.patch("/bytes", answer=b"\x00\x01")
    weather.get("/list", answer=[1, 2, 3])

    @weather.get("/refuse")
    def refuse(request, state):
        raise OpenAIError(429, "slow down", retry_after=1)

    @weather.get("/nothing")
    def nothing(request, state):
        return None

    @weather.get("/bug")
    def bug(request, state):
        raise KeyError("missing")

    @profile.host("*.status.example.com")
    def status(request, state):
        return 503, {"status": "down", "host": request.host}

    return Engine(profile)


@pytest.mark.parametrize("method, path, query, body, status, check", [
    ("POST", "/", {}, b"{}", 200, lambda r: r.payload == {"value": "57"}),
    ("GET", "/forecast/paris", {"units": "metric"}, b"", 200,
     lambda r: r.payload == {"city": "paris", "units": "metric", "route": f"{WEATHER} GET /forecast/{{city}}"}),
    ("GET", "/forecast/paris/", {}, b"", 200, lambda r: r.payload["city"] == "paris"),  # a trailing slash
    ("HEAD", "/forecast/oslo", {}, b"", 200, lambda r: r.payload["city"] == "oslo"),  # GET answers HEAD
    ("GET", "/forecast/paris/monday", {}, b"", 203, lambda r: json.loads(r.body) == {"fixed": True}),
    ("PUT", "/echo", {}, b"abc", 200, lambda r: r.body == b"abc" and r.headers["x-echo"] == "1"),
    ("DELETE", "/gone", {}, b"", 204, lambda r: r.body == b""),
    ("PUT", "/text", {}, b"", 200, lambda r: r.body == b"plain words" and r.headers["content-type"].startswith("text/plain")),
    ("PATCH", "/bytes", {}, b"", 200, lambda r: r.body == b"\x00\x01"),
    ("GET", "/list", {}, b"", 200, lambda r: json.loads(r.body) == [1, 2, 3]),
    ("GET", "/refuse", {}, b"", 429, lambda r: r.headers["retry-after"] == "1"),
    ("GET", "/nothing", {}, b"", 500, lambda r: "handler 'nothing'" in r.payload["error"]["message"]
     and "the answer is None" in r.payload["error"]["message"]),
    ("GET", "/bug", {}, b"", 500, lambda r: "KeyError" in r.payload["error"]["message"]
     and "test_other_hosts.py" in r.payload["error"]["message"]),
    ("POST", "/forecast/paris", {}, b"", 404, lambda r: "no route of host" in r.payload["error"]["message"]
     and "GET /forecast/{city}" in r.payload["error"]["message"]),
    ("GET", "/", {}, b"", 404, lambda r: r.payload["error"]["code"] == "unmatched_route"),
])
def test_routes_match_in_order_and_answer_what_they_say(method, path, query, body, status, check):
    reply = _engine().handle(Request(method, path, {"content-type": "application/octet-stream"}, body, query,
                                     host=WEATHER))
    assert reply.status == status, reply.body
    assert check(reply)
    assert reply.rule == WEATHER and reply.headers["x-request-id"].startswith("req_")
    assert "openai-version" not in reply.headers  # not OpenAI's answer


def test_a_wildcard_host_answers_every_name_under_it_and_no_key_is_asked():
    engine = _engine()
    reply = engine.handle(Request("GET", "/anything", host="eu.status.example.com"))
    assert reply.status == 503 and reply.payload == {"status": "down", "host": "eu.status.example.com"}
    # OpenAI's hosts are untouched by registered ones: the key check and the routes are OpenAI's.
    assert engine.handle(Request("GET", "/v1/models", host="api.openai.com")).status == 401


def test_registering_a_route_again_replaces_it_and_a_fixed_answer_is_never_shared():
    profile = Profile()
    host = profile.host("api.example.com")
    host.get("/a", answer={"n": 1})
    host.get("/b", answer={"b": 1})
    host.get("/a", answer={"n": 2})
    assert [r.label for r in host.routes] == ["GET /a", "GET /b"]
    engine = Engine(profile)
    first = engine.handle(Request("GET", "/a", host="api.example.com"))
    second = engine.handle(Request("GET", "/a", host="api.example.com"))
    assert first.payload == {"n": 2} and first.headers["x-request-id"] != second.headers["x-request-id"]


def test_an_httpx_response_is_an_answer_too():
    reply = as_reply(httpx.Response(201, json={"value": "57"}, headers={"X-From": "httpx"}))
    assert reply.status == 201 and json.loads(reply.body) == {"value": "57"} and reply.headers["x-from"] == "httpx"
    assert "content-length" not in reply.headers  # the face sets the body's own


# -- the addon: what it intercepts ---------------------------------------------------------------------


async def test_http_connect_makes_allow_hosts_follow_the_profiles_hosts():
    profile = Profile()
    engine = Engine(profile)
    addon = OpenAIFake(engine)
    with taddons.context(addon) as tctx:
        tctx.options.allow_hosts = list(ALLOW_HOSTS)
        profile.host(WEATHER).post("/", answer={})
        addon.http_connect(tflow.tflow())
        import re

        allowed = tctx.options.allow_hosts
        assert any(re.search(p, f"{WEATHER}:443", re.I) for p in allowed)
        assert not any(re.search(p, "example.com:443", re.I) for p in allowed)
        assert not any(re.search(p, f"{WEATHER}.evil.example:443", re.I) for p in allowed)
        engine.use(Profile())  # the next test's profile names no host: tunnelled again
        addon.http_connect(tflow.tflow())
        assert tctx.options.allow_hosts == ALLOW_HOSTS


async def test_a_registered_host_is_never_dialled():
    profile = Profile()
    profile.host(WEATHER).post("/", answer={})
    addon = OpenAIFake(Engine(profile))
    with taddons.context(addon):
        for address, sni in [((WEATHER, 443), None), (("203.0.113.7", 443), WEATHER), (("example.com", 443), None)]:
            server = tflow.tserver_conn()
            server.address, server.sni = address, sni
            client = tflow.tclient_conn()
            client.peername, client.sockname = ("127.0.0.1", 50000), ("127.0.0.1", 8080)
            await addon.server_connect(ServerConnectionHookData(server=server, client=client))
            assert bool(server.error) is (address[0] != "example.com"), (address, server.error)


# -- through the real proxy --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    server = TLSServer(*self_signed_cert(tmp_path_factory.mktemp("other-hosts-tls")))
    thread = threading.Thread(target=server.serve_forever, name="tls-server", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_registered_host_is_answered_through_the_proxy_with_httpx(fake, use_profile):
    profile = Profile()
    weather = profile.host(WEATHER)
    weather.post("/", answer={"value": "57"})

    @weather.get("/forecast/{city}")
    def forecast(request, state):
        return {"city": request.params["city"], "temp": 20}

    use_profile(profile)
    trusting_the_fake = ssl.create_default_context(cafile=str(fake.bundle))  # the system CAs and the fake's
    with httpx.Client(proxy=fake.proxy_url, verify=trusting_the_fake, trust_env=False, timeout=10) as http:
        posted = http.post(f"https://{WEATHER}", json={"location": "San Francisco, CA"})
        got = http.get(f"https://{WEATHER}/forecast/oslo")
        unmatched = http.get(f"https://{WEATHER}/nowhere")
    assert posted.status_code == 200 and posted.json() == {"value": "57"}
    assert got.json() == {"city": "oslo", "temp": 20}
    assert unmatched.status_code == 404 and "no route of host" in unmatched.json()["error"]["message"]
    calls = [e for e in fake.journal.entries() if e.kind == "call"]
    assert [(e.method, e.host, e.path, e.status, e.rule, e.face) for e in calls] == [
        ("POST", WEATHER, "/", 200, WEATHER, "proxy"), ("GET", WEATHER, "/forecast/oslo", 200, WEATHER, "proxy"),
        ("GET", WEATHER, "/nowhere", 404, WEATHER, "proxy")]
    assert json.loads(calls[0].body) == {"location": "San Francisco, CA"}
    # Negative control: the answer came with the fake CA's certificate, which the system store alone does not trust.
    with httpx.Client(proxy=fake.proxy_url, trust_env=False, timeout=10) as http:
        with pytest.raises(httpx.ConnectError):
            http.post(f"https://{WEATHER}", json={})


def test_a_plain_http_request_to_a_registered_host_is_answered_not_forwarded(fake, use_profile):
    profile = Profile()
    profile.host("plain.example.net").get("/ping", answer="pong")
    use_profile(profile)
    with requests.Session() as s:
        s.trust_env = False
        r = s.get("http://plain.example.net/ping", proxies={"http": fake.proxy_url}, timeout=10)
    assert r.status_code == 200 and r.text == "pong"
    assert fake.journal.entries()[-1].host == "plain.example.net"


def test_unregistered_hosts_are_still_tunnelled_untouched(fake, use_profile, tls_server):
    profile = Profile()
    profile.host(WEATHER).post("/", answer={"value": "57"})
    use_profile(profile)
    before = tls_server.requests
    # Verified against the local server's own self-signed certificate: only a real tunnel passes.
    response = get_through_proxy(fake, tls_server.url, verify=tls_server.cert_file)
    assert response.status_code == 200 and response.content == TLSServer.BODY
    assert tls_server.requests == before + 1 and tls_server.snis[-1] == "localhost"
    assert all(e.host != "localhost" for e in fake.journal.entries())


def test_the_fixture_registers_a_host_next_to_openai_as_the_seeds_router_example(openai_fake):
    """The seed's `examples/test_router_usage.py`: an assistant's tool call answered by a weather API that the
    test fakes next to OpenAI (there with `openai_mock.router.post(url=...)`)."""
    import openai

    weather = openai_fake.host(WEATHER)
    weather.post("/", answer={"value": "57"})
    openai_fake.beta.threads.runs(tool_calls=[{"function": {"name": "get_current_temperature",
                                                            "arguments": {"location": "San Francisco, CA"}}}])
    client = openai.OpenAI(api_key="sk-fake123", max_retries=0)
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "function", "function": {
        "name": "get_current_temperature", "parameters": {"type": "object", "properties": {
            "location": {"type": "string"}}, "required": ["location"]}}}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather in San Francisco?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    outputs = []
    for call in run.required_action.submit_tool_outputs.tool_calls:
        # The test's own HTTP call, unchanged: the environment the fixture set sends it through the fake.
        data = httpx.post(f"https://{WEATHER}", json=json.loads(call.function.arguments)).json()
        outputs.append({"tool_call_id": call.id, "output": data["value"]})
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread.id, tool_outputs=outputs)
    assert run.status == "completed"
    assert weather.call_count == 1 and weather.calls.last.status == 200
    assert openai_fake.calls.filter(host=WEATHER).call_count == 1
    assert openai_fake.beta.threads.runs.submit_tool_outputs.route.call_count == 1
    client.close()
