"""Assistants, threads, messages, runs and run steps, beyond the seed: the real SDK through the proxy."""

from __future__ import annotations

import json
import time

import openai
import pytest

from proxy_addon import OpenAIError, Profile


@pytest.fixture
def fresh(client, use_profile):
    use_profile(Profile())
    return client


def test_assistant_crud_and_pagination(fresh):
    created = [fresh.beta.assistants.create(model="gpt-4o", name=f"a{i}") for i in range(5)]
    page = fresh.beta.assistants.list(limit=2)
    assert [a.name for a in page.data] == ["a4", "a3"] and page.has_more
    assert [a.name for a in fresh.beta.assistants.list(limit=2)] == ["a4", "a3", "a2", "a1", "a0"]  # auto-paging
    assert [a.name for a in fresh.beta.assistants.list(order="asc", after=created[1].id).data] == ["a2", "a3", "a4"]
    assert [a.name for a in fresh.beta.assistants.list(before=created[1].id).data] == ["a4", "a3", "a2"]
    updated = fresh.beta.assistants.update(created[0].id, name="renamed", metadata={"k": "v"})
    assert (updated.name, updated.metadata, updated.model) == ("renamed", {"k": "v"}, "gpt-4o")
    assert fresh.beta.assistants.delete(created[0].id).deleted
    with pytest.raises(openai.NotFoundError, match=f"No assistant found with id '{created[0].id}'"):
        fresh.beta.assistants.retrieve(created[0].id)


def test_thread_with_messages_attachments_and_delete(fresh):
    file = fresh.files.create(file=("notes.txt", b"hello"), purpose="assistants")
    thread = fresh.beta.threads.create(messages=[
        {"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "second"}],
         "attachments": [{"file_id": file.id, "tools": [{"type": "file_search"}]}]},
    ], metadata={"user": "u1"})
    assert fresh.beta.threads.retrieve(thread.id).metadata == {"user": "u1"}
    listed = fresh.beta.threads.messages.list(thread.id, order="asc")
    assert [m.content[0].text.value for m in listed.data] == ["first", "second"]
    assert listed.data[1].attachments[0].file_id == file.id
    msg = listed.data[0]
    assert fresh.beta.threads.messages.update(msg.id, thread_id=thread.id, metadata={"x": "1"}).metadata == {"x": "1"}
    assert fresh.beta.threads.messages.delete(msg.id, thread_id=thread.id).deleted
    assert [m.content[0].text.value for m in fresh.beta.threads.messages.list(thread.id)] == ["second"]
    assert fresh.beta.threads.update(thread.id, metadata={"user": "u2"}).metadata == {"user": "u2"}
    assert fresh.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        fresh.beta.threads.retrieve(thread.id)


def test_create_and_poll_completes_and_writes_the_answer(fresh):
    assistant = fresh.beta.assistants.create(model="gpt-4o-mini", instructions="Be brief.")
    thread = fresh.beta.threads.create(messages=[{"role": "user", "content": "What is the capital of Norway?"}])
    run = fresh.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed" and run.model == "gpt-4o-mini" and run.instructions == "Be brief."
    assert run.usage.total_tokens > 0
    answer = fresh.beta.threads.messages.list(thread.id).data[0]
    assert answer.role == "assistant" and answer.run_id == run.id and "capital of Norway" in answer.content[0].text.value
    steps = fresh.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
    assert steps[0].step_details.message_creation.message_id == answer.id
    assert fresh.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=thread.id, run_id=run.id).id == steps[0].id


def test_status_moves_over_polls(fresh):
    thread = fresh.beta.threads.create()
    run = fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x")
    seen = [run.status] + [fresh.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status for _ in range(3)]
    assert seen == ["queued", "in_progress", "completed", "completed"]


def test_requires_action_then_tool_outputs_reach_the_handler(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}])
    seen = []

    @profile.beta.threads.runs
    def answer(request, state):
        outputs = (request.json or {}).get("tool_outputs")
        seen.append(outputs)
        return f"It is {outputs[0]['output']} in Oslo." if outputs else None

    use_profile(profile)
    thread = fresh.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
    run = fresh.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="asst_x")
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Oslo"}'
    run = fresh.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])
    assert run.status == "completed"
    assert seen == [None, [{"tool_call_id": call.id, "output": "sunny"}]]
    assert fresh.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "It is sunny in Oslo."
    steps = fresh.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [("tool_calls", "completed"), ("message_creation", "completed")]
    assert steps[0].step_details.tool_calls[0].function.output == "sunny"


def test_wrong_state_transitions_are_400s(fresh, use_profile):
    thread = fresh.beta.threads.create()
    run = fresh.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="asst_x")
    with pytest.raises(openai.BadRequestError, match='Runs in status "completed" do not accept tool outputs'):
        fresh.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "c", "output": "x"}])
    with pytest.raises(openai.BadRequestError, match="Cannot cancel run with status 'completed'"):
        fresh.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    profile = Profile()
    profile.beta.threads.runs(tool_calls=[{"function": {"name": "f"}}])
    use_profile(profile)
    thread = fresh.beta.threads.create()
    run = fresh.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="asst_x")
    with pytest.raises(openai.BadRequestError, match="Missing"):
        fresh.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=[])


def test_cancel_moves_to_cancelling_then_cancelled(fresh):
    thread = fresh.beta.threads.create()
    run = fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x")
    assert fresh.beta.threads.runs.cancel(run.id, thread_id=thread.id).status == "cancelling"
    final = fresh.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert final.status == "cancelled" and final.cancelled_at
    assert fresh.beta.threads.messages.list(thread.id).data == []  # no answer was written


def test_a_handler_error_fails_the_run(fresh, use_profile):
    profile = Profile()

    @profile.beta.threads.runs
    def overloaded(request, state):
        raise OpenAIError(429, "You exceeded your current quota.")

    use_profile(profile)
    thread = fresh.beta.threads.create()
    run = fresh.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="asst_x")
    assert run.status == "failed"
    assert (run.last_error.code, run.last_error.message) == ("rate_limit_exceeded", "You exceeded your current quota.")


def test_validation_knobs(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(validate_thread_exists=True, validate_assistant_exists=True)
    profile.beta.threads.messages(validate_thread_exists=True)
    use_profile(profile)
    with pytest.raises(openai.NotFoundError, match="No thread found with id 'thread_nope'"):
        fresh.beta.threads.runs.create("thread_nope", assistant_id="asst_x")
    with pytest.raises(openai.NotFoundError, match="No thread found"):
        fresh.beta.threads.messages.create("thread_nope", role="user", content="x")
    thread = fresh.beta.threads.create()
    with pytest.raises(openai.NotFoundError, match="No assistant found with id 'asst_nope'"):
        fresh.beta.threads.runs.create(thread.id, assistant_id="asst_nope")
    assistant = fresh.beta.assistants.create(model="gpt-4o")
    assert fresh.beta.threads.runs.create(thread.id, assistant_id=assistant.id).status == "queued"


def test_create_thread_and_run(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(reply="Fixed answer.")
    use_profile(profile)
    run = fresh.beta.threads.create_and_run_poll(
        assistant_id="asst_x", thread={"messages": [{"role": "user", "content": "Hi"}]})
    assert run.status == "completed"
    texts = [m.content[0].text.value for m in fresh.beta.threads.messages.list(run.thread_id, order="asc")]
    assert texts == ["Hi", "Fixed answer."]


def test_progress_over_time(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(progress=0.2)
    use_profile(profile)
    thread = fresh.beta.threads.create()
    run = fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x")
    assert fresh.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status in ("queued", "in_progress")
    time.sleep(0.6)
    assert fresh.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "completed"


def test_sequence_as_a_list_is_the_retrieve_sequence(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(sequence=[{"status": "in_progress"}, {"status": "requires_action", "required_action": {
        "type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}}])
    use_profile(profile)
    thread = fresh.beta.threads.create()
    run = fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x")
    statuses = [fresh.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status for _ in range(3)]
    assert statuses == ["in_progress", "requires_action", "requires_action"]  # the last entry is held


UNITS = {"type": "function", "function": {"name": "convert", "parameters": {
    "type": "object", "properties": {"value": {"type": "number"}, "unit": {"type": "string", "enum": ["C", "F"]}},
    "required": ["value", "unit"], "additionalProperties": False}}}
LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize("choice, name", [("required", "lookup"), ({"type": "function", "function": {"name": "convert"}}, "convert")])
def test_a_forced_tool_choice_stops_the_run_for_that_call(fresh, choice, name):
    assistant = fresh.beta.assistants.create(model="gpt-4o", tools=[LOOKUP, UNITS])
    thread = fresh.beta.threads.create(messages=[{"role": "user", "content": "21 C in F?"}])
    run = fresh.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, tool_choice=choice)
    assert run.status == "requires_action"
    [tool_call] = run.required_action.submit_tool_outputs.tool_calls
    assert tool_call.function.name == name
    args = json.loads(tool_call.function.arguments)
    if name == "convert":
        assert isinstance(args["value"], (int, float)) and args["unit"] in ("C", "F")
    run = fresh.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": tool_call.id, "output": "69.8"}])
    assert run.status == "completed"  # "required": a tool call before the answer, then the answer


def test_a_forced_function_the_run_lacks_is_a_400(fresh):
    thread = fresh.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as e:
        fresh.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_x", tools=[LOOKUP],
                                       tool_choice={"type": "function", "function": {"name": "nope"}})
    assert e.value.body["param"] == "tool_choice"
