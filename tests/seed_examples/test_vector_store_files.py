import openai

import openai_fake.compat as openai_responses
from openai_fake.compat import OpenAIMock


@openai_responses.mock()
def test_create_vector_store_file(openai_mock: OpenAIMock):
    client = openai.Client(api_key="sk-fake123")

    vector_store = client.vector_stores.create(name="Support FAQ")
    file = client.files.create(
        file=open("tests/seed_examples/example.json", "rb"),
        purpose="assistants",
    )

    vector_store_file = client.vector_stores.files.create(
        vector_store_id=vector_store.id,
        file_id=file.id,
    )

    assert vector_store_file.vector_store_id == vector_store.id
    assert vector_store_file.id == file.id

    assert openai_mock.files.create.route.call_count == 1
    assert openai_mock.vector_stores.create.route.call_count == 1
    assert openai_mock.vector_stores.files.create.route.call_count == 1


@openai_responses.mock()
def test_list_vector_store_files(openai_mock: OpenAIMock):
    client = openai.Client(api_key="sk-fake123")

    vector_store = client.vector_stores.create(name="Support FAQ")

    for _ in range(10):
        file = client.files.create(
            file=open("tests/seed_examples/example.json", "rb"),
            purpose="assistants",
        )

        client.vector_stores.files.create(
            vector_store_id=vector_store.id,
            file_id=file.id,
        )

    vector_store_files = client.vector_stores.files.list(vector_store.id)

    assert len(vector_store_files.data) == 10

    assert openai_mock.files.create.route.call_count == 10
    assert openai_mock.vector_stores.create.route.call_count == 1
    assert openai_mock.vector_stores.files.create.route.call_count == 10
    assert openai_mock.vector_stores.files.list.route.call_count == 1


@openai_responses.mock()
def test_retrieve_vector_store_file(openai_mock: OpenAIMock):
    client = openai.Client(api_key="sk-fake123")

    vector_store = client.vector_stores.create(name="Support FAQ")
    file = client.files.create(
        file=open("tests/seed_examples/example.json", "rb"),
        purpose="assistants",
    )

    vector_store_file = client.vector_stores.files.create(
        vector_store_id=vector_store.id,
        file_id=file.id,
    )

    found = client.vector_stores.files.retrieve(
        vector_store_file.id,
        vector_store_id=vector_store.id,
    )

    assert found.id == vector_store_file.id

    assert openai_mock.files.create.route.call_count == 1
    assert openai_mock.vector_stores.create.route.call_count == 1
    assert openai_mock.vector_stores.files.create.route.call_count == 1
    assert openai_mock.vector_stores.files.retrieve.route.call_count == 1


@openai_responses.mock()
def test_delete_vector_store_file(openai_mock: OpenAIMock):
    client = openai.Client(api_key="sk-fake123")

    vector_store = client.vector_stores.create(name="Support FAQ")
    file = client.files.create(
        file=open("tests/seed_examples/example.json", "rb"),
        purpose="assistants",
    )

    vector_store_file = client.vector_stores.files.create(
        vector_store_id=vector_store.id,
        file_id=file.id,
    )

    deleted = client.vector_stores.files.delete(
        vector_store_file.id,
        vector_store_id=vector_store.id,
    )

    assert deleted.deleted

    assert openai_mock.files.create.route.call_count == 1
    assert openai_mock.vector_stores.create.route.call_count == 1
    assert openai_mock.vector_stores.files.create.route.call_count == 1
    assert openai_mock.vector_stores.files.delete.route.call_count == 1
