"""Does fetching one page get slower as the store grows? Prints the ratio, measured in one run.

    python bench/pagination.py

Each figure is the median time of one `GET /v1/assistants?limit=20` (first page,
and a page from the middle with `after=`) through the engine, with 1,000 and
with 50,000 stored assistants. A ratio near 1.0 means a page costs the same.
"""

from __future__ import annotations

import statistics
import time

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request

AUTH = {"authorization": "Bearer sk-bench"}


def median_page_seconds(size: int, repeats: int = 300) -> tuple[float, float]:
    engine = Engine(Profile())
    for i in range(size):
        engine.state.put("assistants", {"id": f"asst_{i:06d}", "object": "assistant", "model": "gpt-4o"})
    middle = f"asst_{size // 2:06d}"
    first, after = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        engine.handle(Request("GET", "/v1/assistants", AUTH, query={"limit": "20"}))
        first.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine.handle(Request("GET", "/v1/assistants", AUTH, query={"limit": "20", "after": middle}))
        after.append(time.perf_counter() - t)
    return statistics.median(first), statistics.median(after)


def main() -> None:
    small = median_page_seconds(1_000)
    large = median_page_seconds(50_000)
    print(f"{'page':<12}{'1,000 stored':>16}{'50,000 stored':>16}{'ratio':>8}")
    for name, a, b in (("first", small[0], large[0]), ("after=mid", small[1], large[1])):
        print(f"{name:<12}{a * 1e6:>13.1f} µs{b * 1e6:>13.1f} µs{b / a:>8.2f}")


if __name__ == "__main__":
    main()
