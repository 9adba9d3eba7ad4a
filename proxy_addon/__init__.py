"""openai-fake: a fake api.openai.com behind a mitmproxy addon.

The profile API:

    from proxy_addon import Profile, OpenAIError
"""

from .engine.errors import OpenAIError
from .profile import Profile, ProfileError

__all__ = ["Profile", "OpenAIError", "ProfileError"]
