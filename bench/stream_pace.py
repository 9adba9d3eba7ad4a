"""Do streams arrive at the pace the profile asks for? Configured against measured times, both faces.

    python bench/stream_pace.py [--quick]

A real fake (`openai-fake run`, its own process) answers chat streams paced
with `ttft` and `chunk_delay`; the real openai SDK reads them and notes when
each content delta arrives. For each face it reports the measured time to
the first delta and the gaps between deltas (median and p99), and how far
they are from the configured values. Goal (issue 4): a median error within
20 ms.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import openai

import report
from servers import fake_server

TTFT, DELAY, WORDS = 0.2, 0.05, 40
GOAL_S = 0.020
PROFILE = f"""\
from proxy_addon import Profile

profile = Profile()
profile.chat.completions(choices=[{{"message": {{"content": {" ".join(["word"] * WORDS)!r}}}}}],
                         stream={{"ttft": {TTFT}, "chunk_delay": {DELAY}}})
"""


def measure(client: openai.OpenAI, streams: int) -> tuple[list[float], list[float]]:
    """(times to the first delta, gaps between deltas), in seconds."""
    firsts, gaps = [], []
    for _ in range(streams):
        started = time.monotonic()
        arrivals = []
        for chunk in client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "go"}], stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic())
        firsts.append(arrivals[0] - started)
        gaps += [b - a for a, b in zip(arrivals, arrivals[1:])]
    return firsts, gaps


def main() -> None:
    streams = 3 if report.quick() else 8
    section = report.Section(
        "stream_pace", f"Stream pace: configured ttft {TTFT * 1000:.0f} ms, chunk_delay {DELAY * 1000:.0f} ms (measured, ms)",
        ["face", "what", "median", "p99", "median error", "p99 error"],
        notes=[f"{streams} streams of {WORDS} deltas per face, read by the openai SDK; errors are |measured − configured|."],
    )
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "paced.py"
        profile.write_text(PROFILE)
        with fake_server(Path(tmp), profile=str(profile)) as server:
            faces = {"base-url": openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)}
            os.environ.update(server.env())
            faces["proxy"] = openai.OpenAI(api_key="sk-bench", max_retries=0)
            for face, client in faces.items():
                measure(client, 1)  # warm up: connections, TLS, imports
                firsts, gaps = measure(client, streams)
                for what, values, configured in (("time to first delta", firsts, TTFT), ("gap between deltas", gaps, DELAY)):
                    errors = [abs(v - configured) for v in values]
                    section.rows.append([face, what, *(f"{v * 1000:.1f}" for v in (
                        report.median(values), report.p99(values), report.median(errors), report.p99(errors)))])
                    section.goals.append(report.Goal(f"{face}, {what}: median error ≤ {GOAL_S * 1000:.0f} ms",
                                                     f"{report.median(errors) * 1000:.1f} ms", report.median(errors) <= GOAL_S))
    report.emit([section])


if __name__ == "__main__":
    main()
