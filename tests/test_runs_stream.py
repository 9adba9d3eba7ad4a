"""Streamed Assistants runs: the real SDK (sync and async) through the proxy and the base-URL face.

Raw iteration of `stream=True`, the SDK's helpers (`runs.stream`, `create_and_run_stream`,
`submit_tool_outputs_stream`) with event handlers, and the promise that what a stream shows
is what the store keeps: the same ids, text, steps and usage.
"""

from __future__ import annotations

import openai
import pytest
from openai import AssistantEventHandler, AsyncAssistantEventHandler

from proxy_addon import OpenAIError, Profile

COMPLETED = [
    "thread.run.created", "thread.run.queued", "thread.run.in_progress",
    "thread.run.step.created", "thread.run.step.in_progress",
    "thread.message.created", "thread.message.in_progress",
    # thread.message.delta x n
    "thread.message.completed", "thread.run.step.completed", "thread.run.completed",
]
WEATHER = [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]


def names(events) -> list[str]:
    """Event names, with a run of message deltas folded into one."""
    out = []
    for e in events:
        if e.event == "thread.message.delta" and out and out[-1] == "thread.message.delta":
            continue
        out.append(e.event)
    return out


def without_deltas(events) -> list[str]:
    return [e.event for e in events if not e.event.endswith(".delta")]


def deltas_text(events) -> str:
    return "".join(part.text.value for e in events if e.event == "thread.message.delta"
                   for part in e.data.delta.content if part.type == "text")


class Recorder(AssistantEventHandler):
    """Records every callback the SDK's handler machinery makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, object]] = []
        self.events: list[str] = []
        self.text_deltas_seen: list[str] = []
        self.snapshots: list[str] = []
        self.arguments: list[str] = []
        self.ended = False

    def on_event(self, event) -> None:
        self.events.append(event.event)

    def on_run_step_created(self, run_step) -> None:
        self.calls.append(("step_created", run_step.id))

    def on_run_step_done(self, run_step) -> None:
        self.calls.append(("step_done", run_step.id))

    def on_message_created(self, message) -> None:
        self.calls.append(("message_created", message.id))

    def on_message_done(self, message) -> None:
        self.calls.append(("message_done", message.id, message.content[0].text.value))

    def on_text_created(self, text) -> None:
        self.calls.append(("text_created", text.value))

    def on_text_delta(self, delta, snapshot) -> None:
        self.text_deltas_seen.append(delta.value)
        self.snapshots.append(snapshot.value)

    def on_text_done(self, text) -> None:
        self.calls.append(("text_done", text.value))

    def on_tool_call_created(self, tool_call) -> None:
        self.calls.append(("tool_call_created", tool_call.id, tool_call.function.name))

    def on_tool_call_delta(self, delta, snapshot) -> None:
        if delta.function and delta.function.arguments:
            self.arguments.append(delta.function.arguments)

    def on_tool_call_done(self, tool_call) -> None:
        self.calls.append(("tool_call_done", tool_call.id, tool_call.function.arguments))

    def on_end(self) -> None:
        self.ended = True


class AsyncRecorder(AsyncAssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text: list[str] = []
        self.done: list[tuple[str, str]] = []
        self.tool_calls: list[tuple[str, str]] = []

    async def on_event(self, event) -> None:
        self.events.append(event.event)

    async def on_text_delta(self, delta, snapshot) -> None:
        self.text.append(delta.value)

    async def on_message_done(self, message) -> None:
        self.done.append((message.id, message.content[0].text.value))

    async def on_tool_call_done(self, tool_call) -> None:
        self.tool_calls.append((tool_call.id, tool_call.function.arguments))


@pytest.fixture
def fresh(client, use_profile):
    use_profile(Profile())
    return client


def weather_profile(answer=None) -> Profile:
    """A profile whose runs call get_weather first, then answer with the tool's output."""
    profile = Profile()
    profile.beta.threads.runs(tool_calls=WEATHER)

    @profile.beta.threads.runs
    def after_tools(request, state):
        outputs = (request.json or {}).get("tool_outputs")
        return f"It is {outputs[0]['output']} in Oslo." if outputs else None

    return profile


# -- raw iteration ---------------------------------------------------------------------------


def test_raw_stream_of_a_completed_run_matches_the_store(fresh):
    thread = fresh.beta.threads.create(messages=[{"role": "user", "content": "What is the capital of Norway?"}])
    events = list(fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True))
    assert names(events) == COMPLETED[:7] + ["thread.message.delta"] + COMPLETED[7:]
    deltas = [e for e in events if e.event == "thread.message.delta"]
    assert len(deltas) > 3  # the text came in pieces, one word at a time by default
    by = {e.event: e.data for e in events if e.event != "thread.message.delta"}
    # created and queued are the queued run; the final event is the completed run with usage
    assert by["thread.run.created"].status == by["thread.run.queued"].status == "queued"
    assert by["thread.run.in_progress"].started_at is not None
    created_message = by["thread.message.created"]
    assert (created_message.status, created_message.content) == ("in_progress", [])
    assert by["thread.run.step.created"].status == "in_progress" and by["thread.run.step.created"].usage is None

    stored_messages = fresh.beta.threads.messages.list(thread.id).data
    answer = stored_messages[0]
    assert answer.role == "assistant" and answer.id == created_message.id == deltas[0].data.id
    assert deltas_text(events) == answer.content[0].text.value == by["thread.message.completed"].content[0].text.value
    assert "capital of Norway" in answer.content[0].text.value
    assert by["thread.message.completed"] == answer

    run = fresh.beta.threads.runs.retrieve(by["thread.run.completed"].id, thread_id=thread.id)
    assert run.status == "completed" and run.usage == by["thread.run.completed"].usage and run.usage.total_tokens > 0
    assert answer.run_id == run.id
    steps = fresh.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.id for s in steps] == [by["thread.run.step.created"].id]
    assert steps[0] == by["thread.run.step.completed"]
    assert steps[0].step_details.message_creation.message_id == answer.id
    # the stream has finished the run: a poller sees it completed at once, with no new message
    assert fresh.beta.threads.runs.poll(run.id, thread_id=thread.id).status == "completed"
    assert len(fresh.beta.threads.messages.list(thread.id).data) == len(stored_messages)


def test_create_and_run_raw_stream_starts_with_the_thread(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(reply="Fixed answer, streamed.")
    use_profile(profile)
    events = list(fresh.beta.threads.create_and_run(
        assistant_id="asst_x", thread={"messages": [{"role": "user", "content": "Hi"}]}, stream=True))
    assert events[0].event == "thread.created"
    assert names(events[1:]) == COMPLETED[:7] + ["thread.message.delta"] + COMPLETED[7:]
    thread_id = events[0].data.id
    assert events[1].data.thread_id == thread_id
    assert fresh.beta.threads.retrieve(thread_id) == events[0].data
    assert deltas_text(events) == "Fixed answer, streamed."
    texts = [m.content[0].text.value for m in fresh.beta.threads.messages.list(thread_id, order="asc")]
    assert texts == ["Hi", "Fixed answer, streamed."]


def test_raw_stream_stops_at_requires_action_with_the_stored_tool_step(fresh, use_profile):
    use_profile(weather_profile())
    thread = fresh.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
    events = list(fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True))
    assert without_deltas(events) == [
        "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress", "thread.run.requires_action"]
    step_deltas = [e.data for e in events if e.event == "thread.run.step.delta"]
    assert len(step_deltas) >= 2  # the call's id and name, then its arguments in pieces
    first = step_deltas[0].delta.step_details.tool_calls[0]
    args = "".join(d.delta.step_details.tool_calls[0].function.arguments or "" for d in step_deltas)
    assert first.function.name == "get_weather" and args == '{"city": "Oslo"}'
    run = events[-1].data
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.id == first.id and call.function.arguments == args
    # the store agrees: the run waits, its step is the streamed one, still in progress
    assert fresh.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "requires_action"
    steps = fresh.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [(s.id, s.type, s.status) for s in steps] == [(step_deltas[0].id, "tool_calls", "in_progress")]
    assert steps[0].step_details.tool_calls[0].id == call.id
    assert steps[0].step_details.tool_calls[0].function.arguments == args
    assert fresh.beta.threads.messages.list(thread.id).data[0].role == "user"  # no answer yet

    # submit_tool_outputs(stream=True), raw
    events = list(fresh.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}], stream=True))
    assert names(events) == ["thread.run.step.completed", "thread.run.queued"] + COMPLETED[2:7] + \
        ["thread.message.delta"] + COMPLETED[7:]
    assert events[0].data.id == steps[0].id and events[0].data.step_details.tool_calls[0].function.output == "sunny"
    assert deltas_text(events) == "It is sunny in Oslo."
    assert fresh.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "It is sunny in Oslo."


def test_a_handler_error_streams_a_failed_run(fresh, use_profile):
    profile = Profile()

    @profile.beta.threads.runs
    def overloaded(request, state):
        raise OpenAIError(429, "You exceeded your current quota.")

    use_profile(profile)
    thread = fresh.beta.threads.create()
    events = list(fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True))
    assert [e.event for e in events] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                                         "thread.run.failed"]
    failed = events[-1].data
    assert (failed.last_error.code, failed.last_error.message) == ("rate_limit_exceeded", "You exceeded your current quota.")
    assert failed.failed_at is not None
    stored = fresh.beta.threads.runs.retrieve(failed.id, thread_id=thread.id)
    assert stored.status == "failed" and stored.last_error == failed.last_error
    assert fresh.beta.threads.messages.list(thread.id).data == []


# -- the SDK's helpers, with event handlers --------------------------------------------------


def test_runs_stream_helper_with_an_event_handler(fresh):
    thread = fresh.beta.threads.create(messages=[{"role": "user", "content": "Tell me about fjords please"}])
    recorder = Recorder()
    with fresh.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_x", event_handler=recorder) as stream:
        assert stream is recorder
        stream.until_done()
    assert recorder.ended
    message = fresh.beta.threads.messages.list(thread.id).data[0]
    text = message.content[0].text.value
    run = fresh.beta.threads.runs.list(thread.id).data[0]
    step = fresh.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert "fjords please" in text
    assert "".join(recorder.text_deltas_seen) == text
    assert recorder.snapshots[-1] == text  # the SDK's accumulated snapshot, delta by delta
    assert recorder.calls == [
        ("step_created", step.id), ("message_created", message.id), ("text_created", recorder.text_deltas_seen[0]),
        ("text_done", text), ("message_done", message.id, text), ("step_done", step.id)]
    assert recorder.get_final_run() == run
    assert [m.id for m in recorder.get_final_messages()] == [message.id]
    assert recorder.get_final_messages()[0].content[0].text.value == text
    assert [s.id for s in recorder.get_final_run_steps()] == [step.id]


def test_tool_call_round_trip_with_stream_helpers(fresh, use_profile):
    use_profile(weather_profile())
    thread = fresh.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
    first = Recorder()
    with fresh.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_x", event_handler=first) as stream:
        run = stream.get_final_run()
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert first.calls == [("step_created", first.get_final_run_steps()[0].id),
                           ("tool_call_created", call.id, "get_weather"),
                           ("tool_call_done", call.id, '{"city": "Oslo"}')]
    assert "".join(first.arguments) == '{"city": "Oslo"}' and len(first.arguments) >= 2
    assert first.events[-1] == "thread.run.requires_action"

    second = Recorder()
    with fresh.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
            event_handler=second) as stream:
        final = stream.get_final_run()
        messages = stream.get_final_messages()
    assert final.status == "completed" and final.id == run.id
    assert "".join(second.text_deltas_seen) == "It is sunny in Oslo."
    assert second.events[0] == "thread.run.step.completed"
    # what the stream showed is what the store keeps
    assert fresh.beta.threads.runs.retrieve(run.id, thread_id=thread.id) == final
    stored = fresh.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert [(m.id, m.content[0].text.value) for m in stored] == [(messages[0].id, "It is sunny in Oslo.")]
    steps = fresh.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [("tool_calls", "completed"), ("message_creation", "completed")]
    assert steps[0].step_details.tool_calls[0].function.output == "sunny"
    assert steps[1].step_details.message_creation.message_id == messages[0].id


def test_text_deltas_iterator_and_pace(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(reply="Hej!", stream={"chunk": "char"})
    use_profile(profile)
    thread = fresh.beta.threads.create()
    with fresh.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_x") as stream:
        assert list(stream.text_deltas) == ["H", "e", "j", "!"]


def test_a_mid_stream_error_is_the_assistants_error_event(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(reply="one two three four", stream={"error_after": 2})
    use_profile(profile)
    thread = fresh.beta.threads.create()
    seen = []
    with pytest.raises(openai.APIError, match="simulated stream error after 2 chunks"):
        for event in fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True):
            seen.append(event.event)
    assert seen.count("thread.message.delta") == 2 and "thread.run.completed" not in seen
    # the run itself finished in the store before the stream began
    assert fresh.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "one two three four"


# -- sequence with a stream -------------------------------------------------------------------


def test_a_sequence_plays_out_in_the_stream(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(sequence=[
        {"status": "in_progress"}, {"status": "in_progress"},
        {"status": "failed", "last_error": {"code": "server_error", "message": "Boom."}}])
    use_profile(profile)
    thread = fresh.beta.threads.create()
    events = list(fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True))
    assert [e.event for e in events] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                                         "thread.run.failed"]
    assert events[-1].data.last_error.message == "Boom."
    assert fresh.beta.threads.runs.retrieve(events[0].data.id, thread_id=thread.id).status == "failed"


def test_a_sequence_that_runs_out_goes_on_to_the_outcome_and_the_store_agrees(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(sequence={"create": [{"metadata": {"from": "sequence"}}],
                                        "retrieve": [{"status": "in_progress"}]}, reply="Done.")
    use_profile(profile)
    thread = fresh.beta.threads.create()
    events = list(fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True))
    assert events[0].data.metadata == {"from": "sequence"}
    assert events[-1].event == "thread.run.completed" and deltas_text(events) == "Done."
    # without a stream the held entry would keep the run in_progress; after one it stays completed
    assert fresh.beta.threads.runs.retrieve(events[0].data.id, thread_id=thread.id).status == "completed"


def test_a_create_entry_that_completes_the_run_still_streams_its_message(fresh, use_profile):
    profile = Profile()
    profile.beta.threads.runs(sequence={"create": [{"status": "completed"}]}, reply="At once.")
    use_profile(profile)
    thread = fresh.beta.threads.create()
    events = list(fresh.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True))
    assert names(events) == ["thread.run.created"] + COMPLETED[3:7] + ["thread.message.delta"] + COMPLETED[7:]
    stored = fresh.beta.threads.messages.list(thread.id).data
    assert [(m.id, m.content[0].text.value) for m in stored] == [(events[3].data.id, "At once.")]


def test_the_wire_format(fresh, use_profile):
    """Read as bytes: `event:` lines, `event: done` / `data: [DONE]` last, and `event: error` mid-stream."""
    profile = Profile()
    profile.beta.threads.runs(reply="a b c")
    use_profile(profile)
    thread = fresh.beta.threads.create()
    with fresh.beta.threads.runs.with_streaming_response.create(thread.id, assistant_id="asst_x", stream=True) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[0] == "event: thread.run.created" and lines[1].startswith('data: {"id":"run_')
    assert lines[-2:] == ["event: done", "data: [DONE]"]
    assert all(line.startswith("event: thread.") for line in lines[:-2:2])

    profile.beta.threads.runs(stream={"error_after": 1})
    use_profile(profile)
    thread = fresh.beta.threads.create()
    with fresh.beta.threads.runs.with_streaming_response.create(thread.id, assistant_id="asst_x", stream=True) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-2] == "event: error"
    assert lines[-1].startswith('data: {"error":{"message":"openai-fake: simulated stream error after 1 chunk"')
    assert lines.count("event: thread.message.delta") == 1 and "event: done" not in lines


def test_a_bad_stream_value_is_a_400_and_makes_no_thread(fresh, fake):
    with pytest.raises(openai.BadRequestError, match="Invalid type for 'stream'"):
        fresh.post("/threads/runs", cast_to=object, body={"assistant_id": "asst_x", "stream": "yes"})
    assert fake.engine.state.all("threads") == []


# -- async, and the base-URL face -------------------------------------------------------------


async def test_async_create_and_run_stream_and_tool_round_trip(aclient, use_profile):
    use_profile(weather_profile())
    first = AsyncRecorder()
    async with aclient.beta.threads.create_and_run_stream(
            assistant_id="asst_x", thread={"messages": [{"role": "user", "content": "Weather?"}]},
            event_handler=first) as stream:
        run = await stream.get_final_run()
    assert first.events[0] == "thread.created" and run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert first.tool_calls == [(call.id, '{"city": "Oslo"}')]

    second = AsyncRecorder()
    async with aclient.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=[{"tool_call_id": call.id, "output": "rainy"}],
            event_handler=second) as stream:
        await stream.until_done()
    assert "".join(second.text) == "It is rainy in Oslo."
    stored = (await aclient.beta.threads.messages.list(run.thread_id)).data[0]
    assert second.done == [(stored.id, "It is rainy in Oslo.")]
    assert (await aclient.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)).status == "completed"


async def test_async_raw_stream(aclient, use_profile):
    use_profile(Profile())
    thread = await aclient.beta.threads.create(messages=[{"role": "user", "content": "Async hello"}])
    stream = await aclient.beta.threads.runs.create(thread.id, assistant_id="asst_x", stream=True)
    events = [e async for e in stream]
    assert names(events) == COMPLETED[:7] + ["thread.message.delta"] + COMPLETED[7:]
    stored = (await aclient.beta.threads.messages.list(thread.id)).data[0]
    assert deltas_text(events) == stored.content[0].text.value and "Async hello" in deltas_text(events)


def test_stream_through_the_base_url_face(base_client, use_profile):
    use_profile(Profile())
    thread = base_client.beta.threads.create(messages=[{"role": "user", "content": "Plain HTTP"}])
    with base_client.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_x") as stream:
        messages = stream.get_final_messages()
    stored = base_client.beta.threads.messages.list(thread.id).data[0]
    assert [(m.id, m.content[0].text.value) for m in messages] == [(stored.id, stored.content[0].text.value)]
