"""Does fetching one page get slower as the store grows? Median page time with 1,000 and 50,000 stored.

    python bench/pagination.py [--quick]

Each figure is the median time of one `GET /v1/assistants?limit=20` (the
first page, and a page from the middle with `after=`) through the engine,
with 1,000 and with 50,000 stored assistants (quick: 1,000 and 10,000), the
two sizes measured in interleaved rounds. A ratio near 1.0 means a page costs
the same however much is stored. Goal (issue 6): flat, which this report takes
as a ratio of at most 1.5.
"""

from __future__ import annotations

import time

import report
from proxy_addon import Profile
from proxy_addon.engine import Engine, Request

AUTH = {"authorization": "Bearer sk-bench"}
FLAT = 1.5
ROUNDS, REPEATS = 10, 60


def filled(size: int) -> Engine:
    """An engine whose state holds `size` assistants."""
    engine = Engine(Profile())
    for i in range(size):
        engine.state.put("assistants", {"id": f"asst_{i:06d}", "object": "assistant", "model": "gpt-4o"})
    return engine


def page_seconds(engine: Engine, size: int, repeats: int) -> tuple[list[float], list[float]]:
    """Times of the first page and of a page after the middle, `repeats` of each."""
    middle = f"asst_{size // 2:06d}"
    first, after = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        engine.handle(Request("GET", "/v1/assistants", AUTH, query={"limit": "20"}))
        first.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine.handle(Request("GET", "/v1/assistants", AUTH, query={"limit": "20", "after": middle}))
        after.append(time.perf_counter() - t)
    return first, after


def main() -> None:
    small_size, large_size = (1_000, 10_000) if report.quick() else (1_000, 50_000)
    engines = {small_size: filled(small_size), large_size: filled(large_size)}
    times: dict[int, tuple[list[float], list[float]]] = {size: ([], []) for size in engines}
    for _ in range(ROUNDS):  # interleaved: the machine's drift touches both sizes alike
        for size, engine in engines.items():
            first, after = page_seconds(engine, size, REPEATS)
            times[size][0].extend(first)
            times[size][1].extend(after)
    small = [report.median(t) for t in times[small_size]]
    large = [report.median(t) for t in times[large_size]]
    section = report.Section("pagination", "One list page as the store grows (engine, median µs)",
                             ["page", f"{small_size:,} stored", f"{large_size:,} stored", "ratio"])
    for name, a, b in (("first page", small[0], large[0]), ("after= the middle", small[1], large[1])):
        section.rows.append([name, f"{a * 1e6:.1f}", f"{b * 1e6:.1f}", report.ratio(b, a)])
        section.goals.append(report.Goal(f"{name}: {large_size:,} stored ≤ {FLAT} × {small_size:,} stored (flat)",
                                         report.ratio(b, a), b <= FLAT * a))
    section.notes.append("Each collection keeps its ids in creation order with an index by id, so a page is a "
                         "slice found by one lookup, whatever the size.")
    section.notes.append(f"{ROUNDS} interleaved rounds of {REPEATS} pages of each kind per size; medians of all.")
    report.emit([section])


if __name__ == "__main__":
    main()
