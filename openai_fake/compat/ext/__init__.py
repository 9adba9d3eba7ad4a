"""openai-responses' `ext`: the HTTP library the SDK uses (`httpx`: here httpx2, openai 3's) and `respx`'s names."""

from . import httpx, respx

__all__ = ["httpx", "respx"]
