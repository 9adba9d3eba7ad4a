"""Shared fixtures: one real fake per test session (mitmproxy allows one master per process).

`fake` is the running Runner (the pytest plugin's, which `openai_fake` uses too);
`use_profile` swaps its profile for one test and resets its state; `proxy_env`
points this process's OpenAI clients at it; `client` / `aclient` are real SDK
clients going through the proxy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from proxy_addon.runner import Runner

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-test-1234567890abcdef"


@pytest.fixture(scope="session")
def fake(openai_fake_runner) -> Runner:
    """The session's one Runner: the pytest plugin's (`proxy_addon.pytest_plugin`), shared with `openai_fake`."""
    return openai_fake_runner


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
    # A stream the test left (a client that timed out) is recorded when the relay notices: let it finish here.
    deadline = time.monotonic() + 5
    while fake.relay is not None and fake.relay.active and time.monotonic() < deadline:
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
