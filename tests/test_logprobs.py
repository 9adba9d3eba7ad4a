"""Token log probabilities (`logprobs`, `top_logprobs`; `proxy_addon/engine/logprobs.py`): asked for, the
answer's tokens joined give its text back, whole and streamed, through the real SDK."""

from __future__ import annotations

import openai
import pytest

from proxy_addon import Profile
from proxy_addon.engine import logprobs

MESSAGES = [{"role": "user", "content": "Say something about the weather in Oslo, please."}]


@pytest.fixture
def fresh(client, use_profile):
    use_profile(Profile())
    return client


def _check_items(items, text: str, top: int) -> None:
    assert "".join(i.token for i in items) == text and len(items) > 3
    for i in items:
        assert i.logprob <= 0 and bytes(i.bytes).decode() == i.token
        assert len(i.top_logprobs) == top
        if top:
            assert i.top_logprobs[0].token == i.token and i.top_logprobs[0].logprob == i.logprob
            assert all(a.logprob > b.logprob for a, b in zip(i.top_logprobs, i.top_logprobs[1:]))


def test_the_splitting_gives_the_text_back():
    for text in ("", " ", "Hello, world!  ", "naïve café — 東京 ok\n\nnext", "a\tb", "🙂"):
        assert b"".join(piece for _, piece in logprobs.split(text)) == text.encode()
    # A token holding part of a character is named by its bytes, as the API names it.
    assert logprobs.split("🙂", "gpt-4") == [("bytes:\\xf0\\x9f", b"\xf0\x9f"), ("bytes:\\x99\\x82", b"\x99\x82")]
    assert logprobs.split("🙂", "gpt-4o") == [("🙂", "🙂".encode())]


def test_chat_whole_and_not_asked(fresh):
    done = fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES, logprobs=True, top_logprobs=3)
    choice = done.choices[0]
    _check_items(choice.logprobs.content, choice.message.content, 3)
    assert choice.logprobs.refusal is None
    plain = fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert plain.choices[0].logprobs is None


def test_chat_logprobs_are_the_same_for_the_same_answer(fresh, base_client):
    one = fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES, logprobs=True)
    two = base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, logprobs=True)
    assert one.choices[0].logprobs == two.choices[0].logprobs
    _check_items(one.choices[0].logprobs.content, one.choices[0].message.content, 0)


def test_chat_streamed(fresh):
    whole = fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content
    items, text = [], ""
    for chunk in fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES, logprobs=True, top_logprobs=2,
                                               stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
            items += chunk.choices[0].logprobs.content
    assert text == whole
    _check_items(items, whole, 2)


def test_a_profiles_answer_gets_its_own_logprobs(fresh, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "Forty-two, of course."}}])
    use_profile(profile)
    choice = fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES, logprobs=True).choices[0]
    assert choice.message.content == "Forty-two, of course."
    # o200k_base's tokens, as tiktoken cuts them (tests/test_tokens.py)
    assert [i.token for i in choice.logprobs.content] == ["Fort", "y", "-two", ",", " of", " course", "."]


def test_legacy_completions_whole_and_streamed(fresh):
    done = fresh.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", logprobs=2)
    choice = done.choices[0]
    lp = choice.logprobs
    assert "".join(lp.tokens) == choice.text and len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs)
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:k]) for k in range(len(lp.tokens))]
    assert all(len(top) == 2 and max(top.values()) == p for top, p in zip(lp.top_logprobs, lp.token_logprobs))
    tokens, offsets = [], []
    for chunk in fresh.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", logprobs=2,
                                          stream=True):
        if chunk.choices[0].text:
            tokens += chunk.choices[0].logprobs.tokens
            offsets += chunk.choices[0].logprobs.text_offset
    assert tokens == lp.tokens and offsets == lp.text_offset


def test_responses_whole_and_streamed(fresh):
    include = ["message.output_text.logprobs"]
    done = fresh.responses.create(model="gpt-4o", input="Tell me about Oslo.", include=include, top_logprobs=2)
    part = done.output[0].content[0]
    _check_items(part.logprobs, part.text, 2)
    assert fresh.responses.create(model="gpt-4o", input="Tell me about Oslo.").output[0].content[0].logprobs == []
    deltas, text, final = [], "", None
    with fresh.responses.stream(model="gpt-4o", input="Tell me about Oslo.", include=include, top_logprobs=2) as s:
        for event in s:
            if event.type == "response.output_text.delta":
                text += event.delta
                deltas += event.logprobs
            elif event.type == "response.output_text.done":
                final = event.logprobs
    assert text == part.text
    assert [d.token for d in deltas] == [f.token for f in final] == [i.token for i in part.logprobs]


def test_usage_adds_up_and_the_stream_reports_the_whole_answers(fresh):
    whole = fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES).usage
    assert whole.prompt_tokens + whole.completion_tokens == whole.total_tokens
    assert whole.prompt_tokens_details.cached_tokens == 0 and whole.completion_tokens_details.reasoning_tokens == 0
    last = [c for c in fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                                     stream_options={"include_usage": True})][-1]
    assert last.usage == whole and last.choices == []
    response = fresh.responses.create(model="gpt-4o", input="Tell me about Oslo.")
    with fresh.responses.stream(model="gpt-4o", input="Tell me about Oslo.") as s:
        streamed = s.get_final_response()
    assert streamed.usage == response.usage
    u = response.usage
    assert u.input_tokens + u.output_tokens == u.total_tokens and u.input_tokens_details.cached_tokens == 0


def test_top_logprobs_without_logprobs_is_refused(fresh):
    with pytest.raises(openai.BadRequestError) as caught:
        fresh.chat.completions.create(model="gpt-4o", messages=MESSAGES, top_logprobs=2)
    assert caught.value.body["param"] == "top_logprobs" and caught.value.body["code"] == "invalid_value"
