from openai.types.beta.thread import Thread

from ._base import merged

__all__ = ["merge_thread_with_partial"]


def merge_thread_with_partial(t: Thread, p: dict) -> Thread:
    """`t` with the fields of `p` in place of its own."""
    return merged(Thread, t, p)
