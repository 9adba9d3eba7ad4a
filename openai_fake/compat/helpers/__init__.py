"""openai-responses' helpers: `builders` (SDK objects from a request, or from a partial) and `mergers`."""

from . import builders, mergers

__all__ = ["builders", "mergers"]
