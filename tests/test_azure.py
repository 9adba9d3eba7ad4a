"""Azure OpenAI: `AzureOpenAI` / `AsyncAzureOpenAI` through the proxy (https://myres.openai.azure.com) and the
base-URL face (`azure_endpoint=http://127.0.0.1:PORT`), Azure's paths, its `api-key` header and its error
shapes (`proxy_addon/engine/azure.py`); the rewrite itself by table, without sockets."""

from __future__ import annotations

import json
import re

import httpx2
import openai
import pytest
import requests

from conftest import API_KEY
from proxy_addon import Profile
from proxy_addon.access import ALLOW_HOSTS
from proxy_addon.engine import Engine, Request, azure
from proxy_addon.runner import client_env

ENDPOINT = "https://myres.openai.azure.com"
VERSION = "2024-10-21"
MESSAGES = [{"role": "user", "content": "Hello from Azure"}]
NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}


# -- the rewrite, by table -----------------------------------------------------------------------------


@pytest.mark.parametrize("path, query, engine_path, deployment", [
    ("/openai/deployments/gpt4o/chat/completions", {"api-version": VERSION}, "/v1/chat/completions", "gpt4o"),
    ("/openai/deployments/gpt4o/completions", {"api-version": VERSION}, "/v1/completions", "gpt4o"),
    ("/openai/deployments/emb/embeddings", {"api-version": "2024-05-01-preview"}, "/v1/embeddings", "emb"),
    ("/openai/deployments/dalle/images/generations", {"api-version": VERSION}, "/v1/images/generations", "dalle"),
    ("/openai/deployments/tts/audio/speech", {"api-version": VERSION}, "/v1/audio/speech", "tts"),
    ("/openai/deployments/whisper/audio/transcriptions", {"api-version": VERSION}, "/v1/audio/transcriptions", "whisper"),
    ("/openai/assistants", {"api-version": VERSION}, "/v1/assistants", None),
    ("/openai/threads/thread_1/runs/run_1", {"api-version": VERSION}, "/v1/threads/thread_1/runs/run_1", None),
    ("/openai/files", {"api-version": VERSION, "purpose": "batch"}, "/v1/files", None),
    ("/openai/batches", {"api-version": VERSION}, "/v1/batches", None),
    ("/openai/responses", {"api-version": "2025-03-01-preview"}, "/v1/responses", None),
    ("/openai/v1/chat/completions", {}, "/v1/chat/completions", None),
    ("/openai/v1/models", {"api-version": "preview"}, "/v1/models", None),
    ("/openai/v1/vector_stores/vs_1/files", {}, "/v1/vector_stores/vs_1/files", None),
])
def test_azure_paths_map_onto_the_engines_routes(path, query, engine_path, deployment):
    request = Request("POST", path, {}, b"", query, host="myres.openai.azure.com")
    assert azure.applies(request)
    azure.translate(request)
    assert (request.path, request.deployment, request.api) == (engine_path, deployment, "azure")
    assert "api-version" not in request.query and request.api_version == query.get("api-version")
    assert {k: v for k, v in query.items() if k != "api-version"} == dict(request.query)


@pytest.mark.parametrize("path, query, status, code, message", [
    ("/openai/deployments/gpt4o/chat/completions", {}, 404, "404", "Resource not found"),  # no api-version
    ("/openai/assistants", {}, 404, "404", "Resource not found"),
    ("/openai/chat/completions", {"api-version": VERSION}, 404, "404", "Resource not found"),  # needs a deployment
    ("/openai/deployments/gpt4o/models", {"api-version": VERSION}, 404, "404", "Resource not found"),
    ("/openai/deployments//chat/completions", {"api-version": VERSION}, 404, "404", "Resource not found"),
    ("/v1/chat/completions", {}, 404, "404", "Resource not found"),  # OpenAI's path, on an Azure host
    ("/openai/deployments/gpt4o/chat/completions", {"api-version": "v2"}, 400, "BadRequest", "API version not supported"),
])
def test_paths_azure_does_not_serve_get_its_errors(path, query, status, code, message):
    with pytest.raises(azure.AzureError) as caught:
        azure.translate(Request("POST", path, {}, b"", query, host="myres.openai.azure.com"))
    reply = caught.value.reply()
    assert reply.status == status and reply.payload == {"error": {"code": code, "message": message}}


@pytest.mark.parametrize("host, path, azure_speaking", [
    ("myres.openai.azure.com", "/openai/assistants", True),
    ("MyRes.OpenAI.Azure.com.", "/anything", True),
    ("myres.cognitiveservices.azure.com", "/openai/v1/models", True),
    ("127.0.0.1", "/openai/deployments/d/chat/completions", True),  # the base-URL face
    ("127.0.0.1", "/v1/chat/completions", False),
    ("api.openai.com", "/openai/v1/models", False),  # OpenAI's own host answers it as OpenAI would: Invalid URL
    ("eu.api.openai.com", "/openai/assistants", False),
    ("openai.azure.com", "/openai/assistants", True),  # `/openai/` to a host that is not OpenAI's
    ("evil.openai.azure.com.example", "/v1/models", False),
])
def test_which_requests_speak_azure(host, path, azure_speaking):
    assert azure.applies(Request("GET", path, host=host)) is azure_speaking


@pytest.mark.parametrize("address, intercepted", [
    ("myres.openai.azure.com:443", True), ("MyRes.OpenAI.Azure.Com.:443", True),
    ("myres.cognitiveservices.azure.com:443", True), ("a.b.openai.azure.com:443", True),
    ("openai.azure.com:443", False), ("myres.openai.azure.com.evil.example:443", False),
    ("management.azure.com:443", False), ("myaccount.blob.core.windows.net:443", False),
])
def test_the_proxy_intercepts_azure_openai_hosts_and_no_other_azure_host(address, intercepted):
    assert any(re.search(p, address, re.IGNORECASE) for p in ALLOW_HOSTS) is intercepted


def test_no_proxy_entries_that_would_send_azure_around_the_fake_are_dropped(tmp_path):
    env = client_env("http://127.0.0.1:1", tmp_path / "b.pem", tmp_path / "c.pem",
                     inherited={"NO_PROXY": "localhost,.openai.azure.com,myres.cognitiveservices.azure.com,.azure.com,"
                                            "blob.core.windows.net"})
    assert env["NO_PROXY"] == "localhost,blob.core.windows.net"


def test_the_deployment_becomes_the_model_and_a_bearer_or_api_key_is_the_key():
    engine = Engine(Profile())
    body = json.dumps({"model": "gpt-4o", "messages": MESSAGES}).encode()

    def call(headers, host="myres.openai.azure.com", path="/openai/deployments/my-dep/chat/completions"):
        return engine.handle(Request("POST", path, {"content-type": "application/json", **headers}, body,
                                     {"api-version": VERSION}, host=host))

    ok = call({"api-key": "k123"})
    assert ok.status == 200 and ok.payload["model"] == "my-dep"
    assert call({"authorization": "Bearer entra-token"}).status == 200  # an Entra ID token
    denied = call({})
    assert denied.status == 401 and denied.payload["error"]["code"] == "401"
    assert denied.payload["error"]["message"].startswith("Access denied due to invalid subscription key")
    assert set(denied.payload["error"]) == {"code", "message"}  # Azure's shape, not OpenAI's
    # `api-key` is Azure's header: api.openai.com still wants a bearer, and answers OpenAI's 401.
    openai_side = engine.handle(Request("POST", "/v1/chat/completions", {"api-key": "k123"}, body))
    assert openai_side.status == 401 and openai_side.payload["error"]["type"] == "invalid_request_error"


def test_a_simulated_rate_limit_is_azures_429():
    profile = Profile()
    profile.chat.completions(failures=1, failure_status=429, retry_after=2)
    engine = Engine(profile)
    reply = engine.handle(Request("POST", "/openai/deployments/d/chat/completions", {"api-key": "k"},
                                  json.dumps({"messages": MESSAGES}).encode(), {"api-version": VERSION},
                                  host="myres.openai.azure.com"))
    assert reply.status == 429 and reply.payload["error"]["code"] == "429"
    assert reply.payload["error"]["message"].startswith(
        f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {VERSION} have exceeded")
    assert reply.headers["retry-after"] == "2"


# -- the real SDK, through both faces --------------------------------------------------------------


@pytest.fixture(params=["proxy", "base-url"])
def face(request, fake, use_profile, monkeypatch):
    """(face, the azure_endpoint that reaches the fake through it)."""
    use_profile(Profile())
    if request.param == "proxy":
        request.getfixturevalue("proxy_env")
        return "proxy", ENDPOINT
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return "base-url", fake.azure_endpoint


@pytest.fixture
def az(face):
    with openai.AzureOpenAI(azure_endpoint=face[1], api_key="azure-key-123", api_version=VERSION, max_retries=0) as c:
        yield c


def test_chat_answers_the_deployment_as_the_model(az, face, fake, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "Hello! How can I help?"}}])
    use_profile(profile)
    completion = az.chat.completions.create(model="my-gpt4o-deployment", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello! How can I help?"
    assert completion.model == "my-gpt4o-deployment"
    entry = fake.journal.entries()[-1]
    assert entry.model == "my-gpt4o-deployment" and entry.face == face[0] and entry.rule == "chat.completions"
    assert entry.path.startswith("/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=")
    assert entry.key and entry.key.endswith("-123") and "azure-key" not in entry.key  # Azure's header, redacted
    if face[0] == "proxy":
        assert entry.host == "myres.openai.azure.com"


def test_a_client_bound_to_a_deployment_reports_it_over_the_body_model(face):
    with openai.AzureOpenAI(azure_endpoint=face[1], azure_deployment="pinned-dep", api_key="k-1234567890",
                            api_version=VERSION, max_retries=0) as c:
        assert c.chat.completions.create(model="gpt-4o", messages=MESSAGES).model == "pinned-dep"
        # Not a deployment endpoint: the SDK sends it to /openai/models, which the fake serves.
        assert c.models.list().data


def test_embeddings(az):
    result = az.embeddings.create(model="my-embedding", input=["one", "two"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 1536 and result.model == "my-embedding"


def test_a_transcription_upload_answers_the_deployment_as_the_model(az, fake):
    import io
    import wave

    audio = io.BytesIO()
    with wave.open(audio, "wb") as w:  # a second of silence
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0\0" * 16000)
    result = az.audio.transcriptions.create(model="my-whisper", file=("a.wav", audio.getvalue(), "audio/wav"),
                                            response_format="verbose_json")
    assert result.duration == pytest.approx(1.0, abs=0.05) and result.text
    entry = fake.journal.entries()[-1]
    assert (entry.status, entry.model, entry.rule) == (200, "my-whisper", "audio.transcriptions")


def test_a_streamed_chat(az, fake):
    with az.chat.completions.stream(model="streaming-dep", messages=MESSAGES) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.model == "streaming-dep" and "Hello from Azure" in final.choices[0].message.content
    chunks = list(az.chat.completions.create(model="streaming-dep", messages=MESSAGES, stream=True))
    assert chunks and all(c.model == "streaming-dep" for c in chunks)


def test_an_assistant_a_thread_and_a_run(az, fake):
    assistant = az.beta.assistants.create(model="assistant-dep", instructions="Be brief.")
    thread = az.beta.threads.create(messages=[{"role": "user", "content": "What is the capital of Norway?"}])
    run = az.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed" and run.model == "assistant-dep"
    answer = az.beta.threads.messages.list(thread.id).data[0]
    assert answer.role == "assistant" and "capital of Norway" in answer.content[0].text.value
    paths = [e.path.split("?")[0] for e in fake.journal.entries() if e.kind == "call"]
    assert paths[:3] == ["/openai/assistants", "/openai/threads", f"/openai/threads/{thread.id}/runs"]


def test_a_missing_api_version_is_azures_404(face):
    with httpx2.Client(trust_env=True, timeout=10) as http:
        response = http.post(f"{face[1]}/openai/deployments/d/chat/completions", headers={"api-key": "k"},
                             json={"messages": MESSAGES})
        assert response.status_code == 404 and response.json() == NOT_FOUND
        # The SDK's exception for it, with Azure's body.
        with openai.AzureOpenAI(azure_endpoint=face[1], api_key="k", api_version=VERSION, max_retries=0) as c:
            with pytest.raises(openai.NotFoundError) as caught:
                c.chat.completions.create(model="d", messages=MESSAGES, extra_query={"api-version": None})
        assert caught.value.body in (NOT_FOUND, NOT_FOUND["error"])


def test_no_key_is_azures_401(face):
    with openai.AzureOpenAI(azure_endpoint=face[1], api_key="k", api_version=VERSION, max_retries=0,
                            default_headers={"api-key": ""}) as c:
        with pytest.raises(openai.AuthenticationError) as caught:
            c.chat.completions.create(model="d", messages=MESSAGES, extra_headers={"api-key": ""})
    assert "Access denied due to invalid subscription key" in caught.value.message


def test_the_v1_api_paths(face):
    with openai.OpenAI(base_url=f"{face[1]}/openai/v1/", api_key=API_KEY, max_retries=0) as c:
        assert c.chat.completions.create(model="v1-dep", messages=MESSAGES).model == "v1-dep"
        assert c.responses.create(model="v1-dep", input="Hi there").output_text
        assert c.files.list().data == []


async def test_the_async_client(face, fake):
    async with openai.AsyncAzureOpenAI(azure_endpoint=face[1], api_key="k-async-1234", api_version=VERSION,
                                       max_retries=0) as c:
        completion = await c.chat.completions.create(model="async-dep", messages=MESSAGES)
        assert completion.model == "async-dep"
        stream = await c.chat.completions.create(model="async-dep", messages=MESSAGES, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert "Hello from Azure" in text
        assert (await c.beta.assistants.create(model="async-dep")).model == "async-dep"


def test_the_plugins_route_counts_see_azure_calls(openai_fake):
    """`openai_fake.chat.completions.create.route.call_count`, as the seed's Azure example asserts it."""
    openai_fake.chat.completions(choices=[{"message": {"content": "Hi"}}])
    with openai.AzureOpenAI(azure_endpoint=ENDPOINT, api_key="k", api_version=VERSION, max_retries=0) as c:
        assert c.chat.completions.create(model="gpt-35", messages=MESSAGES).choices[0].message.content == "Hi"
    assert openai_fake.chat.completions.create.route.call_count == 1
    assert openai_fake.calls.last.model == "gpt-35"


def test_azure_hosts_are_never_dialled(fake, proxy_env, use_profile):
    """Whatever the path, an Azure host is answered by the fake: a path Azure lacks is its 404, not a tunnel."""
    use_profile(Profile())
    with requests.Session() as s:
        r = s.get("https://other.cognitiveservices.azure.com/not/a/path", headers={"api-key": "k"}, timeout=10)
    assert r.status_code == 404 and r.json() == NOT_FOUND
    assert fake.journal.entries()[-1].host == "other.cognitiveservices.azure.com"
