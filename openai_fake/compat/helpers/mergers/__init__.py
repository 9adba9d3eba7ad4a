"""openai-responses' mergers: an SDK object with a partial dict laid over its top-level fields."""

from . import assistants, runs, threads

__all__ = ["assistants", "runs", "threads"]
