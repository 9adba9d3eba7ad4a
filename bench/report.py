"""What every benchmark part reports, and how: sections of rows, goals met or not, and notes.

A part is a script (`python bench/<part>.py`) that builds `Section`s and calls
`emit(sections)`. Alone it prints them as tables; under `bench/run.py` (with
`--json`) it prints them as one JSON line, which the runner collects into
BENCHMARKS.md. `quick()` tells a part to measure less, for a fast look.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import asdict, dataclass, field

JSON_MARK = "BENCH-JSON "


@dataclass
class Goal:
    """A target from issue 6, and whether this run met it."""

    text: str  # what was asked, e.g. "proxy ≥ 0.9 × bare mitmproxy (sequential)"
    measured: str  # what this run measured, e.g. "0.93"
    met: bool


@dataclass
class Section:
    """One table of figures measured in one run, with the goals they decide."""

    key: str  # a stable name, e.g. "throughput"
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def quick() -> bool:
    """Whether to measure less (`--quick`): smaller counts, same shape."""
    return "--quick" in sys.argv


def emit(sections: list[Section]) -> None:
    """Print the sections: one JSON line under the runner (`--json`), tables otherwise."""
    if "--json" in sys.argv:
        print(JSON_MARK + json.dumps([asdict(s) for s in sections]), flush=True)
        return
    from rich.console import Console

    console = Console()
    for section in sections:
        console.print(table(section))
        for goal in section.goals:
            mark = "[green]met[/]" if goal.met else "[red]not met[/]"
            console.print(f"  goal: {goal.text}: {goal.measured} — {mark}")
        for note in section.notes:
            console.print(f"  [dim]{note}[/]")
        console.print()


def table(section: Section):
    from rich.table import Table

    t = Table(title=section.title, title_justify="left")
    for i, column in enumerate(section.columns):
        t.add_column(column, justify="left" if i == 0 else "right")
    for row in section.rows:
        t.add_row(*row)
    return t


# -- statistics: one definition for every part ------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * 99 // 100) - 1))]


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else "n/a"
