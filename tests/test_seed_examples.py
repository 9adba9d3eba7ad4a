"""Every example in the openai-responses README, as the same scenario through the real proxy.

Where the seed decorated a test with `@openai_responses.mock.X(...)`, the test
here sets the same knobs on a Profile; where it read `X_mock.route.calls`, it
reads the fake's per-route call counts.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from openai import AsyncOpenAI, NotFoundError, OpenAI

from proxy_addon import Profile

EXAMPLE = Path(__file__).parent / "data" / "example.json"


def test_create_completion_with_multiple_choices(client, use_profile):
    profile = Profile()
    profile.chat.completions(
        choices=[
            {"message": {"content": "Hello, how can I help?"}},
            {"message": {"content": "Hi! I'm here to help!"}},
            {"message": {"content": "How can I help?"}},
        ],
        latency=0.5,
    )
    use_profile(profile)
    completion = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello!"}],
        n=3,
    )
    assert len(completion.choices) == 3


def test_create_completion(client, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "Hello, how can I help?"}}])
    use_profile(profile)
    completion = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello!"}],
    )
    assert len(completion.choices) == 1
    assert completion.choices[0].message.content == "Hello, how can I help?"


EMBEDDING = [random.uniform(0.01, -0.01) for _ in range(100)]


def test_create_embeddings(client, use_profile):
    profile = Profile()
    profile.embeddings(embedding=EMBEDDING)
    use_profile(profile)
    embeddings = client.embeddings.create(
        model="text-embedding-ada-002", input="The food was delicious and the waiter...", encoding_format="float")
    assert len(embeddings.data) == 1
    assert embeddings.data[0].embedding == EMBEDDING
    assert embeddings.model == "text-embedding-ada-002"


def test_upload_file(client, use_profile):
    use_profile(Profile())
    file = client.files.create(file=open(EXAMPLE, "rb"), purpose="assistants")
    assert file.filename == "example.json"
    assert file.purpose == "assistants"


def test_create_assistant(client, use_profile):
    use_profile(Profile())
    my_assistant = client.beta.assistants.create(
        instructions="You are a personal math tutor. When asked a question, write and run Python code to answer the question.",
        name="Math Tutor",
        tools=[{"type": "code_interpreter"}],
        model="gpt-4",
    )
    assert my_assistant.name == "Math Tutor"
    assert my_assistant.model == "gpt-4"


def test_create_empty_thread(client, use_profile):
    use_profile(Profile())
    empty_thread = client.beta.threads.create()
    assert empty_thread.id


def test_create_thread_message(client, use_profile):
    use_profile(Profile())
    thread_message = client.beta.threads.messages.create(
        "thread_abc123", role="user", content="How does AI work? Explain it in simple terms.")
    assert thread_message.id


def test_polled_get_status(client, use_profile):
    profile = Profile()
    profile.beta.threads.runs(sequence={
        "create": [{"status": "in_progress"}],
        "retrieve": [{"status": "in_progress"}] * 4 + [{"status": "completed"}],
    })
    use_profile(profile)
    run = client.beta.threads.runs.create(thread_id="thread_abc123", assistant_id="asst_abc123")
    polls = 0
    while run.status != "completed":
        assert run.status == "in_progress"
        run = client.beta.threads.runs.retrieve(run.id, thread_id="thread_abc123")
        polls += 1
    assert run.status == "completed"
    assert polls == 5


def test_upload_files_with_retries(proxy_env, use_profile, fake):
    profile = Profile()
    profile.files(failures=2, retry_after=0.05)
    use_profile(profile)
    client = OpenAI(api_key="fakeKey", max_retries=2)
    file = client.files.create(file=open(EXAMPLE, "rb"), purpose="assistants")
    assert file.filename == "example.json"
    assert file.purpose == "assistants"
    assert fake.engine.state.call_count("files.create") == 3


def test_retrieve_assistant_from_state(client, use_profile):
    profile = Profile()
    profile.state.put("assistants", {"id": "asst_abc123", "name": "Known", "model": "gpt-4o"})
    use_profile(profile)
    found = client.beta.assistants.retrieve("asst_abc123")
    assert found.id == "asst_abc123" and found.name == "Known"


async def test_async_upload_file(proxy_env, use_profile):
    use_profile(Profile())
    async with AsyncOpenAI(api_key="fakeKey", max_retries=0) as client:
        file = await client.files.create(file=open(EXAMPLE, "rb"), purpose="assistants")
    assert file.filename == "example.json"
    assert file.purpose == "assistants"


def test_list_runs(client, use_profile, fake):
    use_profile(Profile())
    thread = client.beta.threads.create()
    for _ in range(20):
        client.beta.threads.runs.create(thread.id, assistant_id="asst_abc123")
    runs = client.beta.threads.runs.list(thread.id)
    assert len(runs.data) == 20
    counts = fake.engine.state
    assert counts.call_count("beta.threads.create") == 1
    assert counts.call_count("beta.threads.runs.create") == 20
    assert counts.call_count("beta.threads.runs.list") == 1


def test_retrieve_assistant_route_access(client, use_profile, fake):
    use_profile(Profile())
    with pytest.raises(NotFoundError):
        client.beta.assistants.retrieve("invalid_id")
    asst = client.beta.assistants.create(model="gpt-4")
    found = client.beta.assistants.retrieve(asst.id)
    assert found.id == asst.id
    assert fake.engine.state.call_count("beta.assistants.retrieve") == 2
