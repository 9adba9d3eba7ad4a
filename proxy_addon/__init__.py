"""openai-fake: a fake api.openai.com behind a mitmproxy addon.

The profile API, whose public name is `openai_fake` (`openai_fake/__init__.py`):

    from openai_fake import Profile, OpenAIError    # or, as before: from proxy_addon import ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Profile", "OpenAIError", "ProfileError"]

if TYPE_CHECKING:
    from .engine.errors import OpenAIError
    from .profile import Profile, ProfileError


def __getattr__(name: str) -> Any:
    # Imported on first use: pytest loads the plugin module (`proxy_addon.pytest_plugin`) in every
    # session of a project that installs us, and the engine's imports (the SDK's types) take ~0.8 s.
    if name == "OpenAIError":
        from .engine.errors import OpenAIError

        return OpenAIError
    if name in ("Profile", "ProfileError"):
        from . import profile

        return getattr(profile, name)
    raise AttributeError(f"module 'proxy_addon' has no attribute {name!r}")
