"""openai-fake's public import name: the profile API.

    from openai_fake import Profile, OpenAIError

It is `proxy_addon`'s API under the project's own name (`from proxy_addon import Profile`
keeps working, for profiles written before): the same objects, not copies, so a profile
that mixes the two names works. Loaded lazily, as `proxy_addon` is, so that importing it
costs nothing until a name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Profile", "OpenAIError", "ProfileError"]

if TYPE_CHECKING:
    from proxy_addon import OpenAIError, Profile, ProfileError


def __getattr__(name: str) -> Any:
    if name in __all__:
        import proxy_addon

        return getattr(proxy_addon, name)
    raise AttributeError(f"module 'openai_fake' has no attribute {name!r}")
