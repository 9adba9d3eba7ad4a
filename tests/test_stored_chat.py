"""Stored chat completions (`store=true`) through the real SDK and the real proxy."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionDeleted, ChatCompletionStoreMessage

from proxy_addon import Profile

MESSAGES = [
    {"role": "developer", "content": "You are terse."},
    {"role": "user", "content": "Hello there"},
]


def create(client, *, store=True, model="gpt-4o-mini", content="Hello there", **kw) -> ChatCompletion:
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], store=store, **kw)


def test_store_retrieve_update_messages_delete(client, use_profile):
    use_profile(Profile())
    made = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, store=True, metadata={"topic": "greeting"})
    assert made.metadata == {"topic": "greeting"}

    got = client.chat.completions.retrieve(made.id)
    assert isinstance(got, ChatCompletion)
    assert got.id == made.id
    assert got.choices[0].message.content == made.choices[0].message.content
    assert got.metadata == {"topic": "greeting"}

    listed = client.chat.completions.list()
    assert [c.id for c in listed.data] == [made.id]
    assert listed.has_more is False

    updated = client.chat.completions.update(made.id, metadata={"topic": "farewell", "lang": "en"})
    assert updated.metadata == {"topic": "farewell", "lang": "en"}
    assert client.chat.completions.retrieve(made.id).metadata == {"topic": "farewell", "lang": "en"}

    messages = client.chat.completions.messages.list(made.id)
    assert all(isinstance(m, ChatCompletionStoreMessage) for m in messages.data)
    assert [(m.role, m.content) for m in messages.data] == [("developer", "You are terse."), ("user", "Hello there")]
    assert [m.id for m in messages.data] == [f"{made.id}-0", f"{made.id}-1"]
    assert messages.data[1].content_parts is None
    desc = client.chat.completions.messages.list(made.id, order="desc")
    assert [m.id for m in desc.data] == [f"{made.id}-1", f"{made.id}-0"]

    deleted = client.chat.completions.delete(made.id)
    assert isinstance(deleted, ChatCompletionDeleted)
    assert (deleted.id, deleted.object, deleted.deleted) == (made.id, "chat.completion.deleted", True)

    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.retrieve(made.id)
    assert e.value.body["param"] == "completion_id"
    assert made.id in e.value.body["message"]
    for call in (lambda: client.chat.completions.delete(made.id),
                 lambda: client.chat.completions.update(made.id, metadata={"a": "b"}),
                 lambda: client.chat.completions.messages.list(made.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert client.chat.completions.list().data == []


def test_content_parts_are_kept(client, use_profile):
    use_profile(Profile())
    parts = [{"type": "text", "text": "What is"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
             {"type": "text", "text": "this?"}]
    made = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": parts}], store=True)
    [message] = client.chat.completions.messages.list(made.id).data
    assert message.content == "What is this?"
    assert [p.type for p in message.content_parts] == ["text", "image_url", "text"]
    assert message.content_parts[1].image_url.url == "https://example.com/a.png"


def test_unstored_completions_are_not_listed(client, use_profile):
    use_profile(Profile())
    plain = create(client, store=False)
    explicit_false = create(client, store=False, content="another")
    default = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    stored = create(client)
    assert [c.id for c in client.chat.completions.list().data] == [stored.id]
    for c in (plain, explicit_false, default):
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.retrieve(c.id)
    # An unstored completion keeps its deterministic id.
    assert create(client, store=False).id == plain.id


def test_identical_requests_are_stored_twice(client, use_profile):
    use_profile(Profile())
    first, second = create(client), create(client)
    assert first.id != second.id
    assert [c.id for c in client.chat.completions.list().data] == [first.id, second.id]
    client.chat.completions.delete(first.id)
    assert client.chat.completions.retrieve(second.id).id == second.id
    assert len(client.chat.completions.messages.list(second.id).data) == 1


def test_list_filters_by_model_and_metadata(client, use_profile):
    use_profile(Profile())
    a = create(client, model="gpt-4o", metadata={"env": "prod", "team": "a"})
    b = create(client, model="gpt-4o-mini", metadata={"env": "prod", "team": "b"})
    c = create(client, model="gpt-4o", metadata={"env": "dev"})
    d = create(client, model="gpt-4o")

    def ids(**kw):
        return [x.id for x in client.chat.completions.list(**kw)]

    assert ids() == [a.id, b.id, c.id, d.id]
    assert ids(order="desc") == [d.id, c.id, b.id, a.id]
    assert ids(model="gpt-4o") == [a.id, c.id, d.id]
    assert ids(model="gpt-4o-mini") == [b.id]
    assert ids(model="gpt-nothing") == []
    assert ids(metadata={"env": "prod"}) == [a.id, b.id]
    assert ids(metadata={"env": "prod", "team": "b"}) == [b.id]
    assert ids(metadata={"env": "prod"}, model="gpt-4o") == [a.id]
    assert ids(metadata={"env": "staging"}) == []


def test_pagination_across_pages(client, use_profile):
    use_profile(Profile())
    made = [create(client, content=f"question {i}").id for i in range(25)]

    first = client.chat.completions.list(limit=10)
    assert [c.id for c in first.data] == made[:10]
    assert first.has_more is True
    assert [c.id for c in client.chat.completions.list(limit=10)] == made  # auto-pagination: 3 pages
    assert [c.id for c in client.chat.completions.list(limit=10, order="desc")] == made[::-1]
    assert [c.id for c in client.chat.completions.list(after=made[19])] == made[20:]
    assert len(client.chat.completions.list().data) == 20  # the real API's default limit


def test_messages_pagination(client, use_profile):
    use_profile(Profile())
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(25)]
    made = client.chat.completions.create(model="gpt-4o", messages=messages, store=True)
    page = client.chat.completions.messages.list(made.id, limit=10)
    assert len(page.data) == 10 and page.has_more
    everything = list(client.chat.completions.messages.list(made.id, limit=10))
    assert [m.content for m in everything] == [f"turn {i}" for i in range(25)]
    assert [m.role for m in everything[:2]] == ["user", "assistant"]


def test_bad_metadata_and_update_body(client, use_profile):
    use_profile(Profile())
    with pytest.raises(openai.BadRequestError) as e:
        create(client, metadata={"n": 1})
    assert e.value.body["code"] == "invalid_type"
    with pytest.raises(openai.BadRequestError) as e:
        create(client, metadata={f"k{i}": "v" for i in range(17)})
    assert e.value.body["param"] == "metadata"
    assert client.chat.completions.list().data == []

    made = create(client, metadata={"a": "1"})
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.update(made.id, metadata="nope")
    assert e.value.body["param"] == "metadata"
    with pytest.raises(openai.BadRequestError) as e:
        client.post(f"/chat/completions/{made.id}", body={}, cast_to=ChatCompletion)
    assert e.value.body["code"] == "missing_required_parameter"
    cleared = client.chat.completions.update(made.id, metadata=None)
    assert cleared.metadata == {}
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.list(limit=0)


def test_handler_answer_is_stored(client, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "stored answer"}}])
    use_profile(profile)
    made = create(client)
    assert client.chat.completions.retrieve(made.id).choices[0].message.content == "stored answer"


def test_base_url_face(base_client, use_profile):
    use_profile(Profile())
    made = create(base_client, metadata={"face": "base"})
    assert [c.id for c in base_client.chat.completions.list(metadata={"face": "base"})] == [made.id]
    assert base_client.chat.completions.delete(made.id).deleted is True
