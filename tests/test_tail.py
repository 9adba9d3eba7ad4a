"""`openai-fake tail` as a real subprocess: against real `openai-fake run` subprocesses, and live in a real
terminal (a pty, and tmux where it is installed)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import queue
import re
import signal
import struct
import subprocess
import termios
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import API_KEY, have, openai_fake_cmd, run_cli
from proxy_addon import Profile
from proxy_addon.journal import journal_path

AUTH = {"Authorization": f"Bearer {API_KEY}"}

PROFILE = textwrap.dedent("""
    from proxy_addon import Profile

    profile = Profile()
    profile.moderations(failures=1, failure_status=429)
    profile.completions(failures=1, failure_status=500)
    profile.chat.completions(stream={"ttft": 0.4, "chunk_delay": 0.05})
""")


class Output:
    """A subprocess's stdout (or a pty), read in a thread so that a test can wait for what it prints."""

    def __init__(self, stream=None, fd: int | None = None) -> None:
        self.text = ""
        self._chunks: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        target = self._read_stream if stream is not None else self._read_fd
        threading.Thread(target=target, args=(stream if stream is not None else fd,), daemon=True).start()

    def _read_stream(self, stream) -> None:
        for line in iter(stream.readline, ""):
            with self._lock:
                self.text += line

    def _read_fd(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the pty closed
                return
            if not data:
                return
            with self._lock:
                self.text += data.decode(errors="replace")

    def wait_for(self, needle: str | re.Pattern, timeout: float = 30, since: int = 0) -> str:
        """The output once `needle` appears in it (after offset `since`)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                text = self.text
            found = needle.search(plain(text[since:])) if isinstance(needle, re.Pattern) else needle in plain(text[since:])
            if found:
                return plain(text)
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not shown within {timeout} s; shown:\n{plain(text)}")
            time.sleep(0.02)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def plain(text: str) -> str:
    """Terminal output without its escape sequences."""
    return _ANSI.sub("", text).replace("\r", "")


class Fake:
    """`openai-fake run` as a subprocess on a free port."""

    def __init__(self, confdir: Path, *args: str) -> None:
        self.proc = subprocess.Popen([*openai_fake_cmd(), "run", "--port", "0", "--confdir", str(confdir), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "COLUMNS": "200"})
        self.out = Output(self.proc.stdout)
        panel = self.out.wait_for("OPENAI_BASE_URL=")
        self.base_url = re.search(r"OPENAI_BASE_URL=(\S+)", panel).group(1)

    def post(self, path: str, body: dict, **kw) -> requests.Response:
        return requests.post(f"{self.base_url}{path}", json=body, headers=AUTH, timeout=30, **kw)

    def chat(self, content: str, model: str = "gpt-4o", **kw) -> requests.Response:
        return self.post("/chat/completions", {"model": model, "messages": [{"role": "user", "content": content}], **kw})

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(20)
        return self.proc.stderr.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A fake that has answered a known set of calls, stopped: its confdir."""
    confdir = tmp_path_factory.mktemp("tail")
    profile = confdir / "tail_profile.py"
    profile.write_text(PROFILE)
    fake = Fake(confdir, "--quiet", "--profile", str(profile))
    try:
        streamed = fake.chat("Stream a story", model="gpt-4o-mini", stream=True)
        assert streamed.status_code == 200 and "[DONE]" in streamed.text
        assert fake.chat("Say hello to the world").status_code == 200
        assert fake.post("/embeddings", {"model": "text-embedding-3-small", "input": "vectors"}).status_code == 200
        assert fake.post("/moderations", {"input": "fine"}).status_code == 429
        assert fake.post("/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Once"}).status_code == 500
        assert requests.get(f"{fake.base_url}/models/nope", headers=AUTH, timeout=30).status_code == 404
    finally:
        fake.stop()
    return confdir


def _tail(confdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("tail", "--confdir", str(confdir), *args)


def _calls(stdout: str) -> list[str]:
    """The path of each call line."""
    return re.findall(r"^\d\d:\d\d:\d\d  \d{3}  [A-Z]+ (\S+)", stdout, re.MULTILINE)


def test_tail_shows_the_last_calls(served):
    done = _tail(served, "-n", "2")  # two calls, and the notice since
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    assert lines[0].split("  ")[1:3] == ["500", "POST /v1/completions"]
    assert "simulated failure 1 of 1" in lines[0] and '"Once"' in lines[0]
    assert lines[1].split("  ")[1:3] == ["404", "GET /v1/models/nope"]
    assert re.fullmatch(r"\d\d:\d\d:\d\d  ●  openai-fake stopped \(http://127\.0\.0\.1:\d+\)", lines[2])
    assert _tail(served, "-n", "0").stdout == ""

    everything = _tail(served, "-n", "100").stdout
    assert "●  openai-fake started on http://127.0.0.1:" in everything.splitlines()[0]
    assert _calls(everything) == ["/v1/chat/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/moderations",
                                  "/v1/completions", "/v1/models/nope"]
    stream_line, chat_line = everything.splitlines()[1:3]
    assert re.search(r"  200  POST /v1/chat/completions  chat\.completions  gpt-4o-mini  (?:\d+ ms|\d+\.\d s)  \d+ chunks completed  "
                     r'"Stream a story" → "This is a fake answer from openai-fake\. You said: Stream a…"  \(base-url\)$', stream_line)
    assert "⋯ streaming" not in everything  # the stream has ended: its start record is not shown
    assert re.search(r'  200  POST /v1/chat/completions  chat\.completions  gpt-4o  (?:\d+ ms|\d+\.\d s)  "Say hello to the world" → ',
                     chat_line)
    assert '"vectors" → "1 embedding × 1536"' in everything


CALL_FIELDS = ["time", "request_id", "method", "host", "path", "status", "duration_ms", "rule", "model", "face", "key",
               "error", "chunks", "outcome", "kind", "prompt", "answer", "note", "body_size", "event", "attempt",
               "upstream", "recorded"]


def test_tail_json_gives_a_call_its_record_and_a_notice_its_own_shape(served):
    done = _tail(served, "--json", "-n", "3")
    assert done.returncode == 0, done.stderr
    shown = done.stdout.splitlines()
    file_lines = journal_path(served).read_text().splitlines()
    assert shown[:3] == file_lines[-4:-1]  # a call: exactly as the journal writes it
    calls = [json.loads(line) for line in shown[:3]]
    assert [list(c) for c in calls] == [CALL_FIELDS] * 3
    assert [(c["kind"], c["status"], c["path"]) for c in calls] == [
        ("call", 429, "/v1/moderations"), ("call", 500, "/v1/completions"), ("call", 404, "/v1/models/nope")]
    assert all(c["key"] == f"sk-...{API_KEY[-4:]}" for c in calls)
    stopped = json.loads(shown[3])
    assert list(stopped) == ["kind", "time", "event", "level", "message", "error"]
    assert (stopped["kind"], stopped["event"], stopped["level"], stopped["error"]) == ("notice", "stopped", "info", None)
    assert re.fullmatch(r"openai-fake stopped \(http://127\.0\.0\.1:\d+\)", stopped["message"])
    assert stopped["time"] == json.loads(file_lines[-1])["time"]
    both = _tail(served, "--json", "-n", "100", "--model", "gpt-4o-mini").stdout.splitlines()
    assert [json.loads(line)["kind"] for line in both] == ["call"]  # the finished stream's start record is left out


@pytest.mark.parametrize("args, paths", [
    (["--path", "embeddings"], ["/v1/embeddings"]),
    (["--path", "/v1/chat"], ["/v1/chat/completions", "/v1/chat/completions"]),
    (["--status", "4xx"], ["/v1/moderations", "/v1/models/nope"]),
    (["--status", "429"], ["/v1/moderations"]),
    (["--status", "2xx", "--status", "5xx"], ["/v1/chat/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/completions"]),
    (["--status", "500,404"], ["/v1/completions", "/v1/models/nope"]),
    (["--model", "gpt-4o-mini"], ["/v1/chat/completions"]),
    (["--model", "gpt-4o", "--status", "2xx"], ["/v1/chat/completions"]),  # the exact model: not gpt-4o-mini
    (["--model", "gpt-4o*"], ["/v1/chat/completions", "/v1/chat/completions"]),
    (["--model", "*embedding*"], ["/v1/embeddings"]),
    (["--model", "gpt-4"], []),
    (["--path", "/v1/chat", "-n", "1"], ["/v1/chat/completions"]),
    (["--path", "/nowhere"], []),
])
def test_tail_filters(served, args, paths):
    done = _tail(served, "-n", "100", *args)
    assert done.returncode == 0, done.stderr
    assert _calls(done.stdout) == paths
    assert "●" not in done.stdout  # a filter selects calls: no notices


def test_tail_refuses_a_bad_status(served):
    done = _tail(served, "--status", "6xx")
    assert done.returncode == 2 and "6xx" in done.stderr and "429" in done.stderr


def test_tail_without_a_journal_says_so_and_exits_1(tmp_path):
    done = _tail(tmp_path)
    assert done.returncode == 1
    assert f"no journal at {tmp_path / 'journal.jsonl'}" in done.stderr and "openai-fake run" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_tail_skips_a_line_it_cannot_parse(served, tmp_path):
    lines = journal_path(served).read_text().splitlines()
    journal_path(tmp_path).write_text("\n".join([lines[0], "{not json", '{"time": "noon"}', lines[3]]) + "\n")
    done = _tail(tmp_path, "-n", "10")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2
    assert done.stderr.count("warning: skipped a journal line") == 2 and "journal.jsonl:2" in done.stderr
    assert "Traceback" not in done.stderr


def test_tail_follow_waits_for_the_fake_and_survives_its_restart(tmp_path):
    profile = tmp_path / "tail_profile.py"
    profile.write_text(PROFILE)
    tail = subprocess.Popen([*openai_fake_cmd(), "tail", "--follow", "--confdir", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    fakes = []
    try:
        shown = Output(tail.stdout)
        said = Output(tail.stderr)
        said.wait_for("waiting for an openai-fake with this conf directory to start")
        assert tail.poll() is None

        fake = Fake(tmp_path, "--profile", str(profile))
        fakes.append(fake)
        shown.wait_for("●  openai-fake started on http://127.0.0.1:")
        fake.chat("First call")
        shown.wait_for(re.compile(r'200  POST /v1/chat/completions  chat\.completions  gpt-4o  (?:\d+ ms|\d+\.\d s)  "First call" → '))

        # A stream is shown when it starts (a pipe gets a start line, then the call line when it ends).
        mark = len(shown.text)
        streaming = threading.Thread(target=fake.chat, args=("Slowly please",), kwargs={"stream": True})
        streaming.start()
        shown.wait_for('gpt-4o  ⋯ streaming  "Slowly please"', timeout=10, since=mark)
        assert "chunks completed" not in shown.text[mark:]  # still in progress (ttft 0.4 s, then 0.05 s a word)
        streaming.join(30)
        shown.wait_for(re.compile(r'\d+ chunks completed  "Slowly please" → "This is a fake answer'), since=mark)

        # The same lines in `run`'s own terminal.
        run_out = fake.out.wait_for(re.compile(r"chunks completed  \"Slowly please\""))
        assert '⋯ streaming  "Slowly please"' in run_out and '"First call" → ' in run_out

        fake.stop()
        fakes.clear()
        shown.wait_for("●  openai-fake stopped")
        assert "●  openai-fake stopped" in fake.out.text  # and `run` shows it too

        mark = len(shown.text)
        again = Fake(tmp_path, "--quiet")  # a new fake: tail goes on with it
        fakes.append(again)
        shown.wait_for("●  openai-fake started on", since=mark)
        again.post("/embeddings", {"model": "text-embedding-3-large", "input": "after the restart"})
        shown.wait_for(re.compile(r'200  POST /v1/embeddings  embeddings  text-embedding-3-large  (?:\d+ ms|\d+\.\d s)  '
                                  r'"after the restart" → "1 embedding × 3072"'), since=mark)
        assert tail.poll() is None
    finally:
        for fake in fakes:
            fake.stop()
        tail.send_signal(signal.SIGINT)
        tail.wait(10)
    assert tail.returncode == 0 and "Traceback" not in tail.stderr.read()


def test_tail_follow_in_json_sees_a_stream_start_then_its_call(tmp_path):
    profile = tmp_path / "tail_profile.py"
    profile.write_text(PROFILE)
    fake = Fake(tmp_path, "--quiet", "--profile", str(profile))
    tail = subprocess.Popen([*openai_fake_cmd(), "tail", "-f", "--json", "-n", "0", "--path", "/v1/chat",
                             "--confdir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        shown = Output(tail.stdout)
        Output(tail.stderr).wait_for("following")  # -n 0: what came before is not shown
        fake.post("/embeddings", {"model": "text-embedding-3-small", "input": "filtered out"})
        fake.chat("json please", stream=True)
        shown.wait_for('"kind":"call"')
    finally:
        fake.stop()
        tail.send_signal(signal.SIGINT)
        tail.wait(10)
    records = [json.loads(line) for line in shown.text.splitlines()]
    assert [(r["kind"], r["path"], r["prompt"]) for r in records] == [
        ("stream", "/v1/chat/completions", "json please"), ("call", "/v1/chat/completions", "json please")]
    assert records[0]["request_id"] == records[1]["request_id"] and records[1]["outcome"] == "completed"


SLOW_PROFILE = textwrap.dedent("""
    from proxy_addon import Profile

    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "one two three four five six seven eight nine ten"}}],
                             stream={"ttft": 0.1, "chunk_delay": 1.0})
""")


def _stream_until_first_words(fake: Fake, prompt: str) -> threading.Thread:
    """A slow chat stream read in a thread, returned once its first content delta came."""
    first = threading.Event()

    def read() -> None:
        try:
            with requests.post(f"{fake.base_url}/chat/completions", headers=AUTH, stream=True, timeout=30, json={
                    "model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": prompt}]}) as answer:
                for line in answer.iter_lines():
                    if b'"content":"one' in line:
                        first.set()
        except requests.RequestException:  # the fake stopped mid-stream: the connection ends early
            pass

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert first.wait(30), "the stream sent no content"
    return thread


_STREAMING_LINE = r'\d\d:\d\d:\d\d  200  POST /v1/chat/completions  chat\.completions  gpt-4o  ⋯ streaming  "{prompt}"  \(base-url\)'
_STOPPED_CALL_LINE = (r'\d\d:\d\d:\d\d  200  POST /v1/chat/completions  chat\.completions  gpt-4o  (?:\d+ ms|\d+\.\d s)  [1-9] chunks? stopped  '
                      r'"{prompt}" → "one[a-z ]*"  \(base-url\)')
_STOPPED_NOTICE_LINE = r"\d\d:\d\d:\d\d  ●  openai-fake stopped \(http://127\.0\.0\.1:\d+\)"


def test_ctrl_c_to_run_mid_stream_ends_the_stream_before_it_says_stopped(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_PROFILE)
    fake = Fake(tmp_path, "--profile", str(tmp_path / "slow.py"))
    tail = subprocess.Popen([*openai_fake_cmd(), "tail", "-f", "--json", "-n", "0", "--confdir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        shown = Output(tail.stdout)
        Output(tail.stderr).wait_for("following")
        client = _stream_until_first_words(fake, "Slow story")
        shown.wait_for('"kind":"stream"')
        said = fake.stop()  # Ctrl-C to `run`, mid-stream
        client.join(30)
        shown.wait_for('"event":"stopped"')
    finally:
        fake.stop()
        tail.send_signal(signal.SIGINT)
        tail.wait(10)
    records = [json.loads(line) for line in shown.text.splitlines()]
    assert [(r["kind"], r.get("outcome"), r.get("event")) for r in records] == [
        ("stream", None, None), ("call", "stopped", None), ("notice", None, "stopped")]
    assert records[0]["request_id"] == records[1]["request_id"] and records[1]["chunks"] >= 1
    assert records[1]["error"] is None and records[1]["answer"].startswith("one")
    # `run` printed the same, in the same order: the stream resolved, then "stopped", last.
    lines = fake.out.wait_for("●  openai-fake stopped").splitlines()
    assert re.fullmatch(_STREAMING_LINE.format(prompt="Slow story"), lines[-3]), lines[-3:]
    assert re.fullmatch(_STOPPED_CALL_LINE.format(prompt="Slow story"), lines[-2]), lines[-3:]
    assert re.fullmatch(_STOPPED_NOTICE_LINE, lines[-1]), lines[-3:]
    assert "Traceback" not in said and "Exception in ASGI" not in said and "graceful shutdown" not in said, said
    assert said.strip().endswith("openai-fake: 1 call (1×200); chat.completions 1")


def test_ctrl_c_to_tail_and_run_at_once_mid_stream_shows_the_stream_end_first(tmp_path):
    # As in one terminal, where Ctrl-C reaches both: tail waits (briefly) for the streams it shows in progress.
    (tmp_path / "slow.py").write_text(SLOW_PROFILE)
    fake = Fake(tmp_path, "--quiet", "--profile", str(tmp_path / "slow.py"))
    tail = subprocess.Popen([*openai_fake_cmd(), "tail", "-f", "-n", "0", "--confdir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        shown = Output(tail.stdout)
        Output(tail.stderr).wait_for("following")
        client = _stream_until_first_words(fake, "Both at once")
        shown.wait_for("⋯ streaming")
        tail.send_signal(signal.SIGINT)
        fake.proc.send_signal(signal.SIGINT)
        assert tail.wait(10) == 0
        fake.stop()
        client.join(30)
    finally:
        fake.stop()
        if tail.poll() is None:
            tail.kill()
    time.sleep(0.2)  # the reader thread has the last of the pipe
    lines = plain(shown.text).splitlines()
    assert re.fullmatch(_STREAMING_LINE.format(prompt="Both at once"), lines[0]), lines
    assert re.fullmatch(_STOPPED_CALL_LINE.format(prompt="Both at once"), lines[1]), lines
    assert len(lines) <= 3 and all(re.fullmatch(_STOPPED_NOTICE_LINE, line) for line in lines[2:]), lines  # "stopped", if seen, last


def test_a_call_with_a_model_that_is_not_a_string_is_journaled_readably(fake):
    # The journal once wrote the body's `model` as it came (a list, from the schema fuzz), and every later
    # `tail` warned that the line was not a record.
    answer = requests.post(f"{fake.base_url}/embeddings", json={"model": [1, {"x": True}], "input": "odd"},
                           headers=AUTH, timeout=30)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "model"
    done = _tail(fake.confdir, "--json", "-n", "1", "--path", "/v1/embeddings")
    assert done.returncode == 0 and "skipped a journal line" not in done.stderr, done.stderr
    record = json.loads(done.stdout)
    assert (record["status"], record["model"], record["prompt"]) == (400, None, "odd")


# -- a real terminal --------------------------------------------------------------------------------


def _slow_stream_profile() -> Profile:
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "Live from the fake, one word at a time"}}],
                             stream={"ttft": 0.8, "chunk_delay": 0.1})
    return profile


def test_tail_follow_renders_live_calls_in_a_pty(fake, use_profile, base_client):
    use_profile(_slow_stream_profile())
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "40"}
    env.pop("NO_COLOR", None)
    tail = subprocess.Popen([*openai_fake_cmd(), "tail", "-f", "-n", "0", "--confdir", str(fake.confdir)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    screen = Output(fd=master)
    try:
        screen.wait_for(f"following {journal_path(fake.confdir)}")  # -n 0: only calls from now on
        base_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello terminal"}])
        screen.wait_for(re.compile(r'200  POST /v1/chat/completions  chat\.completions  gpt-4o  (?:\d+ ms|\d+\.\d s)  "Hello terminal" → '
                                   r'"Live from the fake, one word at a time"  \(base-url\)'))
        assert "\x1b[" in screen.text  # rich drew it with colours: a terminal, not a pipe

        mark = len(screen.text)
        streaming = threading.Thread(target=lambda: list(base_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream to the terminal"}], stream=True)))
        streaming.start()
        # In progress, with its running time, at the bottom of the screen.
        screen.wait_for(re.compile(r'gpt-4o-mini  ⋯ streaming (?:\d+ ms|\d+\.\d s)  "Stream to the terminal"  \(base-url\)'), timeout=10,
                        since=mark)
        streaming.join(30)
        final = screen.wait_for(re.compile(r'200  POST /v1/chat/completions  chat\.completions  gpt-4o-mini  \d+\.\d s  '
                                           r'9 chunks completed  "Stream to the terminal" → "Live from the fake'),
                                since=mark)
        assert "Traceback" not in final
    finally:
        os.killpg(tail.pid, signal.SIGINT)
        tail.wait(10)
        os.close(master)
    assert tail.returncode == 0


@pytest.mark.skipif(not have("tmux"), reason="tmux is not installed")
def test_tail_follow_in_tmux_updates_the_stream_in_place(fake, use_profile, base_client, tmp_path):
    use_profile(_slow_stream_profile())
    socket_name = f"openai-fake-test-{os.getpid()}"
    command = " ".join([*openai_fake_cmd(), "tail", "-f", "-n", "0", "--confdir", str(fake.confdir)])

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", socket_name, *args], capture_output=True, text=True, timeout=10,
                              env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "30"}).stdout

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "tail")

    def wait_screen(pattern: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, text := screen()):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not on the screen:\n{screen()}")

    tmux("new-session", "-d", "-s", "tail", "-x", "200", "-y", "30", command)
    try:
        wait_screen("following .*journal.jsonl")  # -n 0: only calls from now on
        streaming = threading.Thread(target=lambda: list(base_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Shown in tmux"}], stream=True)))
        streaming.start()
        wait_screen(r'gpt-4o-mini  ⋯ streaming (?:\d+ ms|\d+\.\d s)  "Shown in tmux"  \(base-url\)')
        streaming.join(30)
        final = wait_screen(r'200  POST /v1/chat/completions  chat\.completions  gpt-4o-mini  \d+\.\d s  9 chunks completed')
        assert "⋯ streaming" not in final  # the in-progress line became the call line, in place
        rows = [row for row in final.splitlines() if row.strip()]
        assert len(rows) == 2 and rows[0].startswith("following ")
        assert rows[1].endswith('"Shown in tmux" → "Live from the fake, one word at a time"  (base-url)')
    finally:
        tmux("kill-server")


@pytest.mark.skipif(not have("tmux"), reason="tmux is not installed")
def test_ctrl_c_in_a_terminal_leaves_a_stream_still_running_on_the_screen(fake, use_profile, base_client):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "A stream that outlives the tail"}}],
                             stream={"ttft": 0.1, "chunk_delay": 2.0})
    use_profile(profile)
    socket_name = f"openai-fake-test-ctrl-c-{os.getpid()}"
    # The shell stays after tail, to say how it ended and keep the screen as tail left it.
    command = " ".join([*openai_fake_cmd(), "tail", "-f", "-n", "0", "--confdir", str(fake.confdir)]) + \
        "; echo tail exited $?; sleep 30"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", socket_name, *args], capture_output=True, text=True, timeout=10,
                              env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "30"}).stdout

    def wait_screen(pattern: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, text := tmux("capture-pane", "-p", "-t", "tail")):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not on the screen:\n{tmux('capture-pane', '-p', '-t', 'tail')}")

    tmux("new-session", "-d", "-s", "tail", "-x", "200", "-y", "30", command)
    try:
        wait_screen("following .*journal.jsonl")
        with base_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Outlive"}],
                                                 stream=True) as stream:
            next(iter(stream))
            wait_screen(r'⋯ streaming')
            tmux("send-keys", "-t", "tail", "C-c")
            asked = time.monotonic()
            final = wait_screen(r"tail exited \d+", timeout=10)
            waited = time.monotonic() - asked
        rows = [row.rstrip() for row in final.splitlines() if row.strip()]
        assert rows[0].startswith("following ")
        assert re.fullmatch(r'\d\d:\d\d:\d\d  200  POST /v1/chat/completions  chat\.completions  gpt-4o-mini  ⋯ streaming '
                            r'\d+\.\d s  "Outlive"  \(base-url\)\^?C?', rows[1]), rows  # kept, with its running time
        assert rows[2:] == ["tail exited 0"], rows
        assert waited < 5, waited  # its grace for the stream to end (1 s), not the stream's 10 s
    finally:
        tmux("kill-server")


class Writes:
    """A terminal's input, one item per write: what rich sends and in which pieces."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def write(self, text: str) -> int:
        self.pieces.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_live_lines_never_redraw_an_ended_stream_after_its_call_line():
    from rich.console import Console

    from cli.tail import LiveLines
    from proxy_addon.journal import Entry

    writes = Writes()
    console = Console(file=writes, force_terminal=True, width=200, height=30, color_system=None)
    started = Entry(time=time.time(), request_id="req_1", kind="stream", method="POST", path="/v1/chat/completions",
                    model="gpt-4o-mini", face="base-url", prompt="Hi")
    ended = Entry(time=time.time(), request_id="req_1", method="POST", path="/v1/chat/completions", status=200,
                  model="gpt-4o-mini", face="base-url", prompt="Hi", chunks=3, outcome="completed", duration_ms=1200)
    with LiveLines(console) as show:
        show.entry(started)
        assert "⋯ streaming" in "".join(writes.pieces)
        before = len(writes.pieces)
        show.entry(ended)
        assert len([w for w in writes.pieces[before:] if "3 chunks completed" in w]) == 1  # in one write
        shown = "".join(writes.pieces[before:])
        assert "⋯ streaming" not in shown[shown.index("3 chunks completed"):]  # nothing redraws the stream below it
