"""Streamed legacy completions (`completions.create(stream=True)`): the real SDK through the proxy."""

from __future__ import annotations

from collections import defaultdict

import openai
import pytest

from proxy_addon import Profile

MODEL = "gpt-3.5-turbo-instruct"


def texts(chunks) -> dict[int, str]:
    out: dict[int, str] = defaultdict(str)
    for chunk in chunks:
        for choice in chunk.choices:
            out[choice.index] += choice.text
    return dict(out)


def test_raw_stream_gives_the_same_text_as_the_whole_answer(client, use_profile):
    use_profile(Profile())
    whole = client.completions.create(model=MODEL, prompt="Once upon a time")
    chunks = list(client.completions.create(model=MODEL, prompt="Once upon a time", stream=True))
    assert len(chunks) > 3  # word by word, then the finish chunk
    assert {c.object for c in chunks} == {"text_completion"}
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("cmpl-")
    assert {c.model for c in chunks} == {MODEL}
    assert texts(chunks) == {0: whole.choices[0].text}
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert chunks[-1].choices[0].text == "" and all(c.usage is None for c in chunks)
    assert all(c.choices[0].logprobs is None for c in chunks)


def test_choices_are_interleaved_for_n_and_several_prompts(client, use_profile):
    profile = Profile()
    profile.completions(choices=[{"text": "one two three"}, {"text": "four five six"},
                                 {"text": "seven"}, {"text": "eight nine", "finish_reason": "length"}])
    use_profile(profile)
    chunks = list(client.completions.create(model=MODEL, prompt=["a", "b"], n=2, stream=True))
    order = [c.choices[0].index for c in chunks]
    assert order[:4] == [0, 1, 2, 3]  # each choice's first piece before any second piece
    assert texts(chunks) == {0: "one two three", 1: "four five six", 2: "seven", 3: "eight nine"}
    finish = {c.choices[0].index: c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason}
    assert finish == {0: "stop", 1: "stop", 2: "stop", 3: "length"}
    assert all(len(c.choices) == 1 for c in chunks)


def test_default_answers_stream_one_choice_per_prompt_and_n(client, use_profile):
    use_profile(Profile())
    whole = client.completions.create(model=MODEL, prompt=["x", ""], n=2)
    chunks = list(client.completions.create(model=MODEL, prompt=["x", ""], n=2, stream=True))
    assert texts(chunks) == {c.index: c.text for c in whole.choices} and len(whole.choices) == 4


def test_include_usage_adds_a_last_usage_chunk(client, use_profile):
    use_profile(Profile())
    whole = client.completions.create(model=MODEL, prompt="Count my tokens")
    chunks = list(client.completions.create(model=MODEL, prompt="Count my tokens", stream=True,
                                            stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage == whole.usage and last.usage.total_tokens > 0
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks[:-1])
    assert texts(chunks) == {0: whole.choices[0].text}
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        client.completions.create(model=MODEL, prompt="x", stream_options={"include_usage": True})


def test_the_wire_format_ends_with_done(client, use_profile):
    profile = Profile()
    profile.completions(choices=[{"text": "Hi there"}])
    use_profile(profile)
    with client.completions.with_streaming_response.create(model=MODEL, prompt="x", stream=True) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: {") for line in lines[:-1])
    assert not any(line.startswith("event:") for line in lines)
    assert not any('"usage"' in line for line in lines)
    with client.completions.with_streaming_response.create(model=MODEL, prompt="x", stream=True,
                                                           stream_options={"include_usage": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    # with include_usage, every chunk carries `"usage":null` (as the real API sends) but the usage chunk
    assert all('"usage":null' in line for line in lines[:-2]) and '"choices":[],"usage":{' in lines[-2]


def test_pace_and_mid_stream_error(client, use_profile):
    profile = Profile()
    profile.completions(choices=[{"text": "abc"}], stream={"chunk": "char"})
    use_profile(profile)
    chunks = list(client.completions.create(model=MODEL, prompt="x", stream=True))
    assert [c.choices[0].text for c in chunks] == ["a", "b", "c", ""]
    profile.completions(stream={"chunk": "char", "error_after": 2})
    use_profile(profile)
    seen = []
    with pytest.raises(openai.APIError, match="simulated stream error after 2 chunks"):
        for chunk in client.completions.create(model=MODEL, prompt="x", stream=True):
            seen.append(chunk.choices[0].text)
    assert seen == ["a", "b"]


async def test_async_stream(aclient, use_profile):
    profile = Profile()
    profile.completions(choices=[{"text": "async words here"}])
    use_profile(profile)
    stream = await aclient.completions.create(model=MODEL, prompt="x", stream=True,
                                              stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert texts(chunks) == {0: "async words here"} and chunks[-1].usage.completion_tokens > 0
