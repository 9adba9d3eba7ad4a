"""Does fetching one page get slower as the store grows? Median page time with 1,000 and 50,000 stored.

    python bench/pagination.py [--quick]

Each figure is the median time of one `GET /v1/assistants?limit=20` (the
first page, and a page from the middle with `after=`) through the engine,
with 1,000 and with 50,000 stored assistants (quick: 1,000 and 10,000). A
ratio near 1.0 means a page costs the same however much is stored. Goal
(issue 6): flat, which this report takes as a ratio of at most 1.5.
"""

from __future__ import annotations

import time

import report
from proxy_addon import Profile
from proxy_addon.engine import Engine, Request

AUTH = {"authorization": "Bearer sk-bench"}
FLAT = 1.5


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
    return report.median(first), report.median(after)


def main() -> None:
    small_size, large_size = (1_000, 10_000) if report.quick() else (1_000, 50_000)
    small, large = median_page_seconds(small_size), median_page_seconds(large_size)
    section = report.Section("pagination", "One list page as the store grows (engine, median µs)",
                             ["page", f"{small_size:,} stored", f"{large_size:,} stored", "ratio"])
    for name, a, b in (("first page", small[0], large[0]), ("after= the middle", small[1], large[1])):
        section.rows.append([name, f"{a * 1e6:.1f}", f"{b * 1e6:.1f}", report.ratio(b, a)])
        section.goals.append(report.Goal(f"{name}: {large_size:,} stored ≤ {FLAT} × {small_size:,} stored (flat)",
                                         report.ratio(b, a), b <= FLAT * a))
    section.notes.append("Each collection keeps its ids in creation order with an index by id, so a page is a "
                         "slice found by one lookup, whatever the size.")
    report.emit([section])


if __name__ == "__main__":
    main()
