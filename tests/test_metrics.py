"""`GET /_fake/metrics`: real SDK calls through the proxy, the base-URL face and in process, counted in each
fake's own registry, read back with prometheus_client's parser and through `openai-fake state`."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from proxy_addon import Profile, metrics as metrics_module
from proxy_addon.engine import Engine
from proxy_addon.faces import answer
from proxy_addon.inprocess import http_client
from proxy_addon.journal import Journal
from proxy_addon.metrics import Metrics
from proxy_addon.runner import Runner

from conftest import API_KEY, run_cli, wait_for

MESSAGES = [{"role": "user", "content": "How many tokens is this?"}]
LATENCY = 0.05


@pytest.fixture
def metered(tmp_path, monkeypatch):
    """A fake of this test's own (counters only go up: the session fake's count every test's calls), its running
    file written for the CLI: the first embeddings call gets an injected 429, chat calls the profile's latency."""
    profile = Profile()
    profile.embeddings(failures=1, failure_status=429, retry_after=0)
    profile.chat.completions(latency=LATENCY)
    with Runner(profile, port=0, confdir=tmp_path / "conf", warm=False) as runner:
        runner.write_running_file()
        yield runner


def proxied(runner: Runner, monkeypatch) -> openai.OpenAI:
    """An SDK client reaching https://api.openai.com through the fake's proxy, as `openai-fake exec` sets it up."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in runner.env().items():
        monkeypatch.setenv(name, value)
    return openai.OpenAI(api_key=API_KEY, max_retries=0)


def scrape(url: str, token: str | None, **headers: str) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # straight to the fake
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return session.get(url + "/_fake/metrics", headers=headers, timeout=10)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape: (sample name, its labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def of(found: dict, name: str, **fixed: str) -> dict[tuple, float]:
    """The samples called `name` whose labels include `fixed`, by the values of their other labels (sorted by name)."""
    out = {}
    for (sample, labels), value in found.items():
        given = dict(labels)
        if sample == name and all(given.get(k) == v for k, v in fixed.items()):
            out[tuple(v for k, v in sorted(given.items()) if k not in fixed)] = value
    return out


def test_sdk_calls_through_every_face_are_counted_by_route_status_face_model_and_outcome(metered, monkeypatch):
    base = openai.OpenAI(api_key=API_KEY, base_url=metered.base_url, max_retries=0)
    proxy = proxied(metered, monkeypatch)
    in_process = openai.OpenAI(api_key=API_KEY, http_client=http_client(metered), max_retries=0)
    prompt = completion = 0
    for client in (base, proxy, in_process):
        whole = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        prompt, completion = prompt + whole.usage.prompt_tokens, completion + whole.usage.completion_tokens
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                                     stream_options={"include_usage": True}))
        assert chunks[-1].usage is not None
        prompt, completion = prompt + chunks[-1].usage.prompt_tokens, completion + chunks[-1].usage.completion_tokens
    with pytest.raises(openai.RateLimitError):
        base.embeddings.create(model="text-embedding-3-small", input="the injected failure")
    embedded = [c.embeddings.create(model="text-embedding-3-small", input="counted tokens").usage.prompt_tokens
                for c in (base, proxy)]
    upload = base.files.create(file=("notes.txt", b"twelve bytes", "text/plain"), purpose="assistants")
    base.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    assert wait_for(lambda: metered.streams_active == 0)

    on_base = scrape(metered.base_url_origin, metered.control_token)
    on_proxy = scrape(metered.proxy_url, metered.control_token)
    assert on_base.status_code == on_proxy.status_code == 200
    assert on_base.headers["content-type"].startswith("text/plain; version=")
    found = samples(on_base.text)
    assert samples(on_proxy.text) == found  # one registry, whichever port is scraped; a scrape is not a call

    faces = ("base-url", "in-process", "proxy")
    calls = {("base-url", "chat.completions", "200"): 2, ("proxy", "chat.completions", "200"): 2,
             ("in-process", "chat.completions", "200"): 2, ("base-url", "embeddings", "429"): 1,
             ("base-url", "embeddings", "200"): 1, ("proxy", "embeddings", "200"): 1,
             ("base-url", "files", "200"): 1, ("base-url", "beta.threads", "200"): 1}
    assert of(found, "openai_fake_calls_total") == calls
    assert of(found, "openai_fake_streams_total", route="chat.completions") == {(face, "completed"): 1 for face in faces}
    assert of(found, "openai_fake_failures_injected_total") == {("http_429", "embeddings"): 1}
    assert of(found, "openai_fake_tokens_total") == {
        ("input", "gpt-4o"): prompt, ("output", "gpt-4o"): completion, ("input", "text-embedding-3-small"): sum(embedded)}
    # The profile's latency, once per chat call; the duration of each includes it.
    assert of(found, "openai_fake_injected_latency_seconds_count") == {("chat.completions",): 6}
    assert of(found, "openai_fake_injected_latency_seconds_sum")[("chat.completions",)] == pytest.approx(6 * LATENCY)
    for face in faces:
        assert of(found, "openai_fake_call_duration_seconds_count", route="chat.completions", face=face) == {(): 2}
        assert of(found, "openai_fake_call_duration_seconds_sum", route="chat.completions", face=face)[()] >= 2 * LATENCY
    assert of(found, "openai_fake_engine_seconds_count") == {
        ("chat.completions",): 6, ("embeddings",): 3, ("files",): 1, ("beta.threads",): 1}
    assert of(found, "openai_fake_journal_records") == {("call",): 11, ("stream",): 3, ("notice",): 1, ("webhook",): 0}
    assert of(found, "openai_fake_journal_file_bytes")[()] == (metered.confdir / "journal.jsonl").stat().st_size
    assert of(found, "openai_fake_state_objects") == {("files",): 1, ("threads",): 1, ("threads/messages",): 1}
    assert of(found, "openai_fake_state_blobs")[()] == 1
    assert of(found, "openai_fake_state_blob_bytes")[()] == len(b"twelve bytes") == upload.bytes


def test_a_reset_keeps_the_counters_and_empties_the_state_gauges(metered):
    base = openai.OpenAI(api_key=API_KEY, base_url=metered.base_url, max_retries=0)
    base.beta.assistants.create(model="gpt-4o", name="Tutor")
    before = samples(scrape(metered.proxy_url, metered.control_token).text)
    assert of(before, "openai_fake_state_objects") == {("assistants",): 1}

    done = run_cli("reset", "--calls", "--confdir", str(metered.confdir))
    assert done.returncode == 0, done.stderr
    after = samples(scrape(metered.proxy_url, metered.control_token).text)
    assert of(after, "openai_fake_calls_total") == of(before, "openai_fake_calls_total") == {
        ("base-url", "beta.assistants", "200"): 1}
    assert of(after, "openai_fake_state_objects") == {}
    assert of(after, "openai_fake_journal_records") == {("call",): 0, ("stream",): 0, ("notice",): 1, ("webhook",): 0}


def test_streams_by_outcome_and_the_pace_s_injected_faults(tmp_path):
    profile = Profile()
    profile.chat.completions(stream={"cut_after": 2, "faulty": 1})  # the first stream is cut, later ones whole
    profile.completions(stream={"chunk_delay": 0.2})
    with Runner(profile, port=0, confdir=tmp_path, warm=False) as runner:
        base = openai.OpenAI(api_key=API_KEY, base_url=runner.base_url, max_retries=0)
        with pytest.raises(openai.APIError):
            list(base.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        list(base.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        stream = base.completions.create(model="gpt-3.5-turbo-instruct", prompt="say a few words", stream=True)
        next(iter(stream))
        stream.close()  # the client goes away mid-stream
        assert wait_for(lambda: runner.streams_active == 0)
        found = samples(scrape(runner.base_url_origin, runner.control_token).text)
    assert of(found, "openai_fake_streams_total", face="base-url") == {
        ("cut", "chat.completions"): 1, ("completed", "chat.completions"): 1, ("aborted", "completions"): 1}
    assert of(found, "openai_fake_failures_injected_total") == {("stream_cut", "chat.completions"): 1}


def test_metrics_need_the_control_token_as_every_control_endpoint(metered):
    for origin in (metered.proxy_url, metered.base_url_origin):
        for token, status in ((None, 401), ("not-the-token", 401)):
            refused = scrape(origin, token)
            assert refused.status_code == status
            assert refused.json()["error"]["code"] == "invalid_control_token"
            assert "openai_fake_" not in refused.text
        own_header = requests.get(origin + "/_fake/metrics", timeout=10,
                                  headers={"x-openai-fake-token": metered.control_token},
                                  proxies={"http": None, "https": None})
        assert own_header.status_code == 200 and "openai_fake_calls" in own_header.text
        cross_site = scrape(origin, metered.control_token, **{"sec-fetch-site": "cross-site"})
        assert cross_site.status_code == 403  # a web page cannot read them either


def test_openmetrics_when_the_scraper_asks_for_it(metered):
    reply = scrape(metered.base_url_origin, metered.control_token,
                   accept="application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/openmetrics-text")
    assert reply.text.endswith("# EOF\n")


def test_openai_fake_state_shows_the_same_numbers(metered):
    base = openai.OpenAI(api_key=API_KEY, base_url=metered.base_url, max_retries=0)
    base.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError):
        base.embeddings.create(model="text-embedding-3-small", input="hi")
    found = samples(scrape(metered.proxy_url, metered.control_token).text)

    done = run_cli("state", "--confdir", str(metered.confdir))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)["metrics"]
    assert shown["calls_total"] == [
        {"route": "chat.completions", "status": "200", "face": "base-url", "value": 1},
        {"route": "embeddings", "status": "429", "face": "base-url", "value": 1}]
    assert shown["failures_injected_total"] == [{"route": "embeddings", "kind": "http_429", "value": 1}]
    for row in shown["tokens_total"]:
        assert row["value"] == found[("openai_fake_tokens_total", frozenset({("model", row["model"]),
                                                                           ("direction", row["direction"])}))]
    assert {row["direction"] for row in shown["tokens_total"]} == {"input", "output"}
    duration = shown["call_duration_seconds"]
    assert [(row["route"], row["count"]) for row in duration] == [("chat.completions", 1), ("embeddings", 1)]
    for row in duration:
        labels = frozenset({("route", row["route"]), ("face", row["face"])})
        assert row["sum"] == found[("openai_fake_call_duration_seconds_sum", labels)]
    assert shown["journal_records"] == [{"kind": k, "value": n} for k, n in
                                        (("call", 2), ("notice", 1), ("stream", 0), ("webhook", 0))]


# -- without sockets ----------------------------------------------------------------------------------


def call(engine: Engine, model: str) -> None:
    answer(engine, method="POST", target="/v1/embeddings", body=json.dumps({"model": model, "input": "hi"}).encode(),
           headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}, host="api.openai.com")


def test_each_fake_counts_in_a_registry_of_its_own():
    first, second = Engine(Profile()), Engine(Profile())
    counted = Metrics(first, Journal()), Metrics(second, Journal())
    call(first, "text-embedding-3-small")
    tokens = [of(samples(m.text()), "openai_fake_tokens_total") for m in counted]
    assert tokens == [{("input", "text-embedding-3-small"): 1}, {}]
    assert not any(name.startswith("openai_fake") for name in REGISTRY._names_to_collectors)  # never the global one


def test_the_models_a_client_names_are_bounded(monkeypatch):
    monkeypatch.setattr(metrics_module, "MAX_MODELS", 2)
    engine = Engine(Profile())
    counted = Metrics(engine, Journal())
    for model in ("m-1", "m-2", "m-3", "m-4", "m-1"):
        call(engine, model)
    assert of(samples(counted.text()), "openai_fake_tokens_total") == {
        ("input", "m-1"): 2, ("input", "m-2"): 1, ("input", "(other)"): 2}
