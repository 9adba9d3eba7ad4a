"""How long until the fake answers: `openai-fake run` and `openai-fake exec`, against bare imports.

    python bench/startup.py [--quick]

- `run`: spawn `openai-fake run --port 0 --quiet --confdir <new dir>` and time,
  from the spawn, (a) until `<confdir>/running.json` names the process and
  (b) until the first 200 answer to `GET /v1/models` on the base-URL face. The
  port is not known before: with `--port 0` the running file tells it, and the
  fake writes that file once it listens, so (b) is (a) plus one request,
  including whatever that request makes the fake load first.
  The fake is then killed: its shutdown is not measured.
- `exec -- true`: wall time of `openai-fake exec --confdir <new dir> -- true`
  (start the fake, run `true`, stop the fake, print the summary, exit).
- `exec -- python <one SDK chat call>`: the same with a child Python that imports
  openai and makes one chat call through the proxy face. The child's own import
  dominates, so it is also shown minus a baseline measured in the same run
  (`python -c "import openai; openai.OpenAI()"`): the difference of the medians
  is what `exec` adds to such a command (start, one call, stop). No goal.

Each new confdir gets a copy of a CA made beforehand, as on a user's second and
later runs; the warm-up (one `exec -- true` in an empty confdir, which creates
that CA) is shown as the first-run row, a single sample. The clock starts
before the spawn, with everything the bench itself needs already imported.
References measured in the same run: `python -c pass`, and the imports of
`openai.types.chat`, `mitmproxy.tools.dump` and our CLI with its engine
(`openai_fake_cli.main`), so a reader sees how much of the start is imports. Each measure is repeated (5 runs, 2 with
`--quick`), interleaved round by round; median and max are shown.
Goals (issue 6): median first answer of `run` ≤ 1.5 s; median `exec -- true` ≤ 1.5 s.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import report
from servers import CLI, PROJECT

GOAL_SECONDS = 1.5
AUTH = {"Authorization": "Bearer sk-bench"}
SDK_CALL = ("import openai; openai.OpenAI(max_retries=0).chat.completions.create("
            "model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}])")
SDK_BASELINE = "import openai; openai.OpenAI(max_retries=0)"
# Variables that would point the measured commands somewhere else than the fake under test.
FOREIGN_VARIABLES = ("OPENAI_BASE_URL", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                     "all_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "OPENAI_FAKE_CONFDIR")


def clean_env() -> dict[str, str]:
    """This process's environment without anything that redirects OpenAI traffic, with a dummy key."""
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_VARIABLES}
    env["OPENAI_API_KEY"] = "sk-bench"
    return env


ENV = clean_env()


def wall_seconds(argv: list[str]) -> float:
    """Wall time of a command from spawn to exit; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, cwd=PROJECT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def python_seconds(code: str) -> float:
    return wall_seconds([sys.executable, "-c", code])


class Confdirs:
    """New conf directories under one temporary root, each holding a copy of one CA made once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seed = self.empty()  # the warm-up creates the CA here

    def empty(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.root))

    def with_ca(self) -> Path:
        confdir = self.empty()
        for ca_file in self.seed.glob("mitmproxy-*"):
            shutil.copy2(ca_file, confdir / ca_file.name)
        return confdir


def exec_seconds(confdir: Path, command: list[str]) -> float:
    return wall_seconds([str(CLI), "exec", "--confdir", str(confdir), "--", *command])


def run_seconds(confdir: Path, timeout: float = 60.0) -> tuple[float, float]:
    """Spawn `openai-fake run`; seconds until the running file names it, and until its first 200 answer."""
    running = confdir / "running.json"
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(CLI), "run", "--port", "0", "--quiet", "--confdir", str(confdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, cwd=PROJECT,
    )
    try:
        port = _wait(lambda: _running_port(running, process.pid), process, start + timeout)
        running_at = time.perf_counter() - start
        _wait(lambda: _answers(port), process, start + timeout)
        return running_at, time.perf_counter() - start
    finally:  # its shutdown is not measured: kill it rather than wait for it
        process.kill()
        process.wait()


def _running_port(running: Path, pid: int) -> int | None:
    try:
        info = json.loads(running.read_text())
    except (OSError, ValueError):
        return None  # not written yet (it is replaced atomically, so never half-written)
    return int(info["proxy_url"].rsplit(":", 1)[1]) if info.get("pid") == pid else None


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/v1/models", headers=AUTH)
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _wait(probe: Callable[[], object], process: subprocess.Popen, deadline: float):
    """Poll `probe` every 2 ms until it returns something truthy; fail if the process dies or time runs out."""
    while True:
        result = probe()
        if result:
            return result
        if process.poll() is not None:
            raise RuntimeError(f"openai-fake run exited: {process.stderr.read().decode(errors='replace')}")
        if time.perf_counter() > deadline:
            raise RuntimeError("openai-fake run did not answer in time")
        time.sleep(0.002)


def seconds_row(name: str, samples: list[float]) -> list[str]:
    return [name, f"{report.median(samples):.2f}", f"{max(samples):.2f}", str(len(samples))]


EXEC_TRUE = "exec -- true"
EXEC_SDK = "exec -- python (one SDK chat call)"
SDK_ALONE = "python (SDK import + client, no fake): baseline"


def main() -> None:
    rounds = 2 if report.quick() else 5
    python_command = [sys.executable, "-c", SDK_CALL]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as root:
        confdirs = Confdirs(Path(root))
        first_exec = exec_seconds(confdirs.seed, ["true"])  # warm-up: creates the CA, fills the file cache
        measures: dict[str, Callable[[], float]] = {
            "python -c pass": lambda: python_seconds("pass"),
            "python -c 'import openai.types.chat'": lambda: python_seconds("import openai.types.chat"),
            "python -c 'import mitmproxy.tools.dump'": lambda: python_seconds("import mitmproxy.tools.dump"),
            "python -c 'import openai_fake_cli.main' (our CLI + engine)":
                lambda: python_seconds("import openai_fake_cli.main"),
            EXEC_TRUE: lambda: exec_seconds(confdirs.with_ca(), ["true"]),
            EXEC_SDK: lambda: exec_seconds(confdirs.with_ca(), python_command),
            SDK_ALONE: lambda: python_seconds(SDK_BASELINE),
        }
        samples: dict[str, list[float]] = {name: [] for name in measures}
        running_file, first_answer = [], []
        for _ in range(rounds):  # interleaved, so that noise spreads over every measure alike
            running_at, answered_at = run_seconds(confdirs.with_ca())
            running_file.append(running_at)
            first_answer.append(answered_at)
            for name, measure in measures.items():
                samples[name].append(measure())

    references = list(samples)[:4]
    sdk_overhead = report.median(samples[EXEC_SDK]) - report.median(samples[SDK_ALONE])
    rows = [seconds_row(name, samples[name]) for name in references]
    rows += [
        seconds_row("run: running.json written", running_file),
        seconds_row("run: first answer (GET /v1/models)", first_answer),
        seconds_row(EXEC_TRUE, samples[EXEC_TRUE]),
        ["exec -- true, empty confdir (creates the CA; the warm-up)", f"{first_exec:.2f}", f"{first_exec:.2f}", "1"],
        seconds_row(EXEC_SDK, samples[EXEC_SDK]),
        seconds_row(SDK_ALONE, samples[SDK_ALONE]),
        ["exec's share of the SDK call (difference of medians)", f"{sdk_overhead:.2f}", "—", "—"],
    ]
    run_median, exec_median = report.median(first_answer), report.median(samples[EXEC_TRUE])
    section = report.Section(
        key="startup",
        title="Start-up: seconds from spawn (wall time)",
        columns=["measure", "median s", "max s", "runs"],
        rows=rows,
        goals=[
            report.Goal(f"`openai-fake run`: first answer ≤ {GOAL_SECONDS} s (median)", f"{run_median:.2f} s",
                        run_median <= GOAL_SECONDS),
            report.Goal(f"`openai-fake exec -- true` ≤ {GOAL_SECONDS} s (median)", f"{exec_median:.2f} s",
                        exec_median <= GOAL_SECONDS),
        ],
        notes=[
            "run: port 0, so the port is unknown until running.json names it; the fake writes that file once it "
            "listens; the first answer comes one request later, including what that request makes the fake load.",
            "Every confdir is new and holds a copy of one CA, as on a user's later runs; the empty-confdir row is "
            "the single warm-up run that created it.",
            "The first four rows are references: a bare interpreter and the imports the fake needs.",
        ],
    )
    report.emit([section])


if __name__ == "__main__":
    main()
