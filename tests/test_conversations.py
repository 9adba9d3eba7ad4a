"""Conversations and their items through the real openai SDK and the real proxy, and their use in responses."""

from __future__ import annotations

import openai
import pydantic
import pytest
from openai.types.conversations import Conversation, ConversationDeletedResource, ConversationItem

from proxy_addon import Profile

ITEMS = pydantic.TypeAdapter(ConversationItem)


def _texts(items) -> list[str]:
    return [item.content[0].text for item in items]


def test_conversation_crud(client, use_profile):
    use_profile(Profile())
    made = client.conversations.create(metadata={"topic": "whales"},
                                       items=[{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}])
    assert isinstance(made, Conversation) and made.id.startswith("conv_") and made.metadata == {"topic": "whales"}
    assert client.conversations.retrieve(made.id).model_dump() == made.model_dump()
    updated = client.conversations.update(made.id, metadata={"topic": "dolphins"})
    assert updated.metadata == {"topic": "dolphins"} == client.conversations.retrieve(made.id).metadata
    deleted = client.conversations.delete(made.id)
    assert isinstance(deleted, ConversationDeletedResource) and deleted.deleted and deleted.id == made.id
    with pytest.raises(openai.NotFoundError, match=f"Conversation with id '{made.id}' not found."):
        client.conversations.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(made.id)


def test_items_create_list_retrieve_delete(client, use_profile):
    use_profile(Profile())
    conversation = client.conversations.create(items=[{"role": "user", "content": "one"}])
    added = client.conversations.items.create(conversation.id, items=[
        {"type": "message", "role": "assistant", "content": "two"},
        {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
    ])
    assert [i.id for i in added.data] == [added.first_id, added.last_id] and added.has_more is False
    page = client.conversations.items.list(conversation.id)  # newest first, as the real API
    for item in page.data:
        ITEMS.validate_python(item.to_dict())
    assert _texts(page.data) == ["three", "two", "one"]
    assert page.data[1].role == "assistant" and page.data[1].content[0].type == "output_text"
    first_two = client.conversations.items.list(conversation.id, order="asc", limit=2)
    assert _texts(first_two.data) == ["one", "two"] and first_two.has_more is True
    assert _texts(first_two) == ["one", "two", "three"]  # auto-paging follows `after`
    one = client.conversations.items.retrieve(page.data[2].id, conversation_id=conversation.id)
    assert one.content[0].text == "one" and one.status == "completed"
    after_delete = client.conversations.items.delete(page.data[1].id, conversation_id=conversation.id)
    assert isinstance(after_delete, Conversation) and after_delete.id == conversation.id
    assert _texts(client.conversations.items.list(conversation.id)) == ["three", "one"]
    with pytest.raises(openai.NotFoundError, match=f"Item with id '{page.data[1].id}' not found."):
        client.conversations.items.retrieve(page.data[1].id, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete(page.data[1].id, conversation_id=conversation.id)


def test_bad_requests(client, use_profile):
    use_profile(Profile())
    with pytest.raises(openai.BadRequestError) as too_many:
        client.conversations.create(items=[{"role": "user", "content": str(i)} for i in range(21)])
    assert too_many.value.param == "items"
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as no_metadata:
        client.post(f"/conversations/{conversation.id}", body={}, cast_to=object)
    assert no_metadata.value.code == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as bad_item:
        client.conversations.items.create(conversation.id, items=[{"type": "message", "role": "user"}])
    assert bad_item.value.param == "items[0].content"
    with pytest.raises(openai.BadRequestError) as bad_metadata:
        client.conversations.create(metadata={"k": 1})
    assert bad_metadata.value.code == "invalid_type"
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.create("conv_x", items=[{"role": "user", "content": "x"}])


def test_responses_in_a_conversation(client, use_profile):
    use_profile(Profile())
    conversation = client.conversations.create(items=[{"role": "user", "content": "My name is Ada."}])
    first = client.responses.create(model="gpt-4o", input="What is my name?", conversation=conversation.id)
    assert first.conversation.id == conversation.id
    assert "What is my name?" in first.output_text
    # The earlier items are the context: the second turn sees the conversation, and adds to it.
    second = client.responses.create(model="gpt-4o", conversation={"id": conversation.id},
                                     input=[{"role": "developer", "content": "Answer briefly."}])
    assert "What is my name?" in second.output_text
    assert second.usage.input_tokens > first.usage.input_tokens
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert _texts(items) == ["My name is Ada.", "What is my name?", first.output_text, "Answer briefly.", second.output_text]
    assert items[2].id == first.output[0].id
    # The response's input items are what the model saw.
    assert _texts(client.responses.input_items.list(second.id, order="asc")) == _texts(items[:4])


def test_tool_round_trip_in_a_conversation(client, use_profile):
    profile = Profile()
    profile.responses(tool_calls=[{"name": "lookup", "arguments": {"q": "Oslo"}}])
    use_profile(profile)
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
    conversation = client.conversations.create()
    asked = client.responses.create(model="gpt-4o", input="Look up Oslo", conversation=conversation.id, tools=[tool])
    call = asked.output[0]
    assert call.type == "function_call"
    answered = client.responses.create(model="gpt-4o", conversation=conversation.id, tools=[tool], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "Capital of Norway"}])
    assert answered.output_text == "The tool returned: Capital of Norway"
    kinds = [i.type for i in client.conversations.items.list(conversation.id, order="asc")]
    assert kinds == ["message", "function_call", "function_call_output", "message"]


def test_background_response_adds_its_output_when_done(client, use_profile):
    use_profile(Profile())
    conversation = client.conversations.create()
    made = client.responses.create(model="gpt-4o", input="later", conversation=conversation.id, background=True)
    assert len(client.conversations.items.list(conversation.id).data) == 1  # the input, so far
    while made.status in ("queued", "in_progress"):
        made = client.responses.retrieve(made.id)
    assert _texts(client.conversations.items.list(conversation.id, order="asc")) == ["later", made.output_text]


async def test_async_and_base_url_face(aclient, base_client, use_profile):
    use_profile(Profile())
    conversation = await aclient.conversations.create(metadata={"via": "async"})
    assert base_client.conversations.retrieve(conversation.id).metadata == {"via": "async"}
    base_client.conversations.items.create(conversation.id, items=[{"role": "user", "content": "hi"}])
    items = await aclient.conversations.items.list(conversation.id)
    assert _texts(items.data) == ["hi"]
