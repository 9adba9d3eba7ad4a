"""openai-fake: a fake api.openai.com behind a mitmproxy addon.

The public API, whose import name is `openai_fake` (`openai_fake/__init__.py`):

    from openai_fake import Profile, OpenAIError    # or, as before: from proxy_addon import ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Every public name, and the module (under this package) that defines it.
PUBLIC = {
    # profiles
    "Profile": "profile", "ProfileError": "profile", "OpenAIError": "engine.errors",
    "Reply": "engine.wire", "Request": "engine.wire", "Pace": "engine.streams", "Event": "engine.streams",
    "Engine": "engine",
    # a running fake, its record of calls
    "Runner": "runner", "StartupError": "runner", "Entry": "journal", "Journal": "journal",
    # what a test or a script holds
    "FakeOpenAI": "handle", "Calls": "handle", "current": "handle",
    "running": "standalone", "fake": "standalone",
    # the in-process path
    "transport": "inprocess", "http_client": "inprocess", "async_http_client": "inprocess",
}

__all__ = [
    "Calls", "Engine", "Entry", "Event", "FakeOpenAI", "Journal", "OpenAIError", "Pace", "Profile",
    "ProfileError", "Reply", "Request", "Runner", "StartupError", "async_http_client", "current", "fake",
    "http_client", "running", "transport",
]  # PUBLIC's names (tests/test_in_process.py checks)

if TYPE_CHECKING:
    from .engine import Engine
    from .engine.errors import OpenAIError
    from .engine.streams import Event, Pace
    from .engine.wire import Reply, Request
    from .handle import Calls, FakeOpenAI, current
    from .inprocess import async_http_client, http_client, transport
    from .journal import Entry, Journal
    from .profile import Profile, ProfileError
    from .runner import Runner, StartupError
    from .standalone import fake, running


def __getattr__(name: str) -> Any:
    # Imported on first use: pytest loads the plugin module (`proxy_addon.pytest_plugin`) in every
    # session of a project that installs us, and the engine's imports (the SDK's types) take ~0.8 s.
    module = PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'proxy_addon' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
