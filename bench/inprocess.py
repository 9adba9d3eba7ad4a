"""The cost of one SDK call through the in-process path, against the seed's in-process mock (issue 15).

    python bench/inprocess.py [--quick]

Both answer in the test's own process, without a socket:

- **seed**: openai-responses 0.13.1 (respx patching httpx) with openai 2.x, in the venv of its
  own that `bench/seed.py` makes once at `bench/.cache/seed/venv`; the answers set with
  `openai_mock.<route>.response = {...}` inside `@openai_responses.mock()`;
- **in-process**: this Python's openai 3.x inside `openai_fake.running(profile, in_process=True)`,
  an unmodified `OpenAI()` (the opt-in path a test gets from `@pytest.mark.openai_fake(in_process=True)`:
  `openai_fake.transport` under the SDK's default client, the engine and journal of a fake that
  never listens).

One worker script, rendered for each library, runs in a process of its own: per kind of call
(a chat completion, float embeddings, an assistant created then retrieved) it warms up, then
times batches of calls on one client, and reports the median batch's CPU time per call; it also
times building an `OpenAI()` (a suite builds one per test). Beside each batch it times a batch
of the same calls answered by a transport that replays the library's own answers: the SDK's
cost by itself (the "floor"), so that what each mock adds can be told from what the SDK costs. Workers run alternately (seed,
in-process, seed, ...) and each figure is the median over the rounds; the ratio is the median
of the ratios within each round. Both processes get this environment less anything that
steers a client (`OPENAI_*`, proxies) plus a dummy key: neither sends anything anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from string import Template

import dataclasses

import report
import seed as seed_suite
from seed import SEED_PYTHON, STEERING, seed_venv

ROUNDS = 2 if report.quick() else 5
CALLS = 60 if report.quick() else 200  # per batch
BATCHES = 3 if report.quick() else 5
GOAL = 0.5  # issue 15: the in-process path costs at most half the seed's per call

WORKER = Template('''
import json, statistics, sys, time
$imports

VECTOR = [0.5, -0.25, 0.125]
MESSAGES = [{"role": "user", "content": "Say hello"}]


def chat(client):
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices[0].message.content == "Hi there", reply


def embeddings(client):
    vectors = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
    assert vectors.data[0].embedding == VECTOR, vectors


def assistant(client):  # two calls: a create and a retrieve
    created = client.beta.assistants.create(model="gpt-4o", name="Tutor")
    assert client.beta.assistants.retrieve(created.id).name == "Tutor"


KINDS = {"chat": (chat, 1), "embeddings": (embeddings, 1), "assistant": (assistant, 2)}


def batch(work, client, calls):
    """CPU seconds per call of one batch: this process's own time, which other processes on the machine
    do not stretch (the machine is shared: wall time moved by 2x between runs)."""
    started = time.process_time()
    for _ in range(calls):
        work(client)
    return (time.process_time() - started) / calls


def _key(request):
    """A call's kind: its method and path, ids left out (`GET /v1/assistants/<id>`)."""
    parts = request.url.path.split("/")
    return request.method, tuple(parts[:3]), len(parts)


class Recorder(httpx.BaseTransport):
    """Passes calls on, and keeps each kind's first answer (status, headers, bytes)."""

    def __init__(self, inner):
        self.inner, self.kept = inner, {}

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        body = response.read()
        self.kept.setdefault(_key(request), (response.status_code, list(response.headers.raw), body))
        return httpx.Response(response.status_code, headers=response.headers.raw, content=body)


class Replay(httpx.BaseTransport):
    """Answers each kind of call with the bytes recorded for it: the SDK alone, no mock behind it."""

    def __init__(self, kept):
        self.kept = kept

    def handle_request(self, request):
        request.read()
        status, headers, body = self.kept[_key(request)]
        return httpx.Response(status, headers=headers, content=body)


def measure(calls, batches, inner):
    """Per kind: the cost per call through the library ("lib"), and of the same calls answered by `Replay`
    with the answers the library gave ("floor": what the SDK costs by itself), batches of the two
    alternating; then building an `OpenAI()`."""
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # the Assistants API
    client = OpenAI()
    recorder = Recorder(inner)
    recording = OpenAI(http_client=DefaultHttpxClient(transport=recorder))
    for work, _ in KINDS.values():
        work(recording)
    replaying = OpenAI(http_client=DefaultHttpxClient(transport=Replay(recorder.kept)))
    times = {}
    for name, (work, sdk_calls) in KINDS.items():
        for c in (client, replaying):  # warm-up
            for _ in range(max(20, calls // 4)):
                work(c)
        for _ in range(batches):
            times.setdefault(name, []).append(batch(work, client, calls) / sdk_calls)
            times.setdefault(name + " floor", []).append(batch(work, replaying, calls) / sdk_calls)
    out = {key: statistics.median(values) for key, values in times.items()}
    started = time.process_time()
    for _ in range(calls // 4):
        OpenAI().close()
    out["client"] = (time.process_time() - started) / (calls // 4)
    return out


$run
''')

SEED = dict(
    imports="import httpx, openai_responses\nfrom openai import DefaultHttpxClient, OpenAI",
    run='''
@openai_responses.mock()
def main(openai_mock):
    openai_mock.chat.completions.create.response = {"choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Hi there"}}]}
    openai_mock.embeddings.create.response = {"data": [{"object": "embedding", "index": 0, "embedding": VECTOR}]}
    return measure(int(sys.argv[1]), int(sys.argv[2]), httpx.HTTPTransport())  # respx answers below it

print(json.dumps(main()))
''')

IN_PROCESS = dict(
    imports="import httpx2 as httpx, openai_fake\nfrom openai import DefaultHttpxClient, OpenAI\nfrom openai_fake import Profile",
    run='''
profile = Profile()
profile.chat.completions(choices=[{"message": {"content": "Hi there"}}])
profile.embeddings(embedding=VECTOR)
with openai_fake.running(profile, in_process=True):
    print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2]), openai_fake.transport())))
''')


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith(STEERING)}
    clean["OPENAI_API_KEY"] = "sk-bench-dummy"
    return clean


def run_worker(python: Path, script: Path) -> dict[str, float]:
    done = subprocess.run([str(python), str(script), str(CALLS), str(BATCHES)], capture_output=True, text=True,
                          env=env(), timeout=600, cwd=script.parent)
    if done.returncode:
        raise RuntimeError(f"{script.name} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def suite_rows() -> tuple[list[list[str]], report.Goal, str]:
    """bench/seed.py's 30-test suite, run by the seed and by the fixture with `openai_fake_in_process = true`
    (alternating, after a warm-up each): the wall time of the whole pytest process."""
    in_process = dataclasses.replace(seed_suite.FAKE, name="in-process")
    libraries = (seed_suite.SEED, in_process)
    repeats = 1 if report.quick() else 3
    walls: dict[str, list[float]] = {lib.name: [] for lib in libraries}
    sessions: dict[str, list[float]] = {lib.name: [] for lib in libraries}
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-suite-") as tmp:
        folders = {lib.name: seed_suite.write_suite(lib, Path(tmp)) for lib in libraries}
        ini = folders["in-process"] / "pytest.ini"
        ini.write_text(ini.read_text() + "openai_fake_in_process = true\n")
        for lib in libraries:
            seed_suite.run_suite(lib, folders[lib.name])  # warm-up, and a check that both pass
        for _ in range(repeats):
            for lib in libraries:
                run = seed_suite.run_suite(lib, folders[lib.name])
                walls[lib.name].append(run.wall)
                sessions[lib.name].append(run.session)
    seed, ours = report.median(walls["seed"]), report.median(walls["in-process"])
    rows = [[f"the {seed_suite.TESTS}-test suite of bench/seed.py: pytest process (wall)", seed_suite.ms(seed),
             seed_suite.ms(ours), report.ratio(ours, seed)],
            ["  of which in session", seed_suite.ms(report.median(sessions["seed"])),
             seed_suite.ms(report.median(sessions["in-process"])),
             report.ratio(report.median(sessions["in-process"]), report.median(sessions["seed"]))]]
    goal = report.Goal("the suite in process: wall ≤ seed's", report.ratio(ours, seed), ours <= seed)
    note = (f"The suite: bench/seed.py's ({seed_suite.TESTS} tests of 3 SDK calls), its fake version run with "
            f"`openai_fake_in_process = true` in its pytest.ini; median of {repeats} alternating run(s) after a "
            "warm-up each, wall time (a whole process: imports and start-up included).")
    return rows, goal, note


def times(x: float) -> str:
    return f"{x:.2f}" if x >= 0.01 else f"{x:.3f}"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def main() -> None:
    versions = seed_venv()
    runs: dict[str, list[dict[str, float]]] = {"seed": [], "in-process": []}
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as tmp:
        scripts = {}
        for name, parts in (("seed", SEED), ("in-process", IN_PROCESS)):
            scripts[name] = Path(tmp) / f"{name.replace('-', '_')}.py"
            scripts[name].write_text(WORKER.substitute(parts))
        pythons = {"seed": SEED_PYTHON, "in-process": Path(sys.executable)}
        for _ in range(ROUNDS):
            for name in ("seed", "in-process"):
                runs[name].append(run_worker(pythons[name], scripts[name]))

    labels = [("chat", "chat.completions.create"), ("embeddings", "embeddings.create (float)"),
              ("assistant", "beta.assistants create + retrieve, per call")]

    def figure(name: str, key: str) -> float:
        return report.median([r[key] for r in runs[name]])

    def ratio(key: str, of=lambda r, k: r[k]) -> float:
        return report.median([of(o, key) / of(s, key) for o, s in zip(runs["in-process"], runs["seed"])])

    def added(r: dict, key: str) -> float:  # what the mock adds to the SDK's own cost (a floor's noise can exceed it)
        return max(r[key] - r[key + " floor"], 1e-6)

    rows, ratios = [], {}
    for key, label in labels:
        ratios[key] = ratio(key)
        rows.append([label, us(figure("seed", key)), us(figure("in-process", key)), times(ratios[key])])
    for key, label in labels:
        rows.append([f"  the SDK alone (floor): {label}", us(figure("seed", key + " floor")),
                     us(figure("in-process", key + " floor")), times(ratio(key + " floor"))])
    for key, label in labels:
        rows.append([f"  added by the mock: {label}",
                     us(report.median([added(r, key) for r in runs["seed"]])),
                     us(report.median([added(r, key) for r in runs["in-process"]])), times(ratio(key, added))])
    rows.append(["OpenAI() built and closed", us(figure("seed", "client")), us(figure("in-process", "client")),
                 times(ratio("client"))])
    calls = [k for k, _ in labels]
    goal = report.Goal(f"in-process ≤ {GOAL} × seed per SDK call (each kind, SDK included)",
                       ", ".join(f"{k} {ratios[k]:.2f}" for k in calls), all(ratios[k] <= GOAL for k in calls))
    mock_goal = report.Goal(f"what the in-process path adds ≤ {GOAL} × what the seed's mock adds (each kind)",
                            ", ".join(f"{k} {ratio(k, added):.2f}" for k in calls),
                            all(ratio(k, added) <= GOAL for k in calls))
    notes = [
        f"CPU time per call (the worker's own, `time.process_time`: the machine is shared, and other processes "
        f"moved wall times by 2x between runs). Median over {ROUNDS} alternating worker processes; in each, per "
        f"kind, the median of {BATCHES} batches of {CALLS} calls on one client after a warm-up, batches through "
        "the library and of its floor alternating. The ratio is the median of the per-round ratios.",
        f"seed: openai-responses {versions['openai-responses']}, openai {versions['openai']}, respx "
        f"{versions['respx']} (httpx patched by respx); in-process: openai {_version('openai')}, httpx2 "
        f"{_version('httpx2')}, `openai_fake.running(profile, in_process=True)` and an unmodified `OpenAI()`.",
        "The floor: in the same worker, the same calls answered by a transport that replays the bytes the "
        "library answered (recorded once per kind of call): what the SDK costs by itself, building the "
        "request and parsing the answer into its models, with no mock behind it. It is not the same SDK: "
        "openai 2.x on httpx for the seed, 3.x on httpx2 for ours. 'Added by the mock' is the call less its floor.",
        "Each in-process call is journaled (an Entry in memory and a line in the fake's journal file) and its "
        "body checked against the SDK's types, as through the proxy; the seed's calls are matched by respx's "
        "routes and answered from its builders.",
    ]
    suite, suite_goal, suite_note = suite_rows()
    rows += suite
    notes.append(suite_note)
    report.emit([report.Section("inprocess", "One SDK call in process: openai-responses (seed) vs openai_fake's "
                                "in-process path", ["", "seed", "in-process", "in-process/seed"], rows, [goal, mock_goal, suite_goal], notes)])


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


if __name__ == "__main__":
    main()
