from openai.types.beta.assistant import Assistant

from ._base import merged

__all__ = ["merge_assistant_with_partial"]


def merge_assistant_with_partial(a: Assistant, p: dict) -> Assistant:
    """`a` with the fields of `p` in place of its own."""
    return merged(Assistant, a, p)
