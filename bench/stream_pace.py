"""Do streams arrive at the pace the profile asks for? Configured against measured times, every face.

    python bench/stream_pace.py [--quick]

A real fake (`openai-fake run`, its own process) answers chat streams paced
with `ttft` and `chunk_delay`; the real openai SDK reads them and notes when
each content delta arrives. For each face (the base-URL face on the proxy's
port and on its own, `asgi_face.py`; the proxy) it reports the measured time to
the first delta and the gaps between deltas (median and p99), and how far
they are from the configured values, with the round trip of a whole chat
call on the same face as a reference. Goal (issue 4): a median error within
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

TTFT, DELAY, WORDS = 0.2, 0.05, 12
GOAL_S = 0.020
MESSAGES = [{"role": "user", "content": "go"}]
PROFILE = f"""\
from proxy_addon import Profile

profile = Profile()
profile.chat.completions(choices=[{{"message": {{"content": {" ".join(["word"] * WORDS)!r}}}}}],
                         stream={{"ttft": {TTFT}, "chunk_delay": {DELAY}}})
"""


def one_stream(client: openai.OpenAI) -> tuple[float, list[float]]:
    """(time to the first delta, gaps between deltas) of one stream, in seconds, from before the call."""
    started = time.monotonic()
    arrivals = []
    for chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    return arrivals[0] - started, [b - a for a, b in zip(arrivals, arrivals[1:])]


def round_trip(client: openai.OpenAI) -> float:
    """One whole (unstreamed, so unpaced) chat call: what the request and an answer cost on this face."""
    started = time.monotonic()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    return time.monotonic() - started


def main() -> None:
    streams = 6 if report.quick() else 24
    section = report.Section(
        "stream_pace", f"Stream pace: configured ttft {TTFT * 1000:.0f} ms, chunk_delay {DELAY * 1000:.0f} ms (measured, ms)",
        ["face", "what", "median", "p99", "median error", "p99 error"],
        notes=[f"{streams} streams of {WORDS} deltas per face, the faces taking turns, read by the openai SDK; "
               "errors are |measured − configured|. The time to the first delta is from before the SDK call, so "
               "it holds the request's way to the fake and the delta's way back: the round-trip row (a whole, "
               "unpaced chat call on the same face, taking turns with the streams) shows what that way costs."],
    )
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "paced.py"
        profile.write_text(PROFILE)
        with fake_server(Path(tmp), profile=str(profile)) as server:
            faces = {"base-url": openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0),
                     "base-url own port": openai.OpenAI(base_url=server.own_base_url, api_key="sk-bench", max_retries=0)}
            os.environ.update(server.env())
            faces["proxy"] = openai.OpenAI(api_key="sk-bench", max_retries=0)
            measured: dict[str, tuple[list[float], list[float], list[float]]] = {face: ([], [], []) for face in faces}
            for client in faces.values():  # warm up: connections, TLS, imports
                one_stream(client), round_trip(client)
            for n in range(streams):
                for face in (faces if n % 2 == 0 else list(faces)[::-1]):
                    first, gaps = one_stream(faces[face])
                    measured[face][0].append(first)
                    measured[face][1].extend(gaps)
                    measured[face][2].append(round_trip(faces[face]))
            for face, (firsts, gaps, trips) in measured.items():
                for what, values, configured in (("time to first delta", firsts, TTFT), ("gap between deltas", gaps, DELAY)):
                    errors = [abs(v - configured) for v in values]
                    section.rows.append([face, what, *(f"{v * 1000:.1f}" for v in (
                        report.median(values), report.p99(values), report.median(errors), report.p99(errors)))])
                    section.goals.append(report.Goal(f"{face}, {what}: median error ≤ {GOAL_S * 1000:.0f} ms",
                                                     f"{report.median(errors) * 1000:.1f} ms", report.median(errors) <= GOAL_S))
                section.rows.append([face, "round trip of a whole chat call (reference)", f"{report.median(trips) * 1000:.1f}",
                                     f"{report.p99(trips) * 1000:.1f}", "", ""])
    report.emit([section])


if __name__ == "__main__":
    main()
