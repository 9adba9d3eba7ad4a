from __future__ import annotations

from openai.types.beta.threads.runs.run_step import RunStep

from ._base import whole

__all__ = ["build_run_step"]


def build_run_step(partial: dict) -> RunStep:
    """A run step from a partial: a fresh `step_` id and `created_at` now, the fields it lacks filled in."""
    return whole(RunStep, partial, "step_", "thread.run.step")
