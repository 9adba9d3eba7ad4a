"""A drop-in for openai-responses users: that library's surface, answered by the fake.

A test written for openai-responses runs with its import and decorator lines changed:

    import openai_fake.compat as openai_responses          # was: import openai_responses
    from openai_fake.compat import OpenAIMock              # was: from openai_responses import OpenAIMock

    @openai_responses.mock()
    def test_chat(openai_mock: OpenAIMock):
        openai_mock.chat.completions.create.response = {"choices": [{"index": 0, "finish_reason": "stop",
                                                          "message": {"content": "Hi", "role": "assistant"}}]}
        ...
        assert openai_mock.chat.completions.create.route.call_count == 1

The submodules are the seed's too: `ext.httpx` (httpx2, which openai 3 uses), `ext.respx` (`Route`),
`helpers.builders.*`, `helpers.mergers.*`, `stores` (`StateStore`) and `streaming` (`EventStream`).
The `openai_mock` fixture is the pytest plugin's (`proxy_addon.pytest_plugin`). See the README's
"Migrating from openai-responses".
"""

from ._mock import OpenAIMock, mock
from . import ext, helpers, stores, streaming

__all__ = ["mock", "OpenAIMock", "ext", "helpers", "stores", "streaming"]
