from openai.types.beta.threads.run import Run

from ._base import merged

__all__ = ["merge_run_with_partial"]


def merge_run_with_partial(r: Run, p: dict) -> Run:
    """`r` with the fields of `p` in place of its own."""
    return merged(Run, r, p)
