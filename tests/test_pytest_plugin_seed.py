"""Every example of the openai-responses README, restated with the `openai_fake` fixture,
as the README's pytest section shows them (only file paths and the quick start's
latency differ). The seed decorated a test with `@openai_responses.mock.X(...)`;
here the test sets the same knobs on `openai_fake.X(...)`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from openai import AsyncOpenAI, NotFoundError, OpenAI
from openai.types.beta.assistant import Assistant

EXAMPLE = Path(__file__).parent / "data" / "example.json"


# Quick start
def test_create_completion_with_multiple_choices(openai_fake):
    openai_fake.chat.completions(
        choices=[
            {"message": {"content": "Hello, how can I help?"}},
            {"message": {"content": "Hi! I'm here to help!"}},
            {"message": {"content": "How can I help?"}},
        ],
        latency=0.5,  # the README says 5
    )
    client = OpenAI(api_key="fakeKey")
    completion = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"},
        ],
        n=3,
    )
    assert len(completion.choices) == 3
    assert openai_fake.calls.last.duration_ms >= 450


# Chat Completions
def test_create_completion(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "Hello, how can I help?"}}])
    client = OpenAI(api_key="fakeKey")
    completion = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"},
        ],
    )
    assert len(completion.choices) == 1
    assert completion.choices[0].message.content == "Hello, how can I help?"


# Embeddings
EMBEDDING = [random.uniform(0.01, -0.01) for _ in range(100)]


def test_create_embeddings(openai_fake):
    openai_fake.embeddings(embedding=EMBEDDING)
    client = OpenAI(api_key="fakeKey")
    embeddings = client.embeddings.create(
        model="text-embedding-ada-002",
        input="The food was delicious and the waiter...",
        encoding_format="float",
    )
    assert len(embeddings.data) == 1
    assert embeddings.data[0].embedding == EMBEDDING
    assert embeddings.model == "text-embedding-ada-002"


# Files
def test_upload_file(openai_fake):
    client = OpenAI(api_key="fakeKey")
    file = client.files.create(file=open(EXAMPLE, "rb"), purpose="assistants")
    assert file.filename == "example.json"
    assert file.purpose == "assistants"


# Assistants
def test_create_assistant(openai_fake):
    client = OpenAI(api_key="fakeKey")
    my_assistant = client.beta.assistants.create(
        instructions="You are a personal math tutor. When asked a question, write and run Python code to answer the question.",
        name="Math Tutor",
        tools=[{"type": "code_interpreter"}],
        model="gpt-4",
    )
    assert my_assistant.name == "Math Tutor"
    assert my_assistant.model == "gpt-4"


# Threads
def test_create_empty_thread(openai_fake):
    client = OpenAI(api_key="fakeKey")
    empty_thread = client.beta.threads.create()
    assert empty_thread.id


# Messages
def test_create_thread_message(openai_fake):
    client = OpenAI(api_key="fakeKey")
    thread_message = client.beta.threads.messages.create(
        "thread_abc123",
        role="user",
        content="How does AI work? Explain it in simple terms.",
    )
    assert thread_message.id


# Runs
def test_polled_get_status(openai_fake):
    openai_fake.beta.threads.runs(
        sequence={
            "create": [{"status": "in_progress"}],
            "retrieve": [
                {"status": "in_progress"},
                {"status": "in_progress"},
                {"status": "in_progress"},
                {"status": "in_progress"},
                {"status": "completed"},
            ],
        }
    )
    client = OpenAI(api_key="fakeKey")
    run = client.beta.threads.runs.create(thread_id="thread_abc123", assistant_id="asst_abc123")
    while run.status != "completed":
        assert run.status == "in_progress"
        run = client.beta.threads.runs.retrieve(run.id, thread_id="thread_abc123")
    assert run.status == "completed"
    assert openai_fake.beta.threads.runs.retrieve.route.calls.call_count == 5


# Mocker classes: example access
def test_upload_files_with_retries(openai_fake):
    openai_fake.files(failures=2, retry_after=0.05)  # without retry_after, the SDK backs off ~0.5 s, then ~1 s
    client = OpenAI(api_key="fakeKey", max_retries=2)
    file = client.files.create(file=open(EXAMPLE, "rb"), purpose="assistants")
    assert file.filename == "example.json"
    assert file.purpose == "assistants"
    assert openai_fake.files.create.route.calls.call_count == 3


# State
def test_retrieve_assistant(openai_fake):
    asst = Assistant(id="asst_abc123", object="assistant", created_at=1700000000, model="gpt-4", name="Math Tutor", tools=[])
    openai_fake.state.beta.assistants.put(asst)  # or openai_fake.state.put("assistants", {"id": ..., ...})
    client = OpenAI(api_key="fakeKey")
    found = client.beta.assistants.retrieve("asst_abc123")
    assert found.name == "Math Tutor"
    assert found.created_at == 1700000000


# Async
@pytest.mark.asyncio
async def test_async_upload_file(openai_fake):
    async with AsyncOpenAI(api_key="fakeKey") as client:  # closed in this test's loop, not garbage-collected elsewhere
        file = await client.files.create(file=open(EXAMPLE, "rb"), purpose="assistants")
    assert file.filename == "example.json"
    assert file.purpose == "assistants"


# Chaining
def test_list_runs(openai_fake):
    client = OpenAI(api_key="fakeKey")
    thread = client.beta.threads.create()
    for _ in range(20):
        client.beta.threads.runs.create(thread.id, assistant_id="asst_abc123")
    runs = client.beta.threads.runs.list(thread.id)
    assert len(runs.data) == 20
    assert openai_fake.beta.threads.create.route.calls.call_count == 1
    assert openai_fake.beta.threads.runs.create.route.calls.call_count == 20
    assert openai_fake.beta.threads.runs.list.route.calls.call_count == 1


# Route access
def test_retrieve_assistant_route_access(openai_fake):
    client = OpenAI(api_key="fakeKey")
    with pytest.raises(NotFoundError):
        client.beta.assistants.retrieve("invalid_id")
    asst = client.beta.assistants.create(model="gpt-4")
    found = client.beta.assistants.retrieve(asst.id)
    assert found.id == asst.id
    assert openai_fake.beta.assistants.retrieve.route.calls.call_count == 2  # should have been called twice
    assert openai_fake.beta.assistants.retrieve.route.calls.last.status == 200
