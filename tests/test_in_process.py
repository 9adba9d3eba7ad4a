"""The in-process path (`openai_fake.transport`, `http_client`, the `in_process` opt-in), `openai_fake.running`
outside pytest and beside the session fake, and the public import name.

The SDK is real throughout; the in-process tests open no socket to the fake, and say so by the
journal's face ("in-process").
"""

from __future__ import annotations

import openai
import pytest

from conftest import API_KEY
from proxy_addon.profile import Profile
from proxy_addon.runner import Runner


def _fresh_client() -> openai.OpenAI:
    """A client with no connection yet (a kept-alive one would hide a broken handshake)."""
    return openai.OpenAI(api_key=API_KEY, max_retries=0)


def test_a_second_runner_in_the_process_leaves_the_session_fake_working(client, tmp_path):
    client.models.list()
    with Runner(Profile(), port=0, confdir=tmp_path, warm=False) as second:
        assert second.address is not None
        with _fresh_client() as during:  # the session fake, while the second one runs
            assert during.models.list().data is not None
    # Each Runner's master keeps its own mitmproxy context: the session's new connections are not handed to
    # the second master's addons (whose CA the client does not trust: "tlsv1 alert unknown ca").
    with _fresh_client() as after:
        assert after.models.list().data is not None


def test_the_session_fake_answers_later_tests_too(client):
    assert client.models.list().data is not None
