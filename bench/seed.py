"""The same pytest suite against the seed library (openai-responses) and our `openai_fake` fixture.

    python bench/seed.py [--quick]

One description below (`CASES`: 10 kinds of test, each with 3 SDK calls and
asserts on the answers) is rendered twice into a temp dir, 3 tests per kind,
30 tests per suite:

- **seed**: `@openai_responses.mock()` tests (openai-responses 0.13.1's API,
  `openai_mock.<route>.response = {...}`), run with openai 2.x in a venv of
  their own, which this script makes once at `bench/.cache/seed/venv` (and
  reuses while its versions are right);
- **fake**: `openai_fake` tests, run with this Python (openai 3.x), which
  starts one mitmproxy per session.

Each suite runs as `python -m pytest -q -p no:cacheprovider` from its own dir
(a `pytest.ini` and a clock `conftest.py` there, so no project config
applies), with plugin autoload off and only its library's plugin loaded with
`-p`, a dummy `OPENAI_API_KEY` and no proxy or `OPENAI_BASE_URL` variables.
Neither leaves the machine: respx (the seed) raises on any request it does not
mock, and the fixture sends the SDK to its own proxy, which answers every
OpenAI host itself. A run counts only if pytest exits 0 with 30 passed. After one
untimed warm-up run each, the suites run alternately (seed, fake, seed, ...)
and each row is the median: the wall time of the whole pytest process, and the
time inside the session (conftest clock: `pytest_sessionstart` to
`pytest_sessionfinish`, which includes collection and the session fixture's
start and stop), split into collection, the first test's setup (where the
fake starts its proxy), and the median test (setup + call + teardown).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

import report

BENCH = Path(__file__).resolve().parent
SEED_VENV = BENCH / ".cache" / "seed" / "venv"
SEED_PYTHON = SEED_VENV / "bin" / "python"
SEED_REQUIREMENTS = ["openai-responses==0.13.1", "openai>=2,<3", "pytest"]
VALUES = ("alpha", "bravo", "charlie")  # one test per value and kind
TESTS = 10 * len(VALUES)
#: Variables that would steer a client (or pytest) elsewhere; a proxy variable also costs the seed's
#: client a second SSL context per `OpenAI()`, which the seed does not need.
STEERING = ("OPENAI_", "PYTEST_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


# -- the suite: one description, rendered for each library -------------------------------------


@dataclass
class Case:
    """A kind of test: how each library is told the answer, then 3 SDK calls with asserts (shared).

    Templates take `$value` (a word) and `$n` (1, 2, 3), so the 3 tests of a kind differ.
    """

    kind: str
    body: str
    seed_setup: str = ""  # lines using `openai_mock` (openai-responses 0.13.1)
    fake_setup: str = ""  # lines using `openai_fake`


CHAT_SEED = ('openai_mock.chat.completions.create.response = {"choices": [{"index": 0, "finish_reason": "stop", '
             '"message": {"role": "assistant", "content": "Hi $value"}}]}')
CHAT_FAKE = 'openai_fake.chat.completions(choices=[{"message": {"content": "Hi $value"}}])'
VECTOR = "[0.5, -0.25, $n.125]"  # exact in float32 and JSON
EMBED_SEED = ('openai_mock.embeddings.create.response = {"data": [{"object": "embedding", "index": 0, '
              f'"embedding": {VECTOR}}}]}}')
EMBED_FAKE = f"openai_fake.embeddings(embedding={VECTOR})"
ASK = ('reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "$value?"}])\n'
       'assert reply.choices[0].message.content == "Hi $value"')
EMBED = ('vectors = client.embeddings.create(model="text-embedding-3-small", input="$value", encoding_format="float")\n'
         f"assert vectors.data[0].embedding == {VECTOR}")

CASES = [
    Case("chat", "\n".join([ASK] * 3), CHAT_SEED, CHAT_FAKE),
    Case("embeddings", "\n".join([EMBED] * 3), EMBED_SEED, EMBED_FAKE),
    Case("chat_and_embeddings", "\n".join([ASK, EMBED, ASK]), f"{CHAT_SEED}\n{EMBED_SEED}", f"{CHAT_FAKE}\n{EMBED_FAKE}"),
    Case("assistant", """\
created = client.beta.assistants.create(model="gpt-4o", name="Tutor $value", instructions="Teach $value.")
found = client.beta.assistants.retrieve(created.id)
assert (found.name, found.instructions) == ("Tutor $value", "Teach $value.")
assert client.beta.assistants.update(created.id, name="Coach $value").name == "Coach $value"
"""),
    Case("assistant_list", """\
first = client.beta.assistants.create(model="gpt-4o", name="A $value")
second = client.beta.assistants.create(model="gpt-4o", name="B $value")
assert {a.id for a in client.beta.assistants.list().data} == {first.id, second.id}
"""),
    Case("thread", """\
thread = client.beta.threads.create(metadata={"topic": "$value"})
assert client.beta.threads.retrieve(thread.id).metadata == {"topic": "$value"}
assert client.beta.threads.delete(thread.id).deleted
"""),
    Case("message", """\
thread = client.beta.threads.create()
client.beta.threads.messages.create(thread.id, role="user", content="Tell me about $value")
assert client.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "Tell me about $value"
"""),
    Case("file", """\
uploaded = client.files.create(file=("$value.jsonl", b'{"word": "$value"}\\n'), purpose="assistants")
assert uploaded.filename == "$value.jsonl"
assert client.files.retrieve(uploaded.id).filename == "$value.jsonl"
assert client.files.delete(uploaded.id).deleted
"""),
    Case("run", """\
assistant = client.beta.assistants.create(model="gpt-4o", name="Runner $value")
thread = client.beta.threads.create()
run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
assert (run.thread_id, run.assistant_id) == (thread.id, assistant.id)
"""),
    Case("vector_store", """\
store = client.vector_stores.create(name="Docs $value")
assert client.vector_stores.retrieve(store.id).name == "Docs $value"
assert client.vector_stores.delete(store.id).deleted
"""),
]
assert len(CASES) * len(VALUES) == TESTS


@dataclass
class Library:
    """How one library's tests look and how its pytest runs."""

    name: str
    python: Path
    plugin: str  # loaded with -p (autoload is off)
    imports: str
    signature: str  # the decorator (if any) and def line, with $name
    setup_of: str  # the Case field with this library's setup lines


SEED = Library("seed", SEED_PYTHON, "openai_responses.plugin", "import openai_responses\nfrom openai import OpenAI\n",
               "@openai_responses.mock()\ndef $name(openai_mock):", "seed_setup")
FAKE = Library("fake", Path(sys.executable), "proxy_addon.pytest_plugin", "from openai import OpenAI\n",
               "def $name(openai_fake):", "fake_setup")

#: Records the session's clock for the bench (the suite's dir is its rootdir).
CLOCK_CONFTEST = '''\
import json, os, time

_clock = {"tests": {}}


def pytest_sessionstart(session):
    _clock["start"] = time.perf_counter()


def pytest_collection_finish(session):
    _clock["collected"] = time.perf_counter()


def pytest_runtest_logreport(report):
    _clock["tests"].setdefault(report.nodeid, {})[report.when] = report.duration


def pytest_sessionfinish(session):
    _clock["finish"] = time.perf_counter()
    with open(os.environ["BENCH_SEED_CLOCK"], "w") as f:
        json.dump(_clock, f)
'''


def indent(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.strip().splitlines())


def render_module(library: Library, case: Case) -> str:
    """One test module: the kind's tests, one per value, in this library's idiom."""
    parts = [library.imports]
    for n, value in enumerate(VALUES, 1):
        words = {"value": value, "n": n, "name": f"test_{case.kind}_{value}"}
        code = Template(getattr(case, library.setup_of) + "\nclient = OpenAI()\n" + case.body).substitute(words)
        parts.append("\n\n" + Template(library.signature).substitute(words) + "\n" + indent(code))
    return "".join(parts)


def write_suite(library: Library, root: Path) -> Path:
    """The library's suite in `root/<name>`: its own ini (the rootdir), the clock conftest, the modules."""
    folder = root / library.name
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "conftest.py").write_text(CLOCK_CONFTEST)
    for case in CASES:
        (folder / f"test_{case.kind}.py").write_text(render_module(library, case))
    return folder


# -- the seed's venv ------------------------------------------------------------------------------

VERSIONS = ("import importlib.metadata as m, json; "
            "print(json.dumps({d: m.version(d) for d in ('openai', 'openai-responses', 'pytest', 'respx')}))")


def installed_versions(python: Path) -> dict[str, str] | None:
    """What the venv holds, or None when it is missing or incomplete."""
    if not python.exists():
        return None
    done = subprocess.run([str(python), "-c", VERSIONS], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else None


def seed_venv() -> dict[str, str]:
    """Make (once) the seed's venv with openai-responses 0.13.1 and openai 2.x; its versions."""
    versions = installed_versions(SEED_PYTHON)
    if versions and versions["openai-responses"] == "0.13.1" and versions["openai"].startswith("2."):
        return versions
    print(f"making the seed's venv at {SEED_VENV} (once)", file=sys.stderr)
    for command in ([sys.executable, "-m", "venv", "--clear", str(SEED_VENV)],
                    [str(SEED_PYTHON), "-m", "pip", "install", "--quiet", *SEED_REQUIREMENTS]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    versions = installed_versions(SEED_PYTHON)
    if not versions:
        raise RuntimeError(f"the seed's venv at {SEED_VENV} is incomplete")
    return versions


# -- running a suite ----------------------------------------------------------------------------


@dataclass
class Run:
    """One pytest process: its wall time and the session's clock."""

    wall: float
    session: float
    collection: float
    first_setup: float  # the first test's setup: where the fake starts its proxy
    tests: list[float]  # setup + call + teardown of each test


def suite_env(clock: Path) -> dict[str, str]:
    """This environment, minus anything that steers a client or pytest, plus a dummy key and the clock's file."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(STEERING)}
    env.update(OPENAI_API_KEY="sk-bench-dummy", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", BENCH_SEED_CLOCK=str(clock))
    return env


def run_suite(library: Library, folder: Path) -> Run:
    """Run the suite once; raise with pytest's output unless it exits 0 with every test passed."""
    clock = folder / "clock.json"
    clock.unlink(missing_ok=True)
    command = [str(library.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", library.plugin, "."]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=suite_env(clock), capture_output=True, text=True)
    wall = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    passed = re.search(r"(\d+) passed", summary)
    if done.returncode or not passed or int(passed[1]) != TESTS or re.search(r"failed|error", summary):
        raise RuntimeError(f"the {library.name} suite did not pass ({summary or 'no summary'}):\n"
                           f"{done.stdout[-4000:]}{done.stderr[-2000:]}")
    times = json.loads(clock.read_text())
    tests = [sum(phases.values()) for phases in times["tests"].values()]
    first = next(iter(times["tests"].values()))
    return Run(wall, times["finish"] - times["start"], times["collected"] - times["start"], first["setup"], tests)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def main() -> None:
    versions = seed_venv()
    repeats = 1 if report.quick() else 3
    runs: dict[str, list[Run]] = {"seed": [], "fake": []}
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        folders = {lib.name: write_suite(lib, Path(tmp)) for lib in (SEED, FAKE)}
        for lib in (SEED, FAKE):  # warm-up: bytecode, the OS's file cache; and a check that both pass
            run_suite(lib, folders[lib.name])
        for _ in range(repeats):
            for lib in (SEED, FAKE):
                runs[lib.name].append(run_suite(lib, folders[lib.name]))

    def figure(name: str, measure) -> float:
        return report.median([measure(r) for r in runs[name]])

    measures = [
        ("whole pytest process (wall)", lambda r: r.wall),
        ("  start-up, before the session", lambda r: r.wall - r.session),
        ("in session (start → finish)", lambda r: r.session),
        (f"in session / {TESTS} tests", lambda r: r.session / TESTS),
        ("  collection (imports the tests)", lambda r: r.collection),
        ("  first test's setup", lambda r: r.first_setup),
        ("  median test (setup+call+teardown)", lambda r: report.median(r.tests)),
    ]
    rows = []
    for label, measure in measures:
        seed, fake = figure("seed", measure), figure("fake", measure)
        rows.append([label, ms(seed), ms(fake), report.ratio(fake, seed)])
    wall_seed, wall_fake = figure("seed", lambda r: r.wall), figure("fake", lambda r: r.wall)
    goal = report.Goal("fake wall ≤ seed wall (ours: the issue asks for the ratio)", report.ratio(wall_fake, wall_seed),
                       wall_fake <= wall_seed)
    notes = [
        f"{len(CASES)} kinds × {len(VALUES)} = {TESTS} tests of 3 SDK calls each, asserting on the answers; "
        f"median of {repeats} alternating run(s) after one warm-up each.",
        f"seed venv: openai-responses {versions['openai-responses']}, openai {versions['openai']}, "
        f"respx {versions['respx']}, pytest {versions['pytest']} (in-process respx mock of httpx); "
        f"fake: openai {_version('openai')}, pytest {_version('pytest')}, mitmproxy {_version('mitmproxy')} "
        "(one proxy per session, each call a real HTTPS request through it).",
        "In-session time is the conftest clock from pytest_sessionstart to pytest_sessionfinish. The seed's "
        "plugin imports openai and its routes before the session; the fake's plugin imports nothing until "
        "the first test, so its collection imports openai and its first test's setup imports the engine "
        "(which imports openai.types.beta) and starts mitmproxy.",
        "Per test, the fake's OpenAI() builds two SSL contexts (HTTPS_PROXY adds a proxy transport) where the "
        "seed's builds one from certifi; under the fixture both read the fake's CA bundle as a hashed directory "
        "(SSL_CERT_DIR), which costs nothing until a handshake. Each of the fake's calls is a real HTTPS request "
        "through the proxy; the seed's calls never leave the process.",
    ]
    report.emit([report.Section("seed", "The same 30-test suite: openai-responses (seed) vs openai_fake",
                                ["", "seed", "fake", "fake/seed"], rows, [goal], notes)])


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


if __name__ == "__main__":
    main()
