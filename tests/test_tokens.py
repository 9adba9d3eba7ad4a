"""Token counts (`engine/tokens.py`, `engine/prompt_cache.py`): OpenAI's own vocabularies, checked against
tiktoken, the reference tokenizer; `usage` through the real SDK counts as the API does; prompt caching.

tiktoken downloads its vocabulary files at run time, which no test may do: here they are rebuilt from the
vocabulary the fake ships, and tiktoken itself checks them against the SHA-256 it expects of OpenAI's files.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from proxy_addon import Profile
from proxy_addon.engine import prompt_cache, tokens
from proxy_addon.engine.prompt_cache import PromptCache

tiktoken = pytest.importorskip("tiktoken")
from tiktoken import load as tiktoken_load  # noqa: E402
from tiktoken_ext import openai_public  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = [
    (ROOT / "docs" / "guide" / "profiles.md").read_text(),  # English prose with code in it
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "naïve café — 東京 ok\n\nnext 🙂 <|endoftext|> tabs\tand   spaces   ",
    "def f(x):\n    return x ** 2  # squares\n",
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """tiktoken's encodings, over vocabulary files rebuilt from ours and checked by tiktoken's own hash."""
    made = {}
    for name, spec in (("o200k_base", openai_public.o200k_base), ("cl100k_base", openai_public.cl100k_base)):
        enc = tokens._encoding(name)
        lines = []
        for i in range(enc.max_token_value + 1):
            if enc.is_special_token(i):
                continue
            try:
                piece = enc.decode_single_token_bytes(i)
            except KeyError:  # ids the vocabulary skips (o200k_base's 199998, before its special tokens)
                continue
            lines.append(base64.b64encode(piece) + b" " + str(i).encode())
        path = tmp_path_factory.mktemp("vocab") / f"{name}.tiktoken"
        path.write_bytes(b"\n".join(lines) + b"\n")
        real = tiktoken_load.load_tiktoken_bpe
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TIKTOKEN_CACHE_DIR", "")  # no copy left in /tmp
            # tiktoken raises when the file's SHA-256 is not the one it expects of OpenAI's (`expected_hash`).
            mp.setattr(openai_public, "load_tiktoken_bpe",
                       lambda url, expected_hash, path=path: real(str(path), expected_hash=expected_hash))
            made[name] = tiktoken.Encoding(**spec())
    return made


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_the_shipped_vocabulary_is_openais_and_cuts_as_tiktoken(reference, name):
    for text in CORPUS:
        assert tokens.ids(text, name) == reference[name].encode_ordinary(text)
        assert tokens.count(text, name) == len(reference[name].encode_ordinary(text))


def test_each_model_counts_with_its_vocabulary():
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "o3-mini", "o1", "gpt-image-1", "chatgpt-4o-latest",
                  "ft:gpt-4o-mini:acme::abc", "gpt-realtime"):
        assert tokens.encoding_of(model) == "o200k_base", model
    for model in ("gpt-4", "gpt-4-turbo", "gpt-4-0613", "gpt-3.5-turbo", "gpt-3.5-turbo-instruct",
                  "text-embedding-3-small", "text-embedding-ada-002", "davinci-002"):
        assert tokens.encoding_of(model) == "cl100k_base", model


def test_usage_through_the_sdk_is_the_real_tokenizers(client, use_profile, reference):
    use_profile(Profile())
    o200k, cl100k = reference["o200k_base"], reference["cl100k_base"]
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": CORPUS[1]}]
    for model, enc in (("gpt-4o", o200k), ("gpt-4", cl100k)):
        done = client.chat.completions.create(model=model, messages=messages)
        # The API's framing: 3 tokens per message and 3 to prime the reply (OpenAI's cookbook).
        assert done.usage.prompt_tokens == 3 + sum(3 + len(enc.encode_ordinary(m["content"])) for m in messages)
        assert done.usage.completion_tokens == len(enc.encode_ordinary(done.choices[0].message.content))
    embedded = client.embeddings.create(model="text-embedding-3-small", input=[CORPUS[1], CORPUS[2]])
    assert embedded.usage.prompt_tokens == sum(len(cl100k.encode_ordinary(t)) for t in CORPUS[1:3])
    legacy = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=CORPUS[1])
    assert legacy.usage.prompt_tokens == len(cl100k.encode_ordinary(CORPUS[1]))
    response = client.responses.create(model="gpt-4o", input=CORPUS[1])
    text = response.output[0].content[0].text
    assert response.usage.output_tokens == len(o200k.encode_ordinary(text))


LONG = " ".join(f"Rule {i}: answer every question about topic number {i} politely and briefly." for i in range(120))


def test_a_long_prompt_seen_before_reports_its_cached_tokens(client, use_profile, fake):
    use_profile(Profile())
    fake.engine.state.reset()
    ask = [{"role": "system", "content": LONG}, {"role": "user", "content": "First question?"}]
    first = client.chat.completions.create(model="gpt-4o", messages=ask).usage
    assert first.prompt_tokens >= prompt_cache.MINIMUM and first.prompt_tokens_details.cached_tokens == 0
    # The same long system prompt, another question: the shared prefix is cached, in steps of 128 tokens.
    again = [{"role": "system", "content": LONG}, {"role": "user", "content": "Second question?"}]
    second = client.chat.completions.create(model="gpt-4o", messages=again).usage
    cached = second.prompt_tokens_details.cached_tokens
    assert cached >= prompt_cache.MINIMUM and cached % prompt_cache.STEP == 0
    assert second.prompt_tokens - prompt_cache.STEP < cached <= second.prompt_tokens
    # Another prompt_cache_key, another model, or a short prompt: nothing cached.
    keyed = client.chat.completions.create(model="gpt-4o", messages=again, prompt_cache_key="tenant-2").usage
    assert keyed.prompt_tokens_details.cached_tokens == 0
    assert client.chat.completions.create(model="gpt-4o-mini", messages=again).usage.prompt_tokens_details.cached_tokens == 0
    short = [{"role": "user", "content": "Hi"}]
    client.chat.completions.create(model="gpt-4o", messages=short)
    assert client.chat.completions.create(model="gpt-4o", messages=short).usage.prompt_tokens_details.cached_tokens == 0
    # Responses: the same cache, its own field.
    r1 = client.responses.create(model="gpt-4o", instructions=LONG, input="One?").usage
    r2 = client.responses.create(model="gpt-4o", instructions=LONG, input="Two?").usage
    assert r1.input_tokens_details.cached_tokens == 0 and r2.input_tokens_details.cached_tokens >= prompt_cache.MINIMUM
    # A reset forgets it, as the state's other contents.
    fake.engine.state.reset()
    assert client.chat.completions.create(model="gpt-4o", messages=again).usage.prompt_tokens_details.cached_tokens == 0


def test_the_cache_forgets_unused_prefixes_and_stays_bounded():
    cache = PromptCache(ttl=0.05, limit=40)

    def ask(text: str) -> int:
        return cache.cached(tokens.count(text, "gpt-4o"), "gpt-4o", turns=[("user", text)])

    assert ask(LONG) == 0 and ask(LONG) >= prompt_cache.MINIMUM
    time.sleep(0.1)
    assert ask(LONG) == 0  # expired, then kept again
    for i in range(20):
        ask(f"{i} " + LONG)
    assert len(cache._seen) <= 40
