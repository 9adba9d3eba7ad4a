"""Hot reload: saving the active profile's file reloads it within a second, keeps the state and the
calls in flight, and a broken save keeps the last good profile and says why (file:line)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from proxy_addon import Profile
from proxy_addon.control import ProfileWatcher, load_fresh
from proxy_addon.engine import Engine
from proxy_addon.journal import Journal

from conftest import openai_fake_cmd, read_until
from test_control import ask

MESSAGES = [{"role": "user", "content": "Hello there"}]
#: Saving must take effect within a second; the polls below add their own step on top.
WITHIN = 1.0
TOLERANCE = 0.25
BROKEN = "from proxy_addon import Profile\n\nprofile = Profile()\nprofile.chat.completions(colour='blue')\n"


def write_profile(path: Path, answer: str, stream: dict | None = None) -> Path:
    path.write_text(
        "from proxy_addon import Profile\n\nprofile = Profile()\n"
        f"profile.chat.completions(choices=[{{'message': {{'content': {answer!r}}}}}], stream={stream!r})\n"
    )
    return path


def answer(client) -> str:
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content


def wait_until(predicate, timeout: float = 5.0, step: float = 0.05) -> float:
    """Seconds until `predicate()` holds; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def notices(fake) -> list:
    return [e for e in fake.journal.entries(kind=None) if e.kind == "notice"]


# -- in-process: the watcher's logic, one look at a time -----------------------------------


async def test_the_watcher_reloads_a_settled_change_and_keeps_the_last_good_profile(tmp_path):
    path = write_profile(tmp_path / "p.py", "one")
    engine, journal = Engine(load_fresh(str(path))), Journal()
    watcher = ProfileWatcher(engine, journal)
    await watcher.check()
    assert watcher.path == path and watcher.profile is engine.profile
    first = engine.profile
    engine.state.put("assistants", {"id": "asst_1"})

    write_profile(path, "two")
    await watcher.check()  # a change seen once may still be being written
    assert engine.profile is first
    await watcher.check()  # the same twice: loaded
    assert engine.profile is not first and engine.profile.rules["chat.completions"].knobs["choices"][0]["message"]["content"] == "two"
    assert engine.profile.name == "p" and engine.profile.source == str(path)
    assert engine.state.get("assistants", "asst_1") is not None  # the state stays
    assert [e.note for e in journal.entries(kind=None)] == [f"profile reloaded: {path}"]

    good = engine.profile
    path.write_text(BROKEN)
    await watcher.check()
    await watcher.check()
    assert engine.profile is good and watcher.error.startswith(f"{path}:4: ") and "colour" in watcher.error
    last = journal.entries(kind=None)[-1]
    assert last.kind == "notice" and last.error == watcher.error and str(path) in last.note
    await watcher.check()
    assert len(journal.entries(kind=None)) == 2  # said once, not retried until the next save

    other = Profile()
    engine.use(other)  # switched: the watcher follows, and an inline profile has no file
    await watcher.check()
    assert watcher.profile is other and watcher.path is None and watcher.error is None


def test_a_same_size_save_within_the_same_second_is_not_read_from_a_stale_bytecode_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as on a machine without PYTHONDONTWRITEBYTECODE
    path = write_profile(tmp_path / "cached.py", "AAAA")
    before = path.stat()
    assert load_fresh(str(path)).rules["chat.completions"].knobs["choices"][0]["message"]["content"] == "AAAA"
    write_profile(path, "BBBB")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime: a .pyc would match
    assert load_fresh(str(path)).rules["chat.completions"].knobs["choices"][0]["message"]["content"] == "BBBB"


# -- through the session fake and the real SDK ------------------------------------------------


def test_saving_the_profile_reloads_it_within_a_second_and_keeps_the_state(base_client, fake, use_profile, tmp_path):
    path = write_profile(tmp_path / "live.py", "before")
    use_profile(load_fresh(str(path)))
    assert answer(base_client) == "before"
    assistant = base_client.beta.assistants.create(model="gpt-4o", name="Kept")

    write_profile(path, "after!")  # the same length
    elapsed = wait_until(lambda: answer(base_client) == "after!")
    assert elapsed < WITHIN + TOLERANCE
    assert base_client.beta.assistants.retrieve(assistant.id).name == "Kept"
    assert [n.note for n in notices(fake)] == [f"profile reloaded: {path}"]
    described = ask(fake, "GET", "/_fake/profile").json()
    assert described["source"] == str(path) and described["watched"] and described["reload_error"] is None


def test_a_broken_save_keeps_the_last_good_profile_and_says_where(base_client, fake, use_profile, tmp_path):
    path = write_profile(tmp_path / "live.py", "good")
    use_profile(load_fresh(str(path)))
    path.write_text(BROKEN)
    wait_until(lambda: any(n.error for n in notices(fake)))
    error = notices(fake)[-1].error
    assert error.startswith(f"{path}:4: ") and "colour" in error
    assert answer(base_client) == "good"
    assert ask(fake, "GET", "/_fake/profile").json()["reload_error"] == error

    write_profile(path, "fixed")
    assert wait_until(lambda: answer(base_client) == "fixed") < WITHIN + TOLERANCE
    assert ask(fake, "GET", "/_fake/profile").json()["reload_error"] is None


def test_a_stream_in_flight_during_a_reload_completes(base_client, fake, use_profile, tmp_path):
    words = " ".join(f"word{i}" for i in range(40))
    path = write_profile(tmp_path / "live.py", words, stream={"chunk_delay": 0.05})  # about 2 s of stream
    use_profile(load_fresh(str(path)))
    stream = base_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    received = []
    for chunk in stream:
        received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        if len("".join(received)) > 0:
            break
    write_profile(path, "new answer")
    wait_until(lambda: any(n.note.startswith("profile reloaded") for n in notices(fake)))
    for chunk in stream:
        if chunk.choices:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == words  # the whole of the old answer, paced by the old profile
    wait_until(lambda: any(e.path == "/v1/chat/completions" and e.outcome for e in fake.journal.entries()))
    streamed = [e for e in fake.journal.entries() if e.outcome][-1]
    assert streamed.outcome == "completed" and streamed.chunks == 40
    reloaded = [n for n in notices(fake) if n.note.startswith("profile reloaded")][0]
    assert reloaded.time < streamed.time  # the reload happened while the stream ran
    assert answer(base_client) == "new answer"


def test_switching_to_another_file_watches_that_one(base_client, fake, use_profile, tmp_path):
    first = write_profile(tmp_path / "first.py", "first")
    second = write_profile(tmp_path / "second.py", "second")
    use_profile(load_fresh(str(first)))
    assert ask(fake, "POST", "/_fake/profile", {"profile": str(second)}).status_code == 200
    write_profile(first, "first edited")
    write_profile(second, "second edited")
    assert wait_until(lambda: answer(base_client) == "second edited") < WITHIN + TOLERANCE
    time.sleep(0.4)  # several looks: the first file is no longer watched
    assert answer(base_client) == "second edited"
    assert [n.note for n in notices(fake) if n.note.startswith("profile reloaded")] == [f"profile reloaded: {second}"]


# -- `openai-fake run` shows what happened --------------------------------------------------




@pytest.mark.slow
def test_run_shows_a_broken_save_with_file_and_line_and_reloads_the_fix(tmp_path):
    path = write_profile(tmp_path / "live.py", "from the file")
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--profile", str(path), "--port", "0", "--confdir", str(tmp_path / "conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "300"})
    try:
        base_url = read_until(proc, "OPENAI_BASE_URL=").split("OPENAI_BASE_URL=")[-1].strip()
        with requests.Session() as http:
            http.trust_env = False

            def ask_chat() -> str:
                reply = http.post(f"{base_url}/chat/completions", headers={"Authorization": "Bearer sk-test-123456789"},
                                  json={"model": "gpt-4o", "messages": MESSAGES}, timeout=10)
                return reply.json()["choices"][0]["message"]["content"]

            assert ask_chat() == "from the file"
            path.write_text(BROKEN)
            shown = read_until(proc, "profile not reloaded")
            assert f"{path}:4" in shown and "colour" in shown
            assert ask_chat() == "from the file"
            write_profile(path, "fixed")
            assert f"profile reloaded: {path}" in read_until(proc, "profile reloaded:")
            assert ask_chat() == "fixed"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
