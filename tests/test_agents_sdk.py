"""The OpenAI Agents SDK (openai-agents), unmodified, against the fake: a typed `output_type` answered with
the default structured output, a function tool the model is made to call, and the trace upload, through
the proxy (the SDK's own client from the environment) and through the base-URL face."""

from __future__ import annotations

import openai
import pydantic
import pytest

from proxy_addon import Profile

agents = pytest.importorskip("agents")


class Weather(pydantic.BaseModel):
    city: str
    celsius: int
    summary: str


@pytest.fixture
def agent_client(request, proxy_env, fake, use_profile, monkeypatch):
    """The client the Agents SDK uses by default (`set_default_openai_client`): through the proxy, as
    `openai-fake exec` sets the environment, or to the base-URL face."""
    use_profile(Profile())
    base_url = request.param == "base-url"
    if base_url:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
    # The trace exporter posts to https://api.openai.com whatever the base URL: only the proxy may take it.
    # Its HTTP client reads the proxy from the environment when it is made: made here, under the proxy's.
    agents.set_tracing_disabled(base_url)
    if not base_url:
        from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor
        agents.set_trace_processors([BatchTraceProcessor(BackendSpanExporter(api_key="sk-test-agents"))])
    client = openai.AsyncOpenAI(api_key="sk-test-agents", max_retries=0, base_url=fake.base_url if base_url else None)
    agents.set_default_openai_client(client, use_for_tracing=True)
    yield client
    agents.tracing.get_trace_provider().force_flush()  # while the environment still points at the proxy
    agents.set_tracing_disabled(True)


@pytest.mark.parametrize("agent_client", ["proxy", "base-url"], indirect=True)
def test_an_agent_with_an_output_type_and_a_forced_tool(agent_client, fake):
    seen: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        seen.append(city)
        return f"Sunny in {city}, 21 degrees."

    agent = agents.Agent(name="forecaster", instructions="Report the weather.", tools=[get_weather],
                         output_type=Weather, model="gpt-4o",
                         model_settings=agents.ModelSettings(tool_choice="get_weather"),
                         reset_tool_choice=True)  # the SDK's own guard against a forced tool looping
    result = agents.Runner.run_sync(agent, "Weather in Oslo?")
    assert seen and isinstance(seen[0], str)  # the model called the tool, with arguments its schema accepts
    assert isinstance(result.final_output, Weather)
    paths = [e.path for e in fake.journal.entries()]
    assert paths.count("/v1/responses") >= 2  # the call, then the answer after the tool's output


@pytest.mark.parametrize("agent_client", ["proxy", "base-url"], indirect=True)
def test_an_agent_on_chat_completions(agent_client):
    model = agents.OpenAIChatCompletionsModel(model="gpt-4o", openai_client=agent_client)
    agent = agents.Agent(name="plain", instructions="Answer.", output_type=Weather, model=model)
    result = agents.Runner.run_sync(agent, "Weather in Bergen?")
    assert isinstance(result.final_output, Weather)


@pytest.mark.parametrize("agent_client", ["proxy"], indirect=True)
def test_the_trace_upload_is_answered_through_the_proxy(agent_client, fake):
    agent = agents.Agent(name="traced", instructions="Answer.", model="gpt-4o")
    agents.Runner.run_sync(agent, "Hello?")
    agents.tracing.get_trace_provider().force_flush()
    entries = [e for e in fake.journal.entries() if e.path == "/v1/traces/ingest"]
    assert entries and all(e.status == 204 for e in entries)
