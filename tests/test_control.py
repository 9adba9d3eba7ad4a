"""The control endpoints (`/_fake/...`) and their CLI wrappers: in-process, through the addon, through the
session fake with the real SDK, and through a real `openai-fake run`."""

from __future__ import annotations

import json
import os
import time

import openai
import pytest
import requests

from proxy_addon import Profile
from proxy_addon.addon import OpenAIFake
from proxy_addon.control import Control, is_loopback
from proxy_addon.engine import Engine
from proxy_addon.journal import Entry, Journal

from conftest import read_until, run_cli, running_fake
from test_addon import flow

MESSAGES = [{"role": "user", "content": "Hello there"}]
BROKEN = "from proxy_addon import Profile\n\nprofile = Profile()\nprofile.chat.completions(colour='blue')\n"


def ask(fake, method: str, path: str, body: dict | None = None, **params) -> requests.Response:
    """A control request to the session fake, straight to its base-URL face (never through a proxy)."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, fake.proxy_url + path, json=body, params=params, timeout=10,
                               headers={"authorization": f"Bearer {fake.control_token}"})


# -- the pure control function ---------------------------------------------------------


TOKEN = "test-control-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def control(allow_remote: bool = False, profile: Profile | None = None) -> Control:
    return Control(Engine(profile or Profile()), Journal(), allow_remote=allow_remote, token=TOKEN)


@pytest.mark.parametrize("client, allowed", [
    ("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("::ffff:127.0.0.1", True), ("localhost", True),
    ("10.0.0.5", False), ("192.168.1.20", False), ("::ffff:10.0.0.1", False), ("2001:db8::1", False), (None, False),
])
def test_only_loopback_clients_are_answered_unless_remote_control_is_allowed(client, allowed):
    assert is_loopback(client) is allowed
    reply = control().handle("GET", "/_fake/profile", client=client, headers=AUTH)
    assert reply.status == (200 if allowed else 403)
    if not allowed:
        error = json.loads(reply.body)["error"]
        assert "--allow-remote-control" in error["message"] and error["code"] == "control_forbidden"
        assert set(error) == {"message", "type", "param", "code"}
    assert control(allow_remote=True).handle("GET", "/_fake/profile", client=client, headers=AUTH).status == 200


@pytest.mark.parametrize("headers, status", [
    ({"origin": "https://evil.example"}, 403),
    ({"origin": "null"}, 403),  # a sandboxed frame or a file
    ({"origin": "http://localhost:3000"}, 403),  # a dev server on this machine, another port
    ({"origin": "http://127.0.0.1:9999"}, 403),
    ({"sec-fetch-site": "cross-site"}, 403),
    ({"sec-fetch-site": "same-site"}, 403),  # localhost:3000 -> localhost:8080 is "same-site"
    ({"origin": "http://127.0.0.1:8080"}, 200),  # the fake's own page
    ({"sec-fetch-site": "same-origin"}, 200),
    ({"sec-fetch-site": "none"}, 200),  # typed into the address bar
    ({}, 200),  # not a browser
])
@pytest.mark.parametrize("allow_remote", [False, True])
def test_only_same_origin_browser_requests_are_trusted_with_or_without_remote_control(headers, status, allow_remote):
    c = control(allow_remote=allow_remote)
    reply = c.handle("POST", "/_fake/reset", client="127.0.0.1", headers={**AUTH, "host": "127.0.0.1:8080", **headers})
    assert reply.status == status, reply.body
    if status == 403:
        assert json.loads(reply.body)["error"]["code"] == "control_forbidden"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic " + TOKEN},
                                     {"x-openai-fake-token": TOKEN[:-1]}, {"authorization": "Bearer "}])
@pytest.mark.parametrize("method, path", [("GET", "/_fake/calls"), ("POST", "/_fake/reset"), ("GET", "/_fake/profile"),
                                          ("POST", "/_fake/profile"), ("GET", "/_fake/state")])
def test_every_control_endpoint_needs_the_token(headers, method, path):
    c = control(allow_remote=True)
    reply = c.handle(method, path, body=b'{"profile": "flaky"}', client="127.0.0.1", headers=headers)
    assert reply.status == 401
    error = json.loads(reply.body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "invalid_control_token"
    assert "running.json" in error["message"]
    assert c.engine.profile.name == "inline"  # nothing was loaded


def test_the_token_is_taken_from_bearer_or_the_fakes_own_header():
    c = control()
    assert c.handle("GET", "/_fake/profile", client="127.0.0.1", headers={"authorization": f"Bearer {TOKEN}"}).status == 200
    assert c.handle("GET", "/_fake/profile", client="127.0.0.1", headers={"x-openai-fake-token": TOKEN}).status == 200
    assert Control(Engine(), Journal()).token  # never open: a Control made without one has its own
    assert Control(Engine(), Journal()).token != Control(Engine(), Journal()).token


@pytest.mark.parametrize("method, path", [("GET", "/_fake/nope"), ("DELETE", "/_fake/calls"), ("GET", "/_fake/reset")])
def test_unknown_control_paths_are_the_apis_404(method, path):
    reply = control().handle(method, path, client="127.0.0.1", headers=AUTH)
    assert reply.status == 404
    assert json.loads(reply.body)["error"]["message"] == f"Invalid URL ({method} {path})"


def test_profile_errors_are_4xx_naming_the_problem(tmp_path):
    c = control()
    unknown = c.handle("POST", "/_fake/profile", body=b'{"profile": "no_such_profile"}', client="127.0.0.1", headers=AUTH)
    error = json.loads(unknown.body)["error"]
    assert unknown.status == 404 and "no_such_profile" in error["message"] and error["code"] == "profile_not_found"
    assert error["param"] == "profile"
    missing_file = c.handle("POST", "/_fake/profile", body=json.dumps({"profile": str(tmp_path / "gone.py")}).encode(),
                            client="127.0.0.1", headers=AUTH)
    assert missing_file.status == 404 and "gone.py: no such profile file" in json.loads(missing_file.body)["error"]["message"]
    broken = tmp_path / "broken.py"
    broken.write_text(BROKEN)
    failed = c.handle("POST", "/_fake/profile", body=json.dumps({"profile": str(broken)}).encode(), client="127.0.0.1", headers=AUTH)
    error = json.loads(failed.body)["error"]
    assert failed.status == 422 and f"{broken}:4" in error["message"] and "colour" in error["message"]
    assert error["code"] == "profile_error"
    assert c.engine.profile.name == "inline"  # nothing changed
    for body, param in [(b"", "profile"), (b"{}", "profile"), (b'{"profile": 3}', "profile"),
                        (b'{"profile": "flaky", "keep_state": "yes"}', "keep_state")]:
        reply = c.handle("POST", "/_fake/profile", body=body, client="127.0.0.1", headers=AUTH)
        assert reply.status == 400 and json.loads(reply.body)["error"]["param"] == param, body
    assert c.handle("POST", "/_fake/profile", body=b"{not json", client="127.0.0.1", headers=AUTH).status == 400


def test_calls_filters():
    c = control()
    for status, path, model in [(200, "/v1/chat/completions", "gpt-4o"), (429, "/v1/chat/completions", "gpt-4o"),
                                (200, "/v1/embeddings", "text-embedding-3-small"), (503, "/v1/models", None)]:
        c.journal.record(Entry(time=time.time(), status=status, path=path, model=model, method="POST"))
    c.journal.record(Entry(time=time.time(), kind="notice", note="profile reloaded: x.py"))

    def paths(**query):
        reply = c.handle("GET", "/_fake/calls", query={k: str(v) for k, v in query.items()}, client="127.0.0.1", headers=AUTH)
        assert reply.status == 200, reply.body
        return [(e["status"], e["path"]) if e["kind"] == "call" else (e["kind"], e["message"]) for e in json.loads(reply.body)["data"]]

    assert len(paths()) == 4  # calls only, oldest first
    assert paths(path="chat") == [(200, "/v1/chat/completions"), (429, "/v1/chat/completions")]
    assert paths(status="4xx,5xx") == [(429, "/v1/chat/completions"), (503, "/v1/models")]
    assert paths(status="200", model="gpt-4o") == [(200, "/v1/chat/completions")]
    assert paths(model="gpt-4") == []  # the exact id, or a pattern
    assert paths(model="*embedding*") == [(200, "/v1/embeddings")]
    assert paths(limit=2) == [(200, "/v1/embeddings"), (503, "/v1/models")]
    assert paths(limit=0) == []
    assert paths(kind="notice") == [("notice", "profile reloaded: x.py")]
    assert paths(kind="notice,call", status="5xx") == [(503, "/v1/models")]
    assert len(paths(kind="all")) == 5
    for query, param in [({"limit": "x"}, "limit"), ({"limit": "-1"}, "limit"), ({"status": "okay"}, "status")]:
        reply = c.handle("GET", "/_fake/calls", query=query, client="127.0.0.1", headers=AUTH)
        assert reply.status == 400 and json.loads(reply.body)["error"]["param"] == param


def test_reset_keeps_or_clears_the_calls():
    c = control()
    c.journal.record(Entry(time=time.time(), status=200, path="/v1/models"))
    c.engine.state.count_call("models")
    assert c.handle("POST", "/_fake/reset", client="127.0.0.1", headers=AUTH).status == 200
    assert c.engine.state.counts() == {} and [e.kind for e in c.journal.entries(kind=None)] == ["call", "notice"]
    reply = c.handle("POST", "/_fake/reset", body=b'{"calls": true}', client="127.0.0.1", headers=AUTH)
    assert json.loads(reply.body) == {"reset": True, "calls_cleared": True}
    assert [e.note for e in c.journal.entries(kind=None)] == ["state and call counts reset, calls cleared"]


# -- through the addon -------------------------------------------------------------------


async def test_the_addon_serves_control_on_the_base_url_face_only():
    # The request hook needs no mitmproxy context; `taddons.context` would replace the process-wide
    # `ctx.master` under the session fake that other tests share.
    addon = OpenAIFake()
    base = flow("127.0.0.1", "/_fake/calls?limit=5", port=8080, scheme="http")
    base.client_conn.sockname = ("127.0.0.1", 8080)
    base.request.headers["authorization"] = f"Bearer {addon.control.token}"
    await addon.request(base)
    assert base.response.status_code == 200 and json.loads(base.response.content) == {"object": "list", "data": []}
    assert addon.journal.entries(kind=None) == []  # not an API call

    proxied = flow("api.openai.com", "/_fake/calls")
    await addon.request(proxied)
    assert proxied.response.status_code == 404
    assert json.loads(proxied.response.content)["error"]["message"] == "Invalid URL (GET /_fake/calls)"

    remote = flow("127.0.0.1", "/_fake/reset", "POST", port=8080, scheme="http")
    remote.client_conn.sockname = ("127.0.0.1", 8080)
    remote.client_conn.peername = ("192.168.1.20", 50000)
    await addon.request(remote)
    assert remote.response.status_code == 403
    assert "192.168.1.20" in json.loads(remote.response.content)["error"]["message"]


# -- through the session fake, with the real SDK ------------------------------------------


def test_calls_lists_real_sdk_calls(base_client, fake):
    base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    base_client.embeddings.create(model="text-embedding-3-small", input="hi")
    with pytest.raises(openai.NotFoundError):
        base_client.models.retrieve("no-such-model")
    data = ask(fake, "GET", "/_fake/calls").json()["data"]
    assert [(e["method"], e["path"], e["status"]) for e in data] == [
        ("POST", "/v1/chat/completions", 200), ("POST", "/v1/embeddings", 200), ("GET", "/v1/models/no-such-model", 404),
    ]
    assert data[0]["model"] == "gpt-4o" and data[0]["face"] == "base-url" and data[0]["key"].startswith("sk-...")
    assert "body" not in data[0]
    assert [e["path"] for e in ask(fake, "GET", "/_fake/calls", model="gpt-4o").json()["data"]] == ["/v1/chat/completions"]
    assert [e["status"] for e in ask(fake, "GET", "/_fake/calls", status="4xx").json()["data"]] == [404]
    assert [e["path"] for e in ask(fake, "GET", "/_fake/calls", limit=1).json()["data"]] == ["/v1/models/no-such-model"]
    assert len(fake.journal.entries()) == 3  # the control requests are not in it


def test_reset_forgets_state_and_counts(base_client, fake, use_profile):
    profile = Profile()
    profile.chat.completions(failures=1)
    use_profile(profile)
    assistant = base_client.beta.assistants.create(model="gpt-4o", name="Tutor")
    with pytest.raises(openai.InternalServerError, match="simulated failure 1 of 1"):
        base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert ask(fake, "GET", "/_fake/state").json()["counts"]["chat.completions"] == 2

    assert ask(fake, "POST", "/_fake/reset").json() == {"reset": True, "calls_cleared": False}
    state = ask(fake, "GET", "/_fake/state").json()
    assert state["collections"] == {} and state["counts"] == {}
    with pytest.raises(openai.NotFoundError):
        base_client.beta.assistants.retrieve(assistant.id)
    with pytest.raises(openai.InternalServerError, match="simulated failure 1 of 1"):  # the knob counts afresh
        base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert fake.engine.profile is profile  # reset keeps the profile


def test_switch_profile_by_shipped_name_and_by_path(base_client, fake, use_profile, tmp_path):
    base_client.beta.assistants.create(model="gpt-4o")
    switched = ask(fake, "POST", "/_fake/profile", {"profile": "flaky"})
    assert switched.status_code == 200 and switched.json()["name"] == "flaky"
    assert switched.json()["source"].endswith("flaky.py") and "embeddings" in switched.json()["rules"]
    assert ask(fake, "GET", "/_fake/state").json()["collections"] == {}  # a new profile starts afresh
    with pytest.raises(openai.InternalServerError):  # flaky: the first embeddings call is a 503
        base_client.embeddings.create(model="text-embedding-3-small", input="hi")

    mine = tmp_path / "mine.py"
    mine.write_text("from proxy_addon import Profile\nprofile = Profile()\n"
                    "profile.chat.completions(choices=[{'message': {'content': 'from my file'}}])\n")
    assistant = base_client.beta.assistants.create(model="gpt-4o")
    switched = ask(fake, "POST", "/_fake/profile", {"profile": str(mine), "keep_state": True})
    assert switched.json() == {"name": "mine", "source": str(mine), "rules": ["chat.completions"], "latency": 0.0,
                               "watched": True, "reload_error": None}
    assert base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content == "from my file"
    assert base_client.beta.assistants.retrieve(assistant.id).id == assistant.id  # keep_state kept it
    assert ask(fake, "GET", "/_fake/profile").json()["name"] == "mine"
    notices = [e.note for e in fake.journal.entries(kind=None) if e.kind == "notice"]
    assert notices == [f"profile: flaky ({switched_source('flaky')}); state reset", f"profile: mine ({mine})"]


def switched_source(name: str) -> str:
    from proxy_addon.profile import shipped_dir

    return str(shipped_dir() / f"{name}.py")


def test_bad_profiles_leave_the_active_one_in_place(base_client, fake, use_profile, tmp_path):
    profile = use_profile(Profile())
    unknown = ask(fake, "POST", "/_fake/profile", {"profile": "no_such_profile"})
    assert unknown.status_code == 404 and "'no_such_profile'" in unknown.json()["error"]["message"]
    broken = tmp_path / "broken.py"
    broken.write_text(BROKEN)
    failed = ask(fake, "POST", "/_fake/profile", {"profile": str(broken)})
    assert failed.status_code == 422 and failed.json()["error"]["message"].startswith(f"{broken}:4: ")
    assert fake.engine.profile is profile
    assert base_client.models.list().data


def test_state_dump_has_what_the_sdk_created(base_client, fake):
    assistant = base_client.beta.assistants.create(model="gpt-4o", name="Math Tutor")
    thread = base_client.beta.threads.create(messages=[{"role": "user", "content": "2+2?"}])
    state = ask(fake, "GET", "/_fake/state").json()
    assert [a["id"] for a in state["collections"]["assistants"]] == [assistant.id]
    assert state["collections"]["assistants"][0]["name"] == "Math Tutor"
    assert [t["id"] for t in state["collections"]["threads"]] == [thread.id]
    assert state["counts"]["beta.assistants"] == 1


def test_the_proxy_face_does_not_serve_control(proxy_env, use_profile, fake):
    # Through the proxy, https://api.openai.com/_fake/... is the real API's: an unknown URL.
    with requests.Session() as session:
        session.trust_env = False
        reply = session.get("https://api.openai.com/_fake/calls", proxies={"https": fake.proxy_url},
                            verify=str(fake.bundle), timeout=10)
    assert reply.status_code == 404
    assert reply.json()["error"]["message"] == "Invalid URL (GET /_fake/calls)"
    assert fake.journal.entries()[-1].path == "/_fake/calls"  # and it is an API call, recorded as such


# -- the CLI wrappers, against a real `openai-fake run` --------------------------------------




@pytest.fixture
def running(tmp_path):
    """A real `openai-fake run --port 0` on its own conf directory: (process, confdir, base URL)."""
    confdir = tmp_path / "conf"
    with running_fake(confdir) as (proc, base_url):
        yield proc, confdir, base_url


@pytest.mark.slow
def test_cli_wrappers_against_a_running_fake(running, tmp_path, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    proc, confdir, base_url = running
    conf = ("--confdir", str(confdir))

    nothing = run_cli("calls", *conf)
    assert nothing.returncode == 0 and nothing.stdout == "" and "no calls" in nothing.stderr

    sdk = openai.OpenAI(api_key="sk-test-1234567890abcdef", base_url=base_url, max_retries=0)
    sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    sdk.models.list()
    assistant = sdk.beta.assistants.create(model="gpt-4o-mini", name="Tutor")

    listed = run_cli("calls", *conf)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3 and "200  POST /v1/chat/completions  chat.completions  gpt-4o" in lines[0]
    as_json = run_cli("calls", "--json", "--model", "gpt-4o", *conf)
    assert [json.loads(line)["path"] for line in as_json.stdout.splitlines()] == ["/v1/chat/completions"]
    both = run_cli("calls", "--json", "--model", "gpt-4o*", *conf)
    assert [json.loads(line)["path"] for line in both.stdout.splitlines()] == ["/v1/chat/completions", "/v1/assistants"]
    last = run_cli("calls", "--json", "-n", "1", *conf)
    assert json.loads(last.stdout)["path"] == "/v1/assistants"
    # One form for a call, whichever command prints it: the journal's record.
    tailed = run_cli("tail", "--json", "--path", "/v1/", *conf)
    assert tailed.returncode == 0, tailed.stderr
    assert run_cli("calls", "--json", *conf).stdout == tailed.stdout
    assert tailed.stdout.splitlines() == [line for line in (confdir / "journal.jsonl").read_text().splitlines()
                                          if '"kind":"call"' in line]
    assert run_cli("calls", "--status", "2xx", "--status", "404", *conf).stdout.count("  200  ") == 3
    refused = run_cli("calls", "--status", "6xx", *conf)
    assert refused.returncode == 2 and "'6xx': give a class (2xx, 4xx, 5xx) or a status such as 429" in refused.stderr

    state = run_cli("state", *conf)
    assert state.returncode == 0 and json.loads(state.stdout)["collections"]["assistants"][0]["id"] == assistant.id

    reset = run_cli("reset", *conf)
    assert reset.returncode == 0 and reset.stdout.strip() == "state and call counts reset"
    assert json.loads(run_cli("state", *conf).stdout)["collections"] == {}
    assert len(run_cli("calls", *conf).stdout.splitlines()) == 3  # the calls are kept...
    assert run_cli("reset", "--calls", *conf).returncode == 0
    assert run_cli("calls", *conf).stdout == ""  # ...unless asked

    used = run_cli("use", "flaky", *conf)
    assert used.returncode == 0 and used.stdout.startswith("profile: flaky (") and "flaky.py" in used.stdout
    with pytest.raises(openai.InternalServerError):
        sdk.embeddings.create(model="text-embedding-3-small", input="hi")

    mine = tmp_path / "mine.py"
    mine.write_text("from proxy_addon import Profile\nprofile = Profile()\n"
                    "profile.chat.completions(choices=[{'message': {'content': 'from my file'}}])\n")
    relative = os.path.relpath(mine)  # made absolute by the CLI: the fake runs elsewhere
    used = run_cli("use", relative, *conf)
    assert used.returncode == 0 and f"profile: mine ({mine})" in used.stdout
    assert sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content == "from my file"

    unknown = run_cli("use", "no_such_profile", *conf)
    assert unknown.returncode == 2 and "no profile named 'no_such_profile'" in unknown.stderr
    broken = tmp_path / "broken.py"
    broken.write_text(BROKEN)
    failed = run_cli("use", str(broken), *conf)
    assert failed.returncode == 2 and f"{broken}:4" in failed.stderr and "colour" in failed.stderr
    assert "Traceback" not in failed.stderr + unknown.stderr

    out = read_until(proc, "profile: mine")
    assert "profile: flaky" in out  # `run` shows what was done to it


@pytest.mark.parametrize("command", [["calls"], ["calls", "--json"], ["reset"], ["use", "flaky"], ["state"]])
def test_cli_wrappers_without_a_running_fake(command, tmp_path):
    done = run_cli(*command, "--confdir", str(tmp_path))
    assert done.returncode == 1 and "no openai-fake is running" in done.stderr and done.stdout == ""
