"""The pytest plugin (`openai_fake`), run as its users run it: small test files in a pytest
subprocess that loads the plugin through its `pytest11` entry point.

Every client in those inner tests talks to "https://api.openai.com" unchanged; the
fixture's environment sends it to the worker's own fake on loopback. An inner
environment that would escape (OPENAI_BASE_URL, NO_PROXY) points at a closed
loopback port, so a leak fails instead of reaching anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT
from proxy_addon.trust import system_ca_files

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.slow


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Run inner test files in a pytest subprocess, from an environment that would escape the fake."""
    for name in ("HTTPS_PROXY", "https_proxy", "OPENAI_API_KEY", "OPENAI_FAKE_CONFDIR", "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens: a leak would fail
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1")  # langchain-openai's name for it
    monkeypatch.setenv("NO_PROXY", "localhost,api.openai.com")  # would send OpenAI traffic around the proxy
    # A global SSL_CERT_FILE, as on many machines: httpx2 reads it first, so the fixture must set it aside.
    system = system_ca_files()
    if system:
        monkeypatch.setenv("SSL_CERT_FILE", str(system[0]))
    monkeypatch.setenv("OUTER_SSL_CERT_FILE", os.environ.get("SSL_CERT_FILE", ""))

    pytester.makeini(INI)

    def run(*args: str, timeout: float = 180, **files: str) -> pytest.RunResult:
        pytester.makepyfile(**files)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *args, timeout=timeout)
        return result

    return run


INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = ignore::DeprecationWarning
"""


def outcome(result: pytest.RunResult) -> str:
    return "\n".join(result.outlines[-60:] + result.errlines[-30:])


RULES_AND_CALLS = '''
import os
import subprocess
import sys

import pytest
from openai import AsyncOpenAI, NotFoundError, OpenAI

MESSAGES = [{"role": "user", "content": "Hello!"}]


def test_the_plugin_is_loaded_by_its_entry_point(request):
    import proxy_addon.pytest_plugin as plugin
    assert request.config.pluginmanager.get_plugin("openai_fake") is plugin


def test_rules_with_failures_and_sdk_retries(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "Hello, how can I help?"}}], failures=2, retry_after=0.01)
    client = OpenAI()  # key and proxy from the environment; max_retries=2, the SDK's default
    assert client.base_url.host == "api.openai.com"
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello, how can I help?"
    # the seed's spelling, the short ones, and the engine's own counter agree
    assert openai_fake.chat.completions.create.route.calls.call_count == 3
    assert openai_fake.chat.completions.calls.call_count == 3
    assert openai_fake.call_count("chat.completions") == 3
    assert openai_fake.runner.engine.state.call_count("chat.completions.create") == 3
    assert [c.status for c in openai_fake.calls] == [500, 500, 200]
    client.beta.assistants.create(model="gpt-4o", name="left behind")


def test_each_test_starts_clean(openai_fake):
    assert openai_fake.calls == [] and openai_fake.profile.rules == {}
    assert openai_fake.state.all("assistants") == []
    assert openai_fake.state.call_count("chat.completions") == 0
    completion = OpenAI(max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "Hello!" in completion.choices[0].message.content  # no rule, no failure left: the default answer
    assert openai_fake.call_count() == 1


def test_calls_bodies_and_filters(openai_fake):
    client = OpenAI(max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "first words"}])
    client.embeddings.create(model="text-embedding-3-small", input="two")
    with pytest.raises(NotFoundError):
        client.beta.assistants.retrieve("asst_missing")
    calls = openai_fake.calls
    assert [(c.method, c.path, c.status, c.rule) for c in calls] == [
        ("POST", "/v1/chat/completions", 200, "chat.completions"),
        ("POST", "/v1/embeddings", 200, "embeddings"),
        ("GET", "/v1/assistants/asst_missing", 404, "beta.assistants"),
    ]
    chat = calls.filter("chat.completions.create").last
    assert chat.model == "gpt-4o"
    assert chat.request_json["messages"] == [{"role": "user", "content": "first words"}]
    assert b"first words" in chat.body
    assert chat.key == "sk-...-key"  # the dummy key, redacted
    assert calls.filter(model="text-embedding-3-small").call_count == 1
    assert calls.filter(status="4xx").last.path == "/v1/assistants/asst_missing"
    assert calls.filter(path="/v1/assistants/*", status=404, method="GET").called
    assert calls.filter(method="POST").call_count == 2
    assert calls.filter("beta").call_count == 1 and calls.filter("beta.threads").call_count == 0
    assert calls.filter(where=lambda c: c.request_json and c.request_json.get("input") == "two").call_count == 1
    assert openai_fake.calls_to("beta.assistants.retrieve").call_count == 1
    assert openai_fake.embeddings.create.route.calls.last.request_json["input"] == "two"
    assert not openai_fake.models.route.called


def test_handler_and_state(openai_fake):
    @openai_fake.embeddings
    def vectors(request, state):
        return {"embedding": [0.5, 0.25]}

    openai_fake.state.put("assistants", {"id": "asst_abc123", "name": "Math Tutor", "model": "gpt-4o"})
    client = OpenAI(max_retries=0)
    assert client.embeddings.create(model="m", input="x", encoding_format="float").data[0].embedding == [0.5, 0.25]
    assert client.beta.assistants.retrieve("asst_abc123").name == "Math Tutor"
    created = client.beta.assistants.create(model="gpt-4o", name="Created")
    assert openai_fake.state.get("assistants", created.id)["name"] == "Created"
    openai_fake.reset()  # state, counts and calls forgotten; what the test put comes back
    assert openai_fake.calls == []
    assert openai_fake.state.get("assistants", created.id) is None
    assert client.beta.assistants.retrieve("asst_abc123").name == "Math Tutor"


def test_sync_stream(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "one word at a time"}}])
    with OpenAI(max_retries=0) as client:
        stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "one word at a time"
    assert openai_fake.calls.last.outcome == "completed"  # recorded when the stream ended


@pytest.mark.asyncio
async def test_async_client(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "async hello"}}])
    async with AsyncOpenAI(max_retries=0) as client:
        completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert completion.choices[0].message.content == text == "async hello"
    assert openai_fake.chat.completions.create.route.calls.call_count == 2
    assert openai_fake.calls.last.chunks >= 2


CHILD = """
from openai import OpenAI
client = OpenAI(max_retries=0)
assert client.base_url.host == "api.openai.com", client.base_url
print(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content)
"""


def test_a_subprocess_is_faked(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "from the child"}}])
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the child"
    assert openai_fake.calls_to("chat.completions.create").call_count == 1


def test_the_environment_is_pointed_at_the_fake(openai_fake):
    assert os.environ["HTTPS_PROXY"] == openai_fake.proxy_url
    # Trust through the hashed directory; an inherited SSL_CERT_FILE would win over it in httpx2.
    assert "SSL_CERT_FILE" not in os.environ and os.environ["SSL_CERT_DIR"] == str(openai_fake.runner.cert_dir)
    assert os.environ["REQUESTS_CA_BUNDLE"] == str(openai_fake.runner.bundle)
    assert "OPENAI_BASE_URL" not in os.environ and "OPENAI_API_BASE" not in os.environ
    assert os.environ["NO_PROXY"] == "localhost"
    assert os.environ["OPENAI_API_KEY"] == "sk-openai-fake-dummy-key"


def test_and_restored_after_the_test():
    assert os.environ["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert os.environ.get("SSL_CERT_FILE", "") == os.environ["OUTER_SSL_CERT_FILE"]
    assert "HTTPS_PROXY" not in os.environ and "OPENAI_API_KEY" not in os.environ
'''


def test_rules_calls_state_clients_and_subprocesses(inner):
    result = inner(test_inner=RULES_AND_CALLS)
    assert result.ret == 0, outcome(result)
    result.assert_outcomes(passed=10)


MARKERS = '''
import pytest
from openai import OpenAI

from proxy_addon import Profile

MESSAGES = [{"role": "user", "content": "Hello!"}]
MINE = Profile()
MINE.chat.completions(choices=[{"message": {"content": "from a Profile object"}}])


@pytest.mark.openai_fake(profile="flaky")
def test_a_shipped_profile(openai_fake):
    assert openai_fake.profile.name == "flaky"
    openai_fake.chat.completions(retry_after=0.01)  # the test adjusts the shipped profile (its own copy)
    OpenAI().chat.completions.create(model="gpt-4o", messages=MESSAGES)  # 2 x 429, then 200
    assert [c.status for c in openai_fake.calls] == [429, 429, 200]


def test_no_marker_no_leftovers(openai_fake):
    assert openai_fake.profile.name == "inline" and openai_fake.profile.rules == {}
    OpenAI(max_retries=0).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert [c.status for c in openai_fake.calls] == [200]


@pytest.mark.openai_fake("flaky")
def test_the_shipped_profile_again_fresh(openai_fake):
    assert openai_fake.profile.rules["chat.completions"].retry_after == 0.5


@pytest.mark.openai_fake("profiles/mine.py")
def test_a_profile_file(openai_fake):
    reply = OpenAI(max_retries=0).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices[0].message.content == "from my file"
    assert OpenAI(max_retries=0).beta.assistants.retrieve("asst_abc123").name == "Preloaded"


@pytest.mark.openai_fake(profile=MINE)
def test_a_profile_object(openai_fake):
    reply = OpenAI(max_retries=0).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices[0].message.content == "from a Profile object"
    openai_fake.chat.completions(failures=1)  # on the test's own copy
    assert MINE.rules["chat.completions"].failures == 0


@pytest.mark.openai_fake(latency=0.2)
def test_profile_knobs(openai_fake):
    OpenAI(max_retries=0).models.list()
    assert openai_fake.calls.last.duration_ms >= 150


@pytest.mark.openai_fake(base_url=True)
def test_base_url_face(openai_fake):
    client = OpenAI(max_retries=0)
    assert str(client.base_url).rstrip("/") == openai_fake.base_url
    client.models.list()
    assert openai_fake.calls.last.face == "base-url"


@pytest.mark.openai_fake(profile="no_such_profile")
def test_an_unknown_profile(openai_fake):
    pass


@pytest.mark.openai_fake(profile="flaky", latency=1)
def test_profile_and_knobs(openai_fake):
    pass


def test_a_misspelt_rule(openai_fake):
    with pytest.raises(AttributeError, match="unknown route name 'chat.completion'"):
        openai_fake.chat.completion(choices=[])
    with pytest.raises(ValueError, match="at least 1 item"):  # a route's own rule takes its group's knobs, checked
        openai_fake.chat.completions.create(choices=[])
    with pytest.raises(AttributeError, match="did you mean chat.completions.create"):
        openai_fake.chat.completions.creat(choices=[{"message": {"content": "x"}}])
'''

MINE_FILE = '''
from proxy_addon import Profile

profile = Profile()
profile.chat.completions(choices=[{"message": {"content": "from my file"}}])
profile.state.put("assistants", {"id": "asst_abc123", "name": "Preloaded", "model": "gpt-4o"})
'''


def test_the_marker_selects_a_base_profile(inner, pytester):
    pytester.mkdir("profiles")
    (pytester.path / "profiles" / "mine.py").write_text(MINE_FILE)
    result = inner(test_markers=MARKERS)
    result.assert_outcomes(passed=8, errors=2)
    text = outcome(result)
    assert "ERROR at setup of test_an_unknown_profile" in text and "no profile named 'no_such_profile'" in text, text
    assert "give a profile or Profile knobs (latency), not both" in text, text


def test_the_marker_is_registered(pytester):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.openai_fake(profile=None, *, base_url=False*"])


XDIST = '''
import json
import os

import pytest
from openai import OpenAI


@pytest.mark.parametrize("n", range(8))
def test_one_fake_per_worker(openai_fake, n):
    OpenAI(max_retries=0).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"call {n}"}])
    assert [c.request_json["messages"][0]["content"] for c in openai_fake.calls] == [f"call {n}"]
    record = {"worker": os.environ.get("PYTEST_XDIST_WORKER"), "pid": os.getpid(), "port": openai_fake.port,
              "confdir": str(openai_fake.runner.confdir)}
    with open(os.path.join(OUT, f"{n}.json"), "w") as f:
        json.dump(record, f)
'''


def test_one_fake_per_xdist_worker(inner, tmp_path):
    pytest.importorskip("xdist")
    out = tmp_path / "records"
    out.mkdir()
    result = inner("-n", "2", test_xdist=f"OUT = {str(out)!r}\n" + XDIST)
    result.assert_outcomes(passed=8)
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert len(records) == 8
    workers = {r["worker"]: (r["pid"], r["port"], r["confdir"]) for r in records}
    assert set(workers) == {"gw0", "gw1"}, records
    # one fake per worker: each worker always used its own port and conf directory, none shared
    assert len({(r["worker"], r["pid"], r["port"], r["confdir"]) for r in records}) == 2, records
    assert len({pid for pid, _, _ in workers.values()}) == 2
    assert len({port for _, port, _ in workers.values()}) == 2
    assert os.getpid() not in {pid for pid, _, _ in workers.values()}


V2 = '''
import subprocess


def test_openai_2_in_a_subprocess(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "hello from 3.x's fake"}}])
    code = (
        "import openai; c = openai.OpenAI(max_retries=0); assert c.base_url.host == 'api.openai.com';"
        "print(openai.__version__, c.chat.completions.create(model='gpt-4o', messages=[{'role': 'user', 'content': 'hi'}])"
        ".choices[0].message.content)"
    )
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    version, text = done.stdout.strip().split(" ", 1)
    assert version.startswith("2.") and text == "hello from 3.x's fake"
    assert openai_fake.calls.last.rule == "chat.completions"
'''


def test_openai_2_in_a_subprocess(inner):
    python = Path(os.environ.get("OPENAI_FAKE_V2_PYTHON") or ROOT / ".venv-openai2" / "bin" / "python")
    if not python.exists():
        pytest.skip(f"no openai 2.x interpreter at {python}: create .venv-openai2 or set OPENAI_FAKE_V2_PYTHON")
    result = inner(test_v2=f"PYTHON = {str(python)!r}\n" + V2)
    result.assert_outcomes(passed=1)


LANGCHAIN = '''
import pytest
from langchain_openai import ChatOpenAI, OpenAIEmbeddings


def test_langchain_openai(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "hello, chain"}}])
    openai_fake.embeddings(embedding=[0.5, 0.5])
    assert ChatOpenAI(model="gpt-4o-mini", max_retries=0).invoke("hi").content == "hello, chain"
    assert OpenAIEmbeddings(model="text-embedding-3-small", check_embedding_ctx_length=False).embed_query("x") == [0.5, 0.5]
    assert openai_fake.chat.completions.calls.last.request_json["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.asyncio
async def test_langchain_openai_async(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "async chain"}}])
    assert (await ChatOpenAI(model="gpt-4o-mini", max_retries=0).ainvoke("hi")).content == "async chain"
    chunks = [c.content async for c in ChatOpenAI(model="gpt-4o-mini", max_retries=0).astream("hi")]
    assert "".join(chunks) == "async chain"
    assert openai_fake.call_count("chat.completions.create") == 2
'''


def test_langchain_openai(inner):
    pytest.importorskip("langchain_openai", reason="langchain-openai is not installed (not a dependency)")
    result = inner(test_langchain=LANGCHAIN)
    result.assert_outcomes(passed=2)


def test_the_plugin_and_conftest_share_one_runner(openai_fake, fake):
    assert openai_fake.runner is fake  # mitmproxy allows one master per process
    assert os.environ["HTTPS_PROXY"] == fake.proxy_url


STRICT_USER_TEST = """
from openai import OpenAI


def test_a_call_under_warnings_as_errors(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "No warnings here"}}])
    reply = OpenAI().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content == "No warnings here"
    embedded = OpenAI().embeddings.create(model="text-embedding-3-small", input="Hi")
    assert len(embedded.data[0].embedding) == 1536
"""


@pytest.mark.parametrize("how", [["-W", "error"], ["-W", "error::DeprecationWarning", "-p", "openai_fake"]])
def test_a_suite_that_turns_warnings_into_errors_passes(inner, pytester, how):
    # The fake's own imports (mitmproxy's ldap3, through pyasn1) warn; none of that may reach the user's suite.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")  # no filterwarnings of ours
    result = inner(*how, test_strict=STRICT_USER_TEST)
    assert result.ret == 0, outcome(result)
    result.assert_outcomes(passed=1)
    assert "warnings summary" not in result.stdout.str() and "Warning" not in result.stderr.str(), outcome(result)
