"""Do streams arrive at the pace the profile asks for? Prints configured against measured times.

    python bench/stream_pace.py

A real fake (proxy and base-URL face) answers chat streams paced with
`ttft` and `chunk_delay`; the real openai SDK reads them and notes when each
content delta arrives. For each face it prints the median and p99 of
|measured - configured| for the time to the first delta and for the gaps
between deltas. The goal (issue 4) is a median error within 20 ms.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import openai

from proxy_addon import Profile
from proxy_addon.runner import Runner

TTFT, DELAY, WORDS, STREAMS = 0.2, 0.05, 40, 8


def measure(client: openai.OpenAI) -> tuple[list[float], list[float]]:
    first_errors, gap_errors = [], []
    for _ in range(STREAMS):
        started = time.monotonic()
        arrivals = []
        for chunk in client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "go"}], stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic())
        first_errors.append(abs(arrivals[0] - started - TTFT))
        gap_errors += [abs(b - a - DELAY) for a, b in zip(arrivals, arrivals[1:])]
    return first_errors, gap_errors


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def main() -> None:
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": " ".join(["word"] * WORDS)}}],
                             stream={"ttft": TTFT, "chunk_delay": DELAY})
    with tempfile.TemporaryDirectory() as confdir, Runner(profile, port=0, confdir=confdir) as runner:
        faces = {
            "base-url": openai.OpenAI(base_url=runner.base_url, api_key="sk-bench", max_retries=0),
        }
        os.environ.update(runner.env())
        os.environ.pop("OPENAI_BASE_URL", None)
        faces["proxy"] = openai.OpenAI(api_key="sk-bench", max_retries=0)
        print(f"configured: ttft {TTFT * 1000:.0f} ms, chunk_delay {DELAY * 1000:.0f} ms; {STREAMS} streams of {WORDS} deltas per face")
        print(f"{'face':<10}{'ttft err median':>17}{'p99':>9}{'gap err median':>17}{'p99':>9}")
        for name, client in faces.items():
            measure(client)  # warm up: connections, imports
            first, gaps = measure(client)
            print(f"{name:<10}{statistics.median(first) * 1000:>14.1f} ms{p99(first) * 1000:>6.1f} ms"
                  f"{statistics.median(gaps) * 1000:>14.1f} ms{p99(gaps) * 1000:>6.1f} ms")


if __name__ == "__main__":
    main()
