"""The real openai SDK (httpx2) through the real running proxy, and through the base-URL face."""

from __future__ import annotations

import asyncio
import time

import openai
import pydantic
import pytest
from openai import pydantic_function_tool

from proxy_addon import OpenAIError, Profile

from conftest import API_KEY

MESSAGES = [{"role": "user", "content": "Hello!"}]


def test_chat_with_choices_through_the_proxy(client, use_profile, fake):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "Hello, how can I help?"}}, {"message": {"content": "Hi!"}}])
    use_profile(profile)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)
    assert [c.message.content for c in completion.choices] == ["Hello, how can I help?", "Hi!"]
    assert completion.model == "gpt-4o-mini" and completion.usage.total_tokens > 0
    assert completion._request_id.startswith("req_")
    assert fake.engine.state.call_count("chat.completions") == 1
    assert fake.journal.entries()[-1].face == "proxy"


def test_default_profile_answers_every_endpoint(client, use_profile):
    use_profile("default")
    assert "Hello" in client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi").choices[0].text
    assert client.moderations.create(input="hello").results[0].flagged is False
    assert "gpt-4o" in [m.id for m in client.models.list()]
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"


class Person(pydantic.BaseModel):
    name: str
    age: int
    hobbies: list[str]


def test_parse_with_a_pydantic_model(client, use_profile):
    use_profile(Profile())  # the default answer follows the schema the SDK sends
    parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Person)
    assert isinstance(parsed.choices[0].message.parsed, Person)
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": '{"name": "Ada", "age": 36, "hobbies": ["maths"]}'}}])
    use_profile(profile)
    parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Person)
    assert parsed.choices[0].message.parsed == Person(name="Ada", age=36, hobbies=["maths"])


class GetWeather(pydantic.BaseModel):
    city: str


def test_tool_calls_from_the_profile_parse_as_the_sdk_expects(client, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"tool_calls": [{"function": {"name": "GetWeather", "arguments": {"city": "Oslo"}}}]}}])
    use_profile(profile)
    parsed = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, tools=[pydantic_function_tool(GetWeather)])
    call = parsed.choices[0].message.tool_calls[0]
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert call.function.parsed_arguments == GetWeather(city="Oslo")


def test_embeddings_float_and_the_sdks_base64_default(client, use_profile):
    profile = Profile()
    profile.embeddings(embedding=[0.5, -0.25, 0.125])
    use_profile(profile)
    as_floats = client.embeddings.create(model="text-embedding-ada-002", input="food", encoding_format="float")
    assert as_floats.data[0].embedding == [0.5, -0.25, 0.125]
    as_default = client.embeddings.create(model="text-embedding-ada-002", input=["a", "b"])  # SDK asks for base64
    assert [d.embedding for d in as_default.data] == [[0.5, -0.25, 0.125]] * 2
    use_profile(Profile())
    sized = client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=64)
    assert len(sized.data[0].embedding) == 64


def test_errors_become_the_sdks_exceptions(client, use_profile):
    use_profile(Profile())
    with pytest.raises(openai.NotFoundError) as nf:
        client.models.retrieve("no-such-model")
    assert nf.value.code == "model_not_found" and nf.value.request_id.startswith("req_")
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert bad.value.param == "messages"
    with pytest.raises(openai.NotFoundError, match=r"Invalid URL \(GET /v1/nope\)"):
        client.get("/nope", cast_to=object)


def test_failures_then_success_with_the_sdks_default_retries(proxy_env, use_profile, fake):
    profile = Profile()
    profile.chat.completions(failures=2, failure_status=429, retry_after=0.05)
    use_profile(profile)
    with openai.OpenAI(api_key=API_KEY, max_retries=2) as client:
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content
    assert fake.engine.state.call_count("chat.completions") == 3
    assert [e.status for e in fake.journal.entries()] == [429, 429, 200]


def test_failures_beyond_the_retries_reach_the_app(proxy_env, use_profile):
    profile = Profile()
    profile.embeddings(failures=5, failure_status=503, retry_after=0.05)
    use_profile(profile)
    with openai.OpenAI(api_key=API_KEY, max_retries=1) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            client.embeddings.create(model="text-embedding-3-small", input="x")
    assert caught.value.status_code == 503


def test_handler_errors_and_crashes_keep_the_proxy_serving(client, use_profile):
    profile = Profile()
    profile.name = "crashy"

    @profile.chat.completions
    def answer(request, state):
        if "limit" in request.json["messages"][-1]["content"]:
            raise OpenAIError(429, "Slow down", code="rate_limit_exceeded")
        raise RuntimeError("bug in my handler")

    use_profile(profile)
    with pytest.raises(openai.RateLimitError, match="Slow down"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "limit"}])
    with pytest.raises(openai.InternalServerError) as crash:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "crashy" in str(crash.value) and "RuntimeError: bug in my handler" in str(crash.value)
    assert client.models.list().data  # still serving


async def test_async_client_and_latency_that_never_blocks(aclient, use_profile):
    profile = Profile()
    profile.chat.completions(latency=1.0)
    use_profile(profile)
    started = time.monotonic()
    results = await asyncio.gather(*[
        aclient.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"call {i}"}])
        for i in range(100)
    ])
    elapsed = time.monotonic() - started
    assert len({r.choices[0].message.content for r in results}) == 100
    # 100 calls of 1 s each, one after another, would take 100 s; concurrently about 1 s.
    assert 1.0 <= elapsed < 10


def test_base_url_face_serves_the_same_fake(base_client, use_profile, fake):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "via base URL"}}])
    use_profile(profile)
    assert base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content == "via base URL"
    assert len(base_client.embeddings.create(model="text-embedding-3-small", input="x").data[0].embedding) == 1536
    assert fake.journal.entries()[-1].face == "base-url"


async def test_async_base_url_face(fake, use_profile):
    use_profile(Profile())
    async with openai.AsyncOpenAI(api_key=API_KEY, base_url=fake.base_url, max_retries=0) as c:
        assert (await c.models.retrieve("gpt-4o")).id == "gpt-4o"


def test_regional_hosts_are_faked_too(proxy_env, use_profile, fake):
    use_profile(Profile())
    with openai.OpenAI(api_key=API_KEY, base_url="https://eu.api.openai.com/v1", max_retries=0) as c:
        assert c.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content
    assert fake.journal.entries()[-1].host == "eu.api.openai.com"


def test_missing_key_is_401_and_the_profile_can_allow_it(proxy_env, use_profile, fake):
    import requests

    use_profile(Profile())
    url = "https://api.openai.com/v1/models"
    denied = requests.get(url, proxies={"https": fake.proxy_url}, verify=str(fake.bundle))
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "invalid_request_error"
    use_profile(Profile(require_api_key=False))
    assert requests.get(url, proxies={"https": fake.proxy_url}, verify=str(fake.bundle)).status_code == 200


@pytest.mark.skipif(tuple(map(int, openai.__version__.split(".")[:2])) < (3, 60), reason="fields openai 3.60 added")
def test_fields_a_new_sdk_release_adds_are_taken_and_kept(client, proxy_env, use_profile):
    """A release's new request fields need no change here: bodies are checked against the SDK's own params
    types, and the resources keep what the types have. openai 3.60 added these (the route table stayed the same)."""
    use_profile(Profile())
    compacted = client.responses.compact(model="gpt-4o", input="Hello!", safety_identifier="user-1234")
    assert compacted.safety_identifier == "user-1234"
    agent = client.beta.agents.create(model="gpt-4o", name="helper")
    session = client.beta.agents.sessions.create(agent_id=agent.id, environment={"type": "none"},
                                                spend_control={"limit": 100})
    assert session.spend_control.limit == 100
    session = client.beta.agents.sessions.update(session.id, spend_control={"limit": 5}, vault_ids=["vault_1"])
    assert session.spend_control.limit == 5 and session.vault_ids == ["vault_1"]
    assert client.beta.agents.sessions.retrieve(session.id).spend_control.limit == 5
    channel = {"type": "email", "recipients": ["ops@example.com"], "subject_prefix": "[spend]"}
    with openai.OpenAI(admin_api_key=API_KEY, max_retries=0) as admin_client:  # the admin endpoints' own key
        limits = admin_client.admin.organization.spend_limit
        limit = limits.update(currency="USD", interval="month", threshold_amount=42, notification_channel=channel)
        assert limit.notification_channel.recipients == ["ops@example.com"]
        with pytest.raises(openai.BadRequestError) as bad:  # what the type refuses is still the API's 400
            limits.update(currency="USD", interval="month", threshold_amount=42, notification_channel={"type": "sms"})
    assert bad.value.body["param"] == "notification_channel.type" and bad.value.body["code"] == "invalid_value"
