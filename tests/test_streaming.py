"""Streaming through the real proxy and the base-URL face: chat completions, pace, faults and hang-ups.

Every test drives the real openai SDK; timings are checked with tolerances of
at least 50 ms (exact figures are the benchmark's business).
"""

from __future__ import annotations

import json
import statistics
import time

import httpx2
import openai
import pydantic
import pytest

from conftest import wait_for
from proxy_addon import Profile
from proxy_addon.engine.streams import Pace

MESSAGES = [{"role": "user", "content": "Tell me something"}]


def _profile(**chat) -> Profile:
    p = Profile()
    p.chat.completions(**chat)
    return p



# -- chat completions, raw iteration ---------------------------------------------------------------


def test_chat_stream_gives_the_same_answer_as_the_whole_reply(client, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "The quick brown fox jumps"}}]))
    whole = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert pieces == ["The", " quick", " brown", " fox", " jumps"]  # a word per chunk, by default
    assert "".join(pieces) == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_default_answer_and_base_url_face(base_client, use_profile):
    use_profile(Profile())
    text = "".join(c.choices[0].delta.content or "" for c in
                   base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert text == "This is a fake answer from openai-fake. You said: Tell me something"


async def test_chat_stream_async(aclient, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "async words arrive"}}]))
    stream = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "async words arrive"


def test_include_usage_sends_a_last_chunk_with_usage_only(client, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "one two three"}}]))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    *body, last = chunks
    assert last.choices == [] and last.usage.completion_tokens == 3
    assert last.usage.total_tokens == last.usage.prompt_tokens + 3
    assert all(c.usage is None for c in body)
    without = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert all(c.choices for c in without)


def test_stream_options_without_stream_is_a_400(client, use_profile):
    use_profile(Profile())
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream_options={"include_usage": True})
    assert e.value.body["param"] == "stream_options"


def test_n_choices_are_interleaved(client, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "alpha beta gamma"}}, {"message": {"content": "one two"}}]))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, n=2))
    order = [c.choices[0].index for c in chunks]
    assert order[:4] == [0, 1, 0, 1], order  # not all of choice 0 first
    texts = {0: "", 1: ""}
    for c in chunks:
        texts[c.choices[0].index] += c.choices[0].delta.content or ""
    assert texts == {0: "alpha beta gamma", 1: "one two"}
    finishes = [(c.choices[0].index, c.choices[0].finish_reason) for c in chunks if c.choices[0].finish_reason]
    assert sorted(finishes) == [(0, "stop"), (1, "stop")]


def test_tool_call_arguments_arrive_as_deltas(client, use_profile):
    args = {"city": "Paris", "unit": "celsius"}
    use_profile(_profile(choices=[{"message": {"tool_calls": [{"function": {"name": "weather", "arguments": args}}]}}]))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or ())]
    assert calls[0].id.startswith("call_") and calls[0].function.name == "weather"
    assert calls[0].function.arguments == ""
    deltas = [tc.function.arguments for tc in calls[1:]]
    assert len(deltas) > 1 and all(tc.id is None for tc in calls[1:])
    assert json.loads("".join(deltas)) == args
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_refusal_streams_as_refusal_deltas(client, use_profile):
    use_profile(_profile(choices=[{"message": {"content": None, "refusal": "I can't help with that."}}]))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks) == "I can't help with that."
    assert not any(c.choices[0].delta.content for c in chunks)


@pytest.mark.parametrize("reason", ["length", "content_filter"])
def test_finish_reason_comes_from_the_profile(client, use_profile, reason):
    use_profile(_profile(choices=[{"message": {"content": "cut short"}, "finish_reason": reason}]))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert chunks[-1].choices[0].finish_reason == reason


# -- the SDK's stream helpers ------------------------------------------------------------------------


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


def test_stream_helper_final_completion_with_structured_output(client, use_profile):
    use_profile(Profile())
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Weather) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in kinds and "content.done" in kinds
    parsed = final.choices[0].message.parsed
    assert isinstance(parsed, Weather)


def test_stream_helper_with_a_function_tool(client, use_profile):
    use_profile(Profile())
    tool = openai.pydantic_function_tool(Weather, name="report")
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, tools=[tool],
                                        tool_choice={"type": "function", "function": {"name": "report"}}) as stream:
        done = [e for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    assert done and done[0].name == "report"
    call = final.choices[0].message.tool_calls[0]
    assert isinstance(call.function.parsed_arguments, Weather)
    assert final.choices[0].finish_reason == "tool_calls"


async def test_async_stream_helper(aclient, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "helpers work async too"}}]))
    async with aclient.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        deltas = [e.delta async for e in stream if e.type == "content.delta"]
        final = await stream.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content == "helpers work async too"


# -- pace ----------------------------------------------------------------------------------------


def _arrivals(client, **create) -> tuple[float, list[tuple[float, str]]]:
    started = time.monotonic()
    out = []
    for c in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, **create):
        if c.choices and c.choices[0].delta.content:
            out.append((time.monotonic() - started, c.choices[0].delta.content))
    return started, out


def test_time_to_first_chunk_and_delay_between_chunks(client, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "a b c d e f"}}], stream={"ttft": 0.4, "chunk_delay": 0.15}))
    _, arrivals = _arrivals(client)
    assert len(arrivals) == 6
    assert 0.35 <= arrivals[0][0] <= 0.6, arrivals
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
    assert abs(statistics.median(gaps) - 0.15) <= 0.05, gaps
    # Negative control: without a pace the same stream comes at once.
    use_profile(_profile(choices=[{"message": {"content": "a b c d e f"}}]))
    _, fast = _arrivals(client)
    assert fast[-1][0] < 0.3


def test_profile_wide_pace_applies_to_every_rule(base_client, use_profile):
    use_profile(Profile(stream={"chunk_delay": 0.1}))
    _, arrivals = _arrivals(base_client)
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
    assert len(gaps) >= 5 and abs(statistics.median(gaps) - 0.1) <= 0.05, gaps


@pytest.mark.parametrize("chunk, pieces", [("char", list("abc de")), (4, ["abc ", "de"]), ("word", ["abc", " de"])])
def test_chunk_size(client, use_profile, chunk, pieces):
    use_profile(_profile(choices=[{"message": {"content": "abc de"}}], stream={"chunk": chunk}))
    _, arrivals = _arrivals(client)
    assert [p for _, p in arrivals] == pieces


# -- faults --------------------------------------------------------------------------------------


def test_cut_after_k_chunks_drops_the_connection(client, fake, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "one two three four five"}}], stream={"cut_after": 2}))
    got = []
    with pytest.raises(openai.APIConnectionError):
        for c in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            got.append(c.choices[0].delta.content)
    assert [g for g in got if g] == ["one", " two"]
    assert wait_for(lambda: [e.outcome for e in fake.journal.entries()] == ["cut"])
    assert fake.journal.entries()[0].chunks == 2


def test_cut_through_the_base_url_face(base_client, use_profile):
    use_profile(_profile(stream={"cut_after": 0}))
    with pytest.raises(openai.APIConnectionError):
        list(base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))


def test_error_event_mid_stream(client, fake, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "one two three"}}], stream={"error_after": 1}))
    got = []
    with pytest.raises(openai.APIError) as e:
        for c in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            got.append(c.choices[0].delta.content)
    assert "simulated stream error after 1 chunk" in e.value.message
    assert [g for g in got if g] == ["one"]
    assert wait_for(lambda: [e.outcome for e in fake.journal.entries()] == ["error"])


def test_stall_pauses_then_finishes(client, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "a b c d"}}], stream={"stall_after": 2, "stall": 0.6}))
    _, arrivals = _arrivals(client)
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
    assert [p for _, p in arrivals] == ["a", " b", " c", " d"]
    assert gaps[1] >= 0.55 and gaps[0] < 0.3 and gaps[2] < 0.3, gaps


def test_a_stall_trips_the_clients_read_timeout(client, use_profile):
    use_profile(_profile(stream={"stall_after": 1, "stall": 2}))
    with pytest.raises(openai.APITimeoutError):
        list(client.with_options(timeout=httpx2.Timeout(5, read=0.5)).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True))


# -- the client hangs up ----------------------------------------------------------------------------


def test_client_hang_up_frees_the_stream_and_is_recorded(client, fake, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "w " * 40}}], stream={"chunk_delay": 0.1}))
    fake.errors.records.clear()  # only what this hang-up logs counts here
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    it = iter(stream)
    next(it), next(it)
    assert fake.relay.active == 1  # control: a stream in progress holds the relay
    stream.close()
    assert wait_for(lambda: fake.relay.active == 0)
    assert wait_for(lambda: [e.outcome for e in fake.journal.entries()] == ["aborted"])
    entry = fake.journal.entries()[0]
    assert entry.chunks < 40 and entry.status == 200
    assert not fake.errors.records, [r.getMessage() for r in fake.errors.records]
    # The fake goes on serving.
    assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices


async def test_async_hang_up(aclient, fake, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "w " * 40}}], stream={"chunk_delay": 0.1}))
    stream = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    async for _ in stream:
        break
    await stream.close()
    import asyncio

    for _ in range(150):
        if [e.outcome for e in fake.journal.entries()] == ["aborted"]:
            break
        await asyncio.sleep(0.02)
    assert [e.outcome for e in fake.journal.entries()] == ["aborted"]
    assert fake.relay.active == 0


def test_completed_stream_is_recorded_with_its_chunk_count(client, fake, use_profile):
    use_profile(_profile(choices=[{"message": {"content": "one two three"}}]))
    list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert wait_for(lambda: len(fake.journal.entries()) == 1)
    entry = fake.journal.entries()[0]
    assert (entry.outcome, entry.chunks, entry.rule, entry.face) == ("completed", 3, "chat.completions", "proxy")


# -- profile errors --------------------------------------------------------------------------------


def test_bad_stream_knobs_are_refused_with_a_clear_message():
    p = Profile()
    with pytest.raises(TypeError, match="unknown knob 'tfft'"):
        p.chat.completions(stream={"tfft": 1})
    with pytest.raises(ValueError, match="chunk_delay must be a number of seconds"):
        p.chat.completions(stream={"chunk_delay": -1})
    with pytest.raises(ValueError, match="chunk must be 'word', 'char'"):
        Profile(stream={"chunk": "token"})
    assert p.chat.completions(stream=Pace(ttft=0.2)).knobs["stream"].ttft == 0.2


# -- shipped streaming profiles ------------------------------------------------------------------


def test_faulty_limits_the_faults_to_the_first_calls(client, use_profile):
    use_profile("broken_stream")
    outcomes = []
    for _ in range(3):
        try:
            text = "".join(c.choices[0].delta.content or "" for c in
                           client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
            outcomes.append(text)
        except openai.APIConnectionError:
            outcomes.append("cut")
    assert outcomes[:2] == ["cut", "cut"]
    assert outcomes[2] == "This is a fake answer from openai-fake. You said: Tell me something"


def test_slow_stream_profile_delays_the_first_chunk(client, use_profile):
    use_profile("slow_stream")
    _, arrivals = _arrivals(client)
    assert arrivals[0][0] >= 0.45 and len(arrivals[0][1]) == 1  # chat: 0.5 s, then a character at a time
