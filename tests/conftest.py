"""Shared fixtures: one real fake per test session (mitmproxy allows one master per process).

`fake` is the running Runner (the pytest plugin's, which `openai_fake` uses too);
`use_profile` swaps its profile for one test and resets its state; `proxy_env`
points this process's OpenAI clients at it; `client` / `aclient` are real SDK
clients going through the proxy.

The session's fake also keeps a `--state` file (`StateFile`), and every other `State` a test
makes keeps a `Mirror`; after each test, each must hold exactly what its state holds: a change
made in place and never told to the store (`State.put`/`update`/`touch`) fails that test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from proxy_addon.engine.state import State
from proxy_addon.runner import Runner
from proxy_addon.state_file import StateFile

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-test-1234567890abcdef"


def pytest_configure(config: pytest.Config) -> None:
    # Under `-n N`, tests marked `xdist_group` (the seed examples' modules) stay together on one worker;
    # every other test is spread as `--dist load` spreads it.
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"


@pytest.fixture(scope="session")
def fake(openai_fake_runner) -> Runner:
    """The session's one Runner: the pytest plugin's (`proxy_addon.pytest_plugin`), shared with `openai_fake`."""
    return openai_fake_runner


@pytest.fixture(scope="session")
def fake_state_file(openai_fake_runner, tmp_path_factory) -> StateFile:
    """A state file the session's fake keeps, as `run --state` does."""
    store = StateFile(openai_fake_runner.engine.state, tmp_path_factory.mktemp("state") / "state.db")
    store.load()
    store.start()
    yield store
    store.stop()


class Mirror:
    """A `Persistence` that keeps what it is told, encoded, in order: what a store would have."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, tuple[int, str]]] = {}
        self.blobs: dict[str, bytes] = {}
        self.pos = 0

    def put(self, collection, obj):
        self.pos += 1
        pos = self.rows.get(collection, {}).get(obj["id"], (self.pos, ""))[0]
        self.rows.setdefault(collection, {})[obj["id"]] = (pos, json.dumps(obj))

    def delete(self, collection, oid):
        self.rows.get(collection, {}).pop(oid, None)

    def replace_collection(self, collection, objs):
        self.rows.pop(collection, None)
        for obj in objs:
            self.put(collection, obj)

    def put_blob(self, key, data):
        self.blobs[key] = bytes(data)

    def delete_blob(self, key):
        self.blobs.pop(key, None)

    def reserve(self, seq):
        pass

    def replace(self, collections, blobs, seq):
        self.rows.clear()
        self.blobs = dict(blobs)
        for collection, objs in collections.items():
            self.replace_collection(collection, objs)

    def snapshot(self) -> dict:
        return {"collections": {name: [json.loads(body) for _, body in sorted(rows.values())]
                                for name, rows in self.rows.items() if rows},
                "blobs": {k: base64.b64encode(v).decode() for k, v in self.blobs.items()}}


def _same_as_its_store(state: State, kept: dict) -> None:
    held = json.loads(json.dumps(state.snapshot()))
    for name in sorted(set(kept["collections"]) | set(held["collections"])):
        assert kept["collections"].get(name) == held["collections"].get(name), \
            f"the store's {name!r} differs from the state: a change was made in place and not told to the store"
    assert kept["blobs"] == held["blobs"], "the store's blobs differ from the state's"


@pytest.fixture(autouse=True)
def _every_change_reaches_the_store(request, monkeypatch):
    """After each test: the session fake's state file, and a mirror of every State the test made, hold
    exactly what their state holds, object for object."""
    made: list[tuple[State, Mirror]] = []
    init = State.__init__

    def init_with_mirror(self, *args, **kwargs):
        init(self, *args, **kwargs)
        mirror = Mirror()
        self.attach(mirror)
        made.append((self, mirror))

    monkeypatch.setattr(State, "__init__", init_with_mirror)
    uses_fake = {"openai_fake_runner", "openai_fake_session"} & set(request.fixturenames)  # in-process tests too
    store = request.getfixturevalue("fake_state_file") if uses_fake else None
    yield
    for state, mirror in made:
        with state.lock:
            if state.store is mirror:  # else: a test attached a store of its own
                _same_as_its_store(state, mirror.snapshot())
    if store is not None:
        with store.state.lock:  # every write happens under it: file and memory are compared at one moment
            if store.state.store is store:
                _same_as_its_store(store.state, StateFile.read(store.path))


@pytest.fixture(scope="session")
def confdir(fake) -> Path:
    return fake.confdir


@pytest.fixture
def use_profile(fake):
    """Call with a Profile (or a shipped name) to make the fake answer with it for this test."""
    original = fake.engine.profile

    def use(profile):
        from proxy_addon.profile import load

        fake.engine.use(load(profile) if isinstance(profile, str) else profile)
        return fake.engine.profile

    fake.engine.reset()
    fake.journal.clear()
    yield use
    fake.engine.use(original)
    # A stream the test left (a client that timed out) is recorded when the face notices: let it finish here.
    deadline = time.monotonic() + 5
    while fake.streams_active and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture
def proxy_env(fake, monkeypatch):
    """This process's environment, pointed at the fake as `openai-fake exec` would point a child."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    env = fake.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def client(proxy_env, use_profile):
    """A sync SDK client reaching https://api.openai.com through the proxy."""
    with openai.OpenAI(api_key=API_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(proxy_env, use_profile):
    """An async SDK client reaching https://api.openai.com through the proxy."""
    async with openai.AsyncOpenAI(api_key=API_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def base_client(fake, use_profile, monkeypatch):
    """A sync SDK client using the plain-HTTP base-URL face, with no proxy at all."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with openai.OpenAI(api_key=API_KEY, base_url=fake.base_url, max_retries=0) as c:
        yield c


def openai_fake_cmd() -> list[str]:
    """The installed console script, or the module run by this interpreter."""
    script = Path(sys.executable).parent / "openai-fake"
    return [str(script)] if script.exists() else [sys.executable, "-m", "openai_fake_cli"]


def run_cli(*args: str, env: dict | None = None, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Run the real `openai-fake` command and capture its output."""
    return subprocess.run(
        [*openai_fake_cmd(), *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, **kw,
    )


@contextlib.contextmanager
def running_fake(confdir: Path, *args: str):
    """A real `openai-fake run --port 0` on `confdir` (with more `args`): yields (process, base URL); Ctrl-C at the end."""
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--port", "0", "--confdir", str(confdir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        base_url = read_until(proc, "OPENAI_BASE_URL=").split("OPENAI_BASE_URL=")[-1].strip().strip("'")
        yield proc, base_url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def read_until(proc: subprocess.Popen, needle: str, timeout: float = 30) -> str:
    """Read a process's stdout line by line until `needle` shows; everything read so far."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if needle in line:
            return seen
    stderr = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    raise AssertionError(f"{needle!r} not printed; got:\n{seen}\nstderr: {stderr}")


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def silent_wav(seconds: float, rate: int = 8000) -> bytes:
    """A WAV of silence (16-bit mono): an upload the audio endpoints read as audio."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * round(seconds * rate))
    return buffer.getvalue()



#: What an id looks like (`cassettes.ids`): a prefix, a separator, 8 or more letters and digits.
_ID_SHAPE = __import__("re").compile(r"[a-z][a-z0-9]*[-_][A-Za-z0-9][A-Za-z0-9_-]{7,}")


def same_but_ids(recorded, replayed, ids: dict | None = None, path: str = "") -> dict:
    """Assert two JSON values equal field by field, but for ids: an id-shaped string of `recorded` may stand for
    another of the same prefix and length in `replayed`, the same one wherever it comes up, and no two for one
    (a replay's fresh ids). Returns the mapping (pass it on to compare several answers of one session)."""
    ids = {} if ids is None else ids
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        assert recorded.keys() == replayed.keys(), (path, sorted(recorded.keys() ^ replayed.keys()))
        for key in recorded:
            same_but_ids(recorded[key], replayed[key], ids, f"{path}.{key}")
    elif isinstance(recorded, list) and isinstance(replayed, list):
        assert len(recorded) == len(replayed), path
        for i, (a, b) in enumerate(zip(recorded, replayed)):
            same_but_ids(a, b, ids, f"{path}.{i}")
    elif isinstance(recorded, str) and isinstance(replayed, str) and _ID_SHAPE.fullmatch(recorded) and recorded != replayed:
        cut = min(i for i in (recorded.find("-"), recorded.find("_")) if i >= 0) + 1
        assert replayed[:cut] == recorded[:cut] and len(replayed) == len(recorded), (path, recorded, replayed)
        assert ids.setdefault(recorded, replayed) == replayed, (path, recorded, replayed, ids[recorded])
        assert list(ids.values()).count(replayed) == 1, (path, "two recorded ids answered as one", replayed)
    else:
        assert recorded == replayed and type(recorded) is type(replayed), (path, recorded, replayed)
    return ids
