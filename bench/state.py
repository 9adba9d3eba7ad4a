"""Does `--state FILE` stall calls when the state is large? Create latency, p50 and p99, with 50 MB stored.

    python bench/state.py [--quick]

Each figure is the time of one `POST /v1/assistants` through the engine, in three
set-ups measured in interleaved rounds: state in memory only (the reference), with a
state file holding nothing else, and with a state file that also holds a 50 MB
uploaded file (quick: 10 MB). Every create is written to the file before it returns.
Goal (issue 12): create p99 with 50 MB stored ≤ 2 × without.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import report
from proxy_addon import Profile
from proxy_addon.engine import Engine, Request
from proxy_addon.state_file import StateFile

AUTH = {"authorization": "Bearer sk-bench", "content-type": "application/json"}
BODY = json.dumps({"model": "gpt-4o", "name": "bench", "metadata": {"k": "v"}}).encode()
GOAL = 2.0
ROUNDS, REPEATS = 20, 100


def engine_with(path: Path | None, stored_bytes: int) -> tuple[Engine, StateFile | None]:
    engine = Engine(Profile())
    store = None
    if path is not None:
        store = StateFile(engine.state, path)
        store.load()
        store.start()
    if stored_bytes:
        boundary = "benchboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * stored_bytes + f"\r\n--{boundary}--\r\n".encode()
        reply = engine.handle(Request("POST", "/v1/files", {**AUTH, "content-type": f"multipart/form-data; boundary={boundary}"}, body))
        assert reply.status == 200, reply.body[:200]
    return engine, store


def creates(engine: Engine, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        reply = engine.handle(Request("POST", "/v1/assistants", AUTH, BODY))
        out.append(time.perf_counter() - t)
        assert reply.status == 200, reply.body[:200]
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    size = 10_000_000 if report.quick() else 50_000_000
    rounds = ROUNDS // 4 if report.quick() else ROUNDS
    with tempfile.TemporaryDirectory() as tmp:
        setups = {
            "in memory (reference)": engine_with(None, 0),
            "state file": engine_with(Path(tmp) / "small.db", 0),
            f"state file, {size // 1_000_000} MB stored": engine_with(Path(tmp) / "large.db", size),
        }
        times: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(rounds):  # interleaved: the machine's drift touches every set-up alike
            for name, (engine, _) in setups.items():
                times[name] += creates(engine, REPEATS)
        on_disk = (Path(tmp) / "large.db").stat().st_size
        for _, store in setups.values():
            if store is not None:
                store.stop()
    names = list(setups)
    section = report.Section("state", "Create latency with `--state FILE` (engine, µs)", ["set-up", "p50", "p99"])
    for name in names:
        section.rows.append([name, f"{report.median(times[name]) * 1e6:.0f}", f"{p99(times[name]) * 1e6:.0f}"])
    small, large = p99(times[names[1]]), p99(times[names[2]])
    section.goals.append(report.Goal(f"create p99 with {size // 1_000_000} MB stored ≤ {GOAL} × without",
                                     report.ratio(large, small), large <= GOAL * small))
    section.notes.append(f"SQLite in WAL mode, one row per change: a create writes its one object, whatever else "
                         f"is stored (the file held {on_disk / 1e6:.0f} MB). {rounds} interleaved rounds of "
                         f"{REPEATS} creates per set-up.")
    report.emit([section])


if __name__ == "__main__":
    main()
