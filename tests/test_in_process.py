"""The in-process path (`openai_fake.transport`, `http_client`, the `in_process` opt-in), `openai_fake.running`
outside pytest and beside the session fake, and the public import name.

The SDK is real throughout; the in-process tests open no socket to the fake, and say so by the
journal's face ("in-process").
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time

import httpx2
import openai
import pytest

import openai_fake
from conftest import API_KEY
from proxy_addon.engine import Engine
from proxy_addon.profile import Profile
from proxy_addon.runner import Runner

pytest_plugins = ["pytester"]


def _fresh_client() -> openai.OpenAI:
    """A client with no connection yet (a kept-alive one would hide a broken handshake)."""
    return openai.OpenAI(api_key=API_KEY, max_retries=0)


def test_a_second_runner_in_the_process_leaves_the_session_fake_working(client, tmp_path):
    client.models.list()
    with Runner(Profile(), port=0, confdir=tmp_path, warm=False) as second:
        assert second.address is not None
        with _fresh_client() as during:  # the session fake, while the second one runs
            assert during.models.list().data is not None
    # Each Runner's master keeps its own mitmproxy context: the session's new connections are not handed to
    # the second master's addons (whose CA the client does not trust: "tlsv1 alert unknown ca").
    with _fresh_client() as after:
        assert after.models.list().data is not None


def test_the_session_fake_answers_later_tests_too(client):
    assert client.models.list().data is not None


# -- the transport, given a fake ------------------------------------------------------------------


@pytest.fixture
def engine():
    """An engine alone (no Runner), with a profile whose chat handler records what it saw."""
    profile = Profile()
    seen = []

    @profile.chat.completions
    def answer(request, state):
        seen.append(request.json["messages"][-1]["content"])
        return {"choices": [{"message": {"content": f"you said {seen[-1]}"}}]}

    profile.embeddings(failures=1, failure_status=429)
    engine = Engine(profile)
    engine.seen = seen
    return engine


def _journal(engine) -> list:
    return openai_fake.transport(engine).target.journal.entries()


def test_sync_sdk_in_process(engine):
    with openai.OpenAI(api_key=API_KEY, max_retries=0, http_client=openai_fake.http_client(engine)) as client:
        reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content == "you said hello"
        assert engine.seen == ["hello"]  # the profile's handler answered

        uploaded = client.files.create(file=("notes.jsonl", b'{"a": 1}\n'), purpose="assistants")  # multipart
        assert uploaded.filename == "notes.jsonl" and uploaded.bytes == 9
        assert client.files.content(uploaded.id).read() == b'{"a": 1}\n'
        assert client.files.retrieve(uploaded.id).id == uploaded.id  # the same state

        with pytest.raises(openai.RateLimitError):  # failures=1: the API's 429
            client.embeddings.create(model="text-embedding-3-small", input="x")
        with pytest.raises(openai.NotFoundError, match="No such File object"):
            client.files.retrieve("file-nope")

    calls = _journal(engine)
    assert [(c.method, c.path, c.status) for c in calls] == [
        ("POST", "/v1/chat/completions", 200), ("POST", "/v1/files", 200),
        ("GET", f"/v1/files/{uploaded.id}/content", 200), ("GET", f"/v1/files/{uploaded.id}", 200),
        ("POST", "/v1/embeddings", 429), ("GET", "/v1/files/file-nope", 404)]
    assert {c.face for c in calls} == {"in-process"}
    assert calls[0].rule == "chat.completions" and calls[0].model == "gpt-4o" and calls[0].prompt == "hello"
    assert calls[0].answer == "you said hello" and calls[0].key == "sk-...cdef"  # redacted as the faces do
    assert calls[1].body_size > 9 and b"notes.jsonl" in calls[1].body  # the multipart body, kept
    assert calls[4].error and calls[5].error == "No such File object: file-nope"


def test_a_stream_in_process_keeps_its_pace_and_is_journaled():
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "one two three"}}], stream={"chunk_delay": 0.1})
    engine = Engine(profile)
    with openai.OpenAI(api_key=API_KEY, max_retries=0, http_client=openai_fake.http_client(engine)) as client:
        # The pace counts from the request's arrival; a process's first call loads the tokenizer's vocabulary
        # (about a second, more than the whole stream), which would leave every event already due.
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "warm up"}])
        started = time.monotonic()
        with client.chat.completions.stream(model="gpt-4o", messages=[{"role": "user", "content": "hi"}]) as stream:
            arrivals = []
            for event in stream:
                if event.type == "content.delta" and event.delta:
                    arrivals.append(time.monotonic() - started)
            final = stream.get_final_completion()
    assert final.choices[0].message.content == "one two three"
    assert len(arrivals) == 3 and arrivals[-1] - arrivals[0] >= 0.15  # 2 gaps of 0.1 s, tolerance 50 ms
    records = openai_fake.transport(engine).target.journal.entries(None)[1:]  # after the warm-up's
    assert [r.kind for r in records] == ["stream", "call"]
    assert (records[1].outcome, records[1].chunks, records[1].answer) == ("completed", 3, "one two three")


def test_a_cut_stream_in_process_ends_as_a_cut_connection_does():
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "one two three"}}], stream={"cut_after": 1})
    engine = Engine(profile)
    with openai.OpenAI(api_key=API_KEY, max_retries=0, http_client=openai_fake.http_client(engine)) as client:
        stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                                stream=True)
        with pytest.raises(openai.APIConnectionError) as cut:  # what the SDK makes of a cut connection
            for _ in stream:
                pass
    assert isinstance(cut.value.__cause__, httpx2.RemoteProtocolError)
    call = _journal(engine)[-1]
    assert (call.outcome, call.chunks) == ("cut", 1)


async def test_async_sdk_in_process(engine):
    engine.profile.chat.completions(stream={"chunk_delay": 0.05})
    async with openai.AsyncOpenAI(api_key=API_KEY, max_retries=0,
                                  http_client=openai_fake.async_http_client(engine)) as client:
        reply = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hey"}])
        assert reply.choices[0].message.content == "you said hey"
        stream = await client.chat.completions.create(model="gpt-4o", stream=True,
                                                      messages=[{"role": "user", "content": "again"}])
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert text == "you said again"
        uploaded = await client.files.create(file=("a.txt", b"abc"), purpose="assistants")
        assert (await client.files.retrieve(uploaded.id)).filename == "a.txt"
        with pytest.raises(openai.RateLimitError):
            await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert engine.seen == ["hey", "again"]
    calls = _journal(engine)
    assert [c.status for c in calls] == [200, 200, 200, 200, 429]
    assert calls[1].outcome == "completed" and calls[1].answer == "you said again"


def test_the_transport_answers_from_a_running_fake_with_its_journal(fake, use_profile):
    profile = use_profile(Profile())
    profile.chat.completions(choices=[{"message": {"content": "from the runner"}}])
    with openai.OpenAI(api_key=API_KEY, max_retries=0, http_client=openai_fake.http_client(fake)) as client:
        assert client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) \
            .choices[0].message.content == "from the runner"
        created = client.beta.assistants.create(model="gpt-4o", name="in process")
    assert fake.engine.state.get("assistants", created.id)["name"] == "in process"  # the runner's own state
    assert [c.face for c in fake.journal.entries()] == ["in-process", "in-process"]


def test_httpx_clients_too(engine):
    httpx = pytest.importorskip("httpx")
    with openai.OpenAI(api_key=API_KEY, max_retries=0,
                       http_client=openai_fake.http_client(engine, library="httpx")) as client:
        assert isinstance(client._client, httpx.Client)
        assert client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "old"}]) \
            .choices[0].message.content == "you said old"
    with httpx.Client(transport=openai_fake.transport(engine, library="httpx")) as plain:
        listed = plain.get("https://api.openai.com/v1/models", headers={"authorization": f"Bearer {API_KEY}"})
        assert listed.status_code == 200 and listed.json()["object"] == "list"


# -- every client of the process: the opt-in -------------------------------------------------------


@pytest.fixture
def no_sockets(monkeypatch):
    """No connection can be opened from here on (the in-process path needs none)."""
    def refuse(self, address):
        raise OSError(f"this test opens no socket (connect to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.mark.openai_fake(in_process=True)
def test_the_marker_answers_unmodified_clients_in_process(openai_fake, no_sockets):
    assert "HTTPS_PROXY" not in openai_fake.env and os.environ.get("OPENAI_API_KEY")
    openai_fake.chat.completions(choices=[{"message": {"content": "no proxy"}}])
    reply = openai.OpenAI().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "no proxy"
    with openai.DefaultHttpxClient() as made_by_hand:  # the SDK's client class, made by the test: mounted
        assert openai.OpenAI(http_client=made_by_hand).models.list().object == "list"
    assert [c.face for c in openai_fake.calls] == ["in-process", "in-process"]
    assert openai_fake.chat.completions.create.route.calls.call_count == 1


@pytest.mark.openai_fake(in_process=True)
async def test_the_marker_answers_async_clients_in_process(openai_fake, no_sockets):
    async with openai.AsyncOpenAI() as client:
        assert (await client.models.list()).object == "list"
    assert openai_fake.calls.last.face == "in-process"


@pytest.mark.openai_fake(in_process=True)
def test_an_in_process_test_starts_the_proxy_when_asked_where_it_listens(openai_fake):
    openai_fake.embeddings(embedding=[0.5, 0.25])
    env = openai_fake.serve()  # a child process is faked through the proxy: the same engine
    child = subprocess.run([sys.executable, "-c", CHILD_EMBEDS], env={**os.environ, **env}, capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["0.5", "0.25"]
    assert [c.face for c in openai_fake.calls] == ["proxy"]


CHILD_EMBEDS = """
import openai
vector = openai.OpenAI().embeddings.create(model="text-embedding-3-small", input="x", encoding_format="float")
print(*vector.data[0].embedding)
"""


def test_without_the_opt_in_clients_built_are_not_in_process(openai_fake):
    openai.OpenAI().models.list()
    assert openai_fake.calls.last.face == "proxy"
    assert type(openai.OpenAI()._client._transport).__name__ != "InProcessTransport"


def test_the_ini_option_puts_every_test_in_process(pytester):
    pytester.makeini("[pytest]\nopenai_fake_in_process = true\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_inner="""
import openai, pytest

def test_in_process(openai_fake):
    assert openai.OpenAI().models.list().object == "list"
    assert openai_fake.calls.last.face == "in-process" and openai_fake.in_process

@pytest.mark.openai_fake(in_process=False)
def test_opted_out(openai_fake):
    assert openai.OpenAI().models.list().object == "list"
    assert openai_fake.calls.last.face == "proxy"

@pytest.mark.openai_fake(base_url=True)
def test_base_url_is_a_face_of_the_running_fake(openai_fake):
    assert openai.OpenAI().models.list().object == "list"
    assert openai_fake.calls.last.face == "base-url"
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=180)
    assert result.ret == 0, "\n".join(result.outlines[-40:] + result.errlines[-20:])
    result.assert_outcomes(passed=3)


# -- openai_fake.running: outside pytest, and beside the session fake ---------------------------------

SCRIPT = """
import asyncio, os, openai, openai_fake
from openai_fake import Profile

before = dict(os.environ)
profile = Profile()
profile.chat.completions(choices=[{"message": {"content": "scripted"}}])

with openai_fake.running(profile) as fake:                       # a real fake; the process pointed at it
    assert os.environ["HTTPS_PROXY"] == fake.proxy_url
    reply = openai.OpenAI().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "scripted"
    assert [c.face for c in fake.calls] == ["proxy"] and openai_fake.current() is fake
assert dict(os.environ) == before, "the environment is put back"
assert openai_fake.current() is None

with openai_fake.running(profile, in_process=True) as fake:      # no proxy at all
    assert "HTTPS_PROXY" not in os.environ or os.environ.get("HTTPS_PROXY") == before.get("HTTPS_PROXY")
    assert openai.OpenAI().models.list().object == "list"
    assert fake.calls.last.face == "in-process" and fake.runner.address is None

@openai_fake.fake("flaky", in_process=True)                        # the decorator, with a shipped profile
def decorated():
    client = openai.OpenAI(max_retries=3)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    return openai_fake.current().call_count("chat.completions")

@openai_fake.fake(in_process=True)
async def decorated_async():
    async with openai.AsyncOpenAI() as client:
        return (await client.models.list()).object

assert decorated() == 3, "flaky fails twice, then answers"
assert asyncio.run(decorated_async()) == "list"
assert openai._base_client._DefaultHttpxClient.__init__.__module__ == "openai._base_client", "unwrapped"
print("script ok")
"""


def test_running_in_a_script_without_pytest(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("script ok")


def test_running_inside_a_test_beside_the_session_fake(client, fake, use_profile):
    use_profile(Profile()).chat.completions(choices=[{"message": {"content": "session"}}])
    session_env = {name: os.environ.get(name) for name in ("HTTPS_PROXY", "SSL_CERT_DIR", "SSL_CERT_FILE")}
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "block"}}])
    with openai_fake.running(profile) as block:
        assert block.runner is not fake and os.environ["HTTPS_PROXY"] == block.proxy_url != fake.proxy_url
        with _fresh_client() as inside:
            assert inside.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) \
                .choices[0].message.content == "block"
    with openai_fake.running(profile, in_process=True):
        with _fresh_client() as inside:
            assert inside.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) \
                .choices[0].message.content == "block"
    assert {name: os.environ.get(name) for name in session_env} == session_env
    # The session fake, with its environment, for the client made before and for a new one.
    for later in (client, _fresh_client()):
        assert later.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) \
            .choices[0].message.content == "session"
    assert [c.face for c in fake.journal.entries()] == ["proxy", "proxy"]


# -- the public import name --------------------------------------------------------------------------


def test_the_public_name_is_the_same_objects_as_the_old_one():
    import proxy_addon
    import proxy_addon.pytest_plugin

    assert sorted(openai_fake.__all__) == sorted(proxy_addon.__all__) == sorted(proxy_addon.PUBLIC)
    for name in openai_fake.__all__:
        assert getattr(openai_fake, name) is getattr(proxy_addon, name), name
    assert {"Profile", "OpenAIError", "Reply", "Runner", "running", "fake", "transport", "http_client",
            "async_http_client", "FakeOpenAI", "Calls", "Entry"} <= set(openai_fake.__all__)
    # Its modules too, as the same module objects; the shipped profiles as `openai_fake.profiles`.
    assert importlib.import_module("openai_fake.pytest_plugin") is proxy_addon.pytest_plugin
    assert importlib.import_module("openai_fake.engine.wire").Reply is proxy_addon.Reply
    from openai_fake.profiles import flaky

    assert isinstance(flaky.profile, openai_fake.Profile)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("openai_fake.nothing_here")
