"""openai-fake's public import name.

    from openai_fake import Profile, OpenAIError                      # profiles
    with openai_fake.running("flaky") as fake: ...                     # a fake outside pytest
    OpenAI(http_client=openai_fake.http_client())                      # the in-process path

It is `proxy_addon`'s API under the project's own name (`from proxy_addon import Profile`
keeps working, for profiles written before): the same objects, not copies, so a profile
that mixes the two names works. Loaded lazily, as `proxy_addon` is, so that importing it
costs nothing until a name is used.

Every module of the package is reachable under this name too, as the same module object:
`openai_fake.pytest_plugin` is `proxy_addon.pytest_plugin`, `openai_fake.engine` is
`proxy_addon.engine`; and `openai_fake.profiles` is the shipped profiles (installed as
`openai_fake_profiles`). One module under two names, not the folder mapped twice: a folder
installed under two names is loaded twice, and a `Profile` made under one name would fail an
`isinstance` check under the other.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import importlib.machinery
import sys
from typing import TYPE_CHECKING, Any

from proxy_addon import PUBLIC

__all__ = [
    "Calls", "Engine", "Entry", "Event", "FakeOpenAI", "Journal", "OpenAIError", "Pace", "Profile",
    "ProfileError", "Reply", "Request", "Runner", "StartupError", "async_http_client", "current", "fake",
    "http_client", "running", "transport",
]  # PUBLIC's names (tests/test_in_process.py checks)

#: Subpackages named here that are installed under another name.
_ELSEWHERE = {"profiles": "openai_fake_profiles"}

if TYPE_CHECKING:
    from proxy_addon import (Calls, Engine, Entry, Event, FakeOpenAI, Journal, OpenAIError, Pace, Profile,
                             ProfileError, Reply, Request, Runner, StartupError, async_http_client, current, fake,
                             http_client, running, transport)


def __getattr__(name: str) -> Any:
    if name in PUBLIC:
        import proxy_addon

        return getattr(proxy_addon, name)
    raise AttributeError(f"module 'openai_fake' has no attribute {name!r}")


def _real_name(alias: str) -> str:
    """`openai_fake.engine.wire` -> `proxy_addon.engine.wire`; `openai_fake.profiles.flaky` -> `openai_fake_profiles.flaky`."""
    head, _, rest = alias[len(__name__) + 1:].partition(".")
    base = _ELSEWHERE.get(head, f"proxy_addon.{head}")
    return f"{base}.{rest}" if rest else base


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `openai_fake.X` as the module `proxy_addon.X` itself (see the module's docstring)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if not fullname.startswith(__name__ + "."):
            return None
        real = _real_name(fullname)
        try:
            found = importlib.util.find_spec(real)
        except (ImportError, ValueError):
            found = None
        if found is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=found.submodule_search_locations is not None)

    def create_module(self, spec):
        return None  # a placeholder; exec_module puts the real module in its place

    def exec_module(self, module) -> None:
        # The import system returns whatever sys.modules holds under the name once this returns.
        sys.modules[module.__name__] = importlib.import_module(_real_name(module.__name__))


if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
    sys.meta_path.insert(0, _Alias())
