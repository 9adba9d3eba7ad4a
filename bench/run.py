"""Run every benchmark part, print the tables, and write them with the machine's description to BENCHMARKS.md.

    python bench/run.py            # everything, about fifteen minutes on 2 cores
    python bench/run.py --quick    # smaller counts, same shape, a few minutes
    python bench/run.py --only engine,startup

Each part runs in a process of its own (mitmproxy allows one master per
process, and memory is measured per process), one after the other so that
they never compete for the cores. Every figure a part reports is a ratio or a
median against a reference it measured in the same run. `bench/findings.md`
(written by hand: what the profiles showed and what was changed for speed) is
copied after the tables. A part that fails is reported as failed, and the run
goes on; the exit status is 1 if any part failed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import report

BENCH = Path(__file__).resolve().parent
PARTS = ("engine", "pagination", "state", "throughput", "profile", "concurrency", "stream_pace", "startup", "memory", "seed", "inprocess")


def run_part(name: str, quick: bool) -> tuple[list[report.Section], float, bool]:
    """The sections a part reports, how long it took, and whether it ran; a failure becomes a section that says so."""
    import json

    started = time.monotonic()
    args = [sys.executable, str(BENCH / f"{name}.py"), "--json"] + (["--quick"] if quick else [])
    done = subprocess.run(args, capture_output=True, text=True, cwd=BENCH.parent)
    took = time.monotonic() - started
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(report.JSON_MARK) and done.returncode == 0:
            sections = [report.Section(**{**s, "goals": [report.Goal(**g) for g in s["goals"]]})
                        for s in json.loads(line[len(report.JSON_MARK):])]
            return sections, took, True
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    failed = report.Section(name, f"{name}: failed (exit {done.returncode})", ["what"], [[tail]])
    failed.goals.append(report.Goal(f"{name} ran", "failed", False))
    return [failed], took, False


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), "0")
    versions = ", ".join(f"{p} {_version(p)}" for p in ("mitmproxy", "openai", "httpx2", "uvicorn", "orjson"))
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("cpu", f"{cpu}, {os.cpu_count()} cores"),
        ("memory", f"{int(memory) / 1024 / 1024:.1f} GiB"),
        ("system", f"{platform.system()} {platform.release()}"),
        ("python", platform.python_version()),
        ("packages", versions),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def markdown(sections: list[report.Section], facts: list[tuple[str, str]], quick: bool, took: dict[str, float]) -> str:
    goals = [(s, g) for s in sections for g in s.goals]
    met = sum(g.met for _, g in goals)
    out = [
        "# Benchmarks",
        "",
        "Made by `python bench/run.py" + (" --quick" if quick else "") + "`; run it again to reproduce this page on "
        "your machine. Every figure is a ratio or a median measured in the same run as its reference; none of "
        "them is a CI test.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in facts),
        "",
        f"## Goals: {met} of {len(goals)} met",
        "",
        "| part | goal | measured | met |",
        "|---|---|---|---|",
        *(f"| {s.key} | {g.text} | {g.measured} | {'yes' if g.met else '**no**'} |" for s, g in goals),
        "",
    ]
    for section in sections:
        out += [f"## {section.title}", "", "| " + " | ".join(section.columns) + " |",
                "|" + "---|" * len(section.columns)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in section.rows]
        out.append("")
        out += [f"- {note}" for note in section.notes]
        if section.notes:
            out.append("")
        if section.key in took:
            out += [f"_{section.key}: {took[section.key]:.0f} s_", ""]
    findings = BENCH / "findings.md"
    if findings.exists():
        out += [findings.read_text().rstrip(), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="measure less, same shape")
    parser.add_argument("--only", help=f"comma-separated parts (of {', '.join(PARTS)})")
    parser.add_argument("--output", type=Path, default=BENCH.parent / "BENCHMARKS.md", help="where to write the page")
    args = parser.parse_args()
    parts = args.only.split(",") if args.only else list(PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; parts: {', '.join(PARTS)}")
    facts = machine()
    sections: list[report.Section] = []
    took: dict[str, float] = {}
    failed = []
    for name in parts:
        print(f"running {name}...", file=sys.stderr, flush=True)
        found, took[name], ran = run_part(name, args.quick)
        if not ran:
            failed.append(name)
        report.emit(found)  # tables as they come
        sections += found
    facts.append(("load average at end", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    args.output.write_text(markdown(sections, facts, args.quick, took))
    goals = [g for s in sections for g in s.goals]
    print(f"{sum(g.met for g in goals)} of {len(goals)} goals met; written to {args.output}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
