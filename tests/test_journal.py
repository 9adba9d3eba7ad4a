"""The journal: its file (whole lines, rotation, 0600, bad lines), its reader and follower, the summaries,
and what real SDK calls through the session's fake leave in it (never a key)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import openai
import pytest

from conftest import wait_for
from proxy_addon import Profile
from proxy_addon.engine.streams import Event, sse
from proxy_addon.journal import (Entry, Filter, Journal, encode, follow, is_call, is_lifecycle, journal_files,
                                 journal_path, notice, public, public_line, read_entries, started_notice, stopped_notice)
from proxy_addon.summaries import answer_of, answer_of_stream, prompt_of, shorten

SECRET = "sk-proj-Zq8vK2mW9xT4nR7pL3sY6bH1cJ5dF0gA"


def call(n: int, **kw) -> Entry:
    return Entry(**{"time": 1_800_000_000 + n, "request_id": f"req_{n}", "method": "POST", "path": "/v1/chat/completions",
                    "status": 200, "model": "gpt-4o", "prompt": f"prompt {n}", **kw})


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")



# -- the file -----------------------------------------------------------------------------------


def test_every_record_is_one_line_of_its_dict_and_the_file_is_private(tmp_path):
    journal = Journal(tmp_path / "conf" / "journal.jsonl")
    assert not journal.path.exists()  # nothing recorded, no file
    entry = call(1, body=b'{"secret": "not in the file"}', prompt="line\nbreak \u2028 and \x1c")
    journal.record(entry)
    journal.record(started_notice("http://127.0.0.1:1", "default"))
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    raw = journal.path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 2  # a newline, U+2028 or \x1c inside stays inside its line
    first = json.loads(raw.split(b"\n")[0])
    assert first == entry.to_dict() and "body" not in first and b"not in the file" not in raw
    assert [e.to_dict() for e in read_entries(journal.path)] == [entry.to_dict(), journal.entries(kind=None)[1].to_dict()]
    assert journal.entries() == [entry]  # calls only, by default
    assert [e.kind for e in journal.entries(kind=None)] == ["call", "notice"]
    assert journal.summary().startswith("openai-fake: 1 call (1×200)")


def test_memory_keeps_the_last_calls_and_the_summary_counts_them_all():
    journal = Journal(maxlen=3)
    journal.record(started_notice("http://127.0.0.1:1", "default"))  # a notice is not a call
    for n in range(5):
        journal.record(call(n))
    assert [e.request_id for e in journal.entries()] == [call(n).request_id for n in (2, 3, 4)]
    assert journal.summary().startswith("openai-fake: 5 calls (5×200)")
    journal.clear()
    assert journal.entries() == [] and journal.summary() == "openai-fake: no calls"


def test_an_existing_file_with_looser_rights_is_made_private(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text("")
    path.chmod(0o644)
    Journal(path).record(call(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_rotation_keeps_the_journal_bounded(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, max_bytes=4000, backups=2)
    for n in range(500):
        journal.record(call(n))
    files = journal_files(path)
    assert [f.name for f in files] == ["journal.jsonl", "journal.jsonl.1", "journal.jsonl.2"]
    assert not (tmp_path / "journal.jsonl.3").exists()
    assert all(f.stat().st_size <= 4000 for f in files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    kept = read_entries(path)
    numbers = [int(e.request_id[4:]) for e in kept]
    assert numbers == list(range(500 - len(numbers), 500)) and 20 < len(numbers) < 60  # the newest, in order, no gap
    assert [e.request_id for e in read_entries(path, limit=3)] == ["req_497", "req_498", "req_499"]


def test_a_line_left_half_written_by_a_crash_is_ended_by_the_next_writer(tmp_path):
    path = tmp_path / "journal.jsonl"
    Journal(path).record(call(1))
    with open(path, "ab") as f:
        f.write(encode(call(2))[:40])  # the process died mid-line
    Journal(path).record(call(3))
    warnings = []
    entries = read_entries(path, on_bad_line=lambda where, line: warnings.append(where))
    assert [e.request_id for e in entries] == ["req_1", "req_3"]
    assert warnings == [f"{path}:2"]


def test_lines_that_are_not_records_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "journal.jsonl"
    good = [encode(call(n)) for n in range(3)]
    path.write_bytes(good[0] + b"not json\n" + good[1] + b"[1, 2]\n" + b'{"time": "yesterday"}\n' + b"\n"
                     + b'{"kind": "call"}\n' + b'{"time": 1, "status": "200"}\n' + good[2] + good[0][:25])
    warnings = []
    entries = read_entries(path, on_bad_line=lambda where, line: warnings.append((where, line)))
    assert [e.request_id for e in entries] == ["req_0", "req_1", "req_2"]  # the unfinished last line is not yet a line
    assert sorted(w[0] for w in warnings) == [f"{path}:{n}" for n in (2, 4, 5, 7, 8)]
    assert dict(warnings)[f"{path}:2"] == b"not json"
    seen, bad = [], []
    for entry in follow(path, from_start=True, on_bad_line=lambda where, line: bad.append(line)):
        if entry is None:
            break
        seen.append(entry.request_id)
    assert seen == ["req_0", "req_1", "req_2"] and len(bad) == 5


def test_records_are_checked_field_by_field():
    assert Entry.from_dict({"time": 1, "unknown": "ignored"}) == Entry(time=1)
    for bad in ({"time": True}, {"time": 1, "status": "200"}, {"time": 1, "model": 4}, {"time": 1, "chunks": 1.5}, []):
        with pytest.raises(ValueError):
            Entry.from_dict(bad)
    entry = call(7, chunks=3, outcome="completed", answer="Hi", key="sk-...abcd")
    assert Entry.from_dict(json.loads(encode(entry))) == entry


_WRITER = textwrap.dedent("""
    import sys, time
    from proxy_addon.journal import Entry, Journal  # quick to start: it imports neither the engine nor mitmproxy
    journal = Journal(sys.argv[1], max_bytes=int(sys.argv[3]), backups=1000)
    for n in range(int(sys.argv[2])):
        # long lines, so that a reader racing a writer would see halves if lines were not written whole
        journal.record(Entry(time=time.time(), request_id=f"{sys.argv[4]}-{n}", prompt="x" * (n % 7) * 500))
""")


@pytest.mark.parametrize("max_bytes", [0, 200_000], ids=["one file", "rotating"])
def test_concurrent_writers_never_show_a_reader_half_a_line(tmp_path, max_bytes):
    path = tmp_path / "journal.jsonl"
    writers, per_writer = 4, 400
    bad, seen = [], []
    done, watching = threading.Event(), threading.Event()

    def read() -> None:
        for entry in follow(path, poll=0.005, on_bad_line=lambda where, line: bad.append(line)):
            if entry is not None:
                seen.append(entry.request_id)
            else:
                watching.set()
                if done.is_set():
                    return

    reader = threading.Thread(target=read)
    reader.start()
    # A follower starts at the end of a file that exists: the writers start once it has looked (under load,
    # a writer could otherwise create the file and write before the follower's first look).
    assert watching.wait(10)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(per_writer), str(max_bytes), f"w{w}"])
             for w in range(writers)]
    try:
        assert [p.wait(60) for p in procs] == [0] * writers
    finally:
        time.sleep(0.3)  # the reader polls every 5 ms
        done.set()
        reader.join(10)
    assert bad == []
    on_disk = [e.request_id for e in read_entries(path, on_bad_line=lambda where, line: bad.append(line))]
    assert bad == [] and sorted(on_disk) == sorted(f"w{w}-{n}" for w in range(writers) for n in range(per_writer))
    for w in range(writers):  # each writer's lines in its own order
        mine = [r for r in on_disk if r.startswith(f"w{w}-")]
        assert mine == sorted(mine, key=lambda r: int(r.split("-")[1]))
    assert len(seen) == len(set(seen))  # the follower never saw a line twice, across rotations too
    if max_bytes:
        assert len(journal_files(path)) > 3
    assert sorted(seen) == sorted(on_disk)  # across rotations too: a follower that falls behind catches up


# -- following ------------------------------------------------------------------------------------


class Follower:
    """`follow()` in a thread, collecting request ids."""

    def __init__(self, path: Path, **kw) -> None:
        self.seen: list[str] = []
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path,), kwargs=kw, daemon=True)
        self._thread.start()

    def _run(self, path, **kw) -> None:
        for entry in follow(path, poll=0.01, **kw):
            if self._stop.is_set():
                return
            if entry is None:
                self.ticks += 1
            else:
                self.seen.append(entry.request_id)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_follow_waits_for_the_file_and_survives_rotation_removal_and_truncation(tmp_path):
    path = tmp_path / "journal.jsonl"
    follower = Follower(path)
    try:
        assert wait_for(lambda: follower.ticks > 3)  # no file yet: it waits
        journal = Journal(path, max_bytes=1500, backups=1)
        for n in range(20):  # several rotations (a follower misses a file only if it is a whole file behind)
            journal.record(call(n))
            time.sleep(0.05)
        assert wait_for(lambda: len(follower.seen) == 20), follower.seen
        assert follower.seen == [f"req_{n}" for n in range(20)]
        journal.close()
        for f in journal_files(path):
            f.unlink()
        Journal(path).record(call(100))  # removed and created again (a new conf directory's first run)
        assert wait_for(lambda: follower.seen[-1:] == ["req_100"])
        path.write_bytes(b"")  # truncated in place (`: > journal.jsonl`), then written again
        ticks = follower.ticks
        assert wait_for(lambda: follower.ticks > ticks + 2)
        Journal(path).record(call(101))
        assert wait_for(lambda: follower.seen[-1:] == ["req_101"]), follower.seen
    finally:
        follower.stop()


def test_a_follower_that_fell_files_behind_catches_up_in_order(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, max_bytes=1500, backups=10)
    journal.record(call(0))
    gen = follow(path, from_start=True, poll=0.01)
    assert next(gen).request_id == "req_0" and next(gen) is None  # caught up; then suspended (Ctrl-Z)
    for n in range(1, 40):  # several whole files go by
        journal.record(call(n))
    assert len(journal_files(path)) > 4
    seen = []
    for entry in gen:
        if entry is None:
            break
        seen.append(entry.request_id)
    gen.close()
    assert seen == [f"req_{n}" for n in range(1, 40)]


def test_follow_starts_at_the_end_unless_asked_for_the_start(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.record(call(1))
    follower = Follower(path)
    try:
        assert wait_for(lambda: follower.ticks > 2)
        journal.record(call(2))
        assert wait_for(lambda: follower.seen == ["req_2"]), follower.seen
    finally:
        follower.stop()
    gen = follow(path, from_start=True)
    assert [next(gen).request_id, next(gen).request_id, next(gen)] == ["req_1", "req_2", None]  # None: caught up
    gen.close()


# -- summaries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, expected", [
    ({"model": "m", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "Hello there"},
                                 {"role": "assistant", "content": "Hi"}]}, "Hello there"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "image_url"},
                                               {"type": "text", "text": "this?"}]}]}, "What is this?"),
    ({"messages": [{"role": "system", "content": "only a system   prompt\n"}]}, "only a system prompt"),
    ({"input": "Tell me a joke"}, "Tell me a joke"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "From a list"}]}]}, "From a list"),
    ({"input": ["first", "second"]}, "first | second"),
    ({"input": [1, 2, 3]}, "[3 tokens]"),
    ({"prompt": "Once upon a time"}, "Once upon a time"),
    ({"prompt": ["a", "b"]}, "a | b"),
    ({"query": "whales"}, "whales"),
    ({"role": "user", "content": "A thread message"}, "A thread message"),
    ({"assistant_id": "a", "thread": {"messages": [{"role": "user", "content": "Run this"}]}}, "Run this"),
    ({"input": "word " * 40}, ("word " * 12).strip()[:59].rstrip() + "…"),
    ({"model": "gpt-4o"}, None),
    ({"messages": [{"role": "user", "content": {"odd": 1}}, 5]}, None),
    (["not", "a", "dict"], None),
    (None, None),
])
def test_prompt_summaries(body, expected):
    assert prompt_of(body) == expected


def _chat(message: dict) -> bytes:
    return json.dumps({"object": "chat.completion", "choices": [{"index": 0, "message": message}]}).encode()


@pytest.mark.parametrize("body, expected", [
    (_chat({"role": "assistant", "content": "Hi there"}), "Hi there"),
    (_chat({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}),
     'get_weather({"city":"Oslo"})'),
    (_chat({"role": "assistant", "content": None, "refusal": "I can't"}), "I can't"),
    (json.dumps({"object": "text_completion", "choices": [{"text": " and so on"}]}).encode(), "and so on"),
    (json.dumps({"object": "response", "output": [{"type": "reasoning"}, {"type": "message", "content": [
        {"type": "output_text", "text": "Answer"}]}, {"type": "function_call", "name": "f", "arguments": "{}"}]}).encode(),
     "Answer, f({})"),
    (json.dumps({"object": "list", "data": [{"object": "embedding", "embedding": [0.1, 0.2, 0.3]}]}).encode(), "1 embedding × 3"),
    (json.dumps({"object": "list", "data": [{"object": "embedding", "embedding": "AAAAAAAAAAAAAAAA"}] * 2}).encode(),
     "2 embeddings × 3"),
    (json.dumps({"id": "modr-1", "results": [{"categories": {"violence": True, "hate": False}}]}).encode(), "flagged: violence"),
    (json.dumps({"object": "list", "data": [{"object": "model"}]}).encode(), None),
    (json.dumps({"text": "Transcribed words", "usage": {"type": "duration", "seconds": 2}}).encode(), "Transcribed words"),
    (json.dumps({"text": "Translated words"}).encode(), "Translated words"),
    (b"not json", None),
    (json.dumps({"object": "chat.completion", "choices": [{"message": 5}]}).encode(), None),  # never raises
    (json.dumps({"object": "list", "data": [{"object": "embedding", "embedding": "not base64!"}]}).encode(), None),
])
def test_answer_summaries(body, expected):
    assert answer_of(body) == expected


def test_answer_summaries_of_streams_stop_where_the_stream_stopped():
    """The summary of a stream is what the resources' own events say (`Event.text`, `Event.call`), up to the cut."""
    from proxy_addon import Profile
    from proxy_addon.engine import Engine, Request

    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "One two three", "tool_calls": [
        {"function": {"name": "lookup", "arguments": {"q": "x"}}}]}}])
    profile.responses(output_text="Hello there")
    auth = {"authorization": "Bearer sk-x", "content-type": "application/json"}
    engine = Engine(profile)

    def events(path, body):
        reply = engine.handle(Request("POST", path, auth, json.dumps({**body, "stream": True}).encode()))
        assert reply.status == 200, reply.body
        return reply.events

    chat = events("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "n": 2})
    assert answer_of_stream(chat) == 'One two three, lookup({"q": "x"})'  # the first choice only
    pieces = [e.text for e in chat if e.content and e.text]
    assert answer_of_stream(chat, chunks=1) == pieces[0].strip() and answer_of_stream(chat, chunks=0) is None
    assert answer_of_stream(events("/v1/responses", {"model": "gpt-4o", "input": "hi"})) == "Hello there"
    assert answer_of_stream(events("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say"})) == "and this is how openai-fake continues it."
    long = [Event(b"x", True, f" word{n}") for n in range(1000)]
    assert len(answer_of_stream(long)) == 60 and answer_of_stream(long).endswith("…")
    assert answer_of_stream([Event(sse({"choices": [{"delta": {"content": "unsaid"}}]}), True)]) is None  # bytes are never read


def test_shorten():
    assert shorten("  a\n\tb  ") == "a b"
    assert shorten("") is None and shorten(None) is None and shorten("   ") is None
    assert shorten("x" * 61) == "x" * 59 + "…" and shorten("x" * 60) == "x" * 60


# -- through the real proxy ---------------------------------------------------------------------------


def test_real_calls_are_journaled_with_summaries_and_never_a_key(fake, use_profile, proxy_env):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "Paris is the capital of France."}}])
    use_profile(profile)
    path = journal_path(fake.confdir)
    assert fake.journal.path == path
    with openai.OpenAI(api_key=SECRET, max_retries=0) as c:
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "What is the capital of France?"}])
        text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream it"}], stream=True) if ch.choices)
        c.embeddings.create(model="text-embedding-3-small", input="vectors please")
        with pytest.raises(openai.NotFoundError):
            c.models.retrieve("no-such-model")
    assert text == "Paris is the capital of France."
    assert wait_for(lambda: len(fake.journal.entries()) == 4)
    by_model = {e.model: e for e in fake.journal.entries()}  # a stream is recorded when the relay sees its end
    whole, streamed, embedded = by_model["gpt-4o"], by_model["gpt-4o-mini"], by_model["text-embedding-3-small"]
    missing = by_model[None]
    assert (whole.prompt, whole.answer, whole.model, whole.status) == (
        "What is the capital of France?", "Paris is the capital of France.", "gpt-4o", 200)
    assert (streamed.prompt, streamed.answer, streamed.outcome, streamed.chunks) == (
        "Stream it", "Paris is the capital of France.", "completed", 6)
    start = [e for e in fake.journal.entries(kind=None) if e.kind == "stream"]
    assert len(start) == 1 and start[0].request_id == streamed.request_id and start[0].outcome is None
    assert (embedded.prompt, embedded.answer) == ("vectors please", "1 embedding × 1536")
    assert missing.status == 404 and "no-such-model" in missing.error and missing.answer is None

    raw = path.read_text()
    assert SECRET not in raw and SECRET[3:] not in raw and SECRET[-12:] not in raw
    assert f"sk-...{SECRET[-4:]}" in raw
    mine = [e for e in read_entries(path) if e.key == f"sk-...{SECRET[-4:]}"]
    assert sorted(e.kind for e in mine) == ["call", "call", "call", "call", "stream"]
    assert sorted(json.dumps(e.to_dict()) for e in mine if e.kind == "call") == sorted(
        json.dumps(e.to_dict()) for e in fake.journal.entries())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_fake_writes_a_notice_when_it_starts(fake):
    notices = [e for e in read_entries(journal_path(fake.confdir)) if e.kind == "notice"]
    assert notices and is_lifecycle(notices[0])
    assert notices[0].note == f"openai-fake started on {fake.proxy_url}; profile {Profile().name}"


# -- what scripts read: one shape per kind (docs/reference/journal.md) ------------------------------------------


def test_a_call_is_shown_as_the_journal_writes_it():
    entry = call(1, duration_ms=3.5, rule="chat.completions", face="proxy", key="sk-...abcd", answer="Hello")
    assert public(entry) == entry.to_dict()
    assert public_line(entry) == encode(entry).decode()
    started = call(2, kind="stream", status=200)
    assert public(started) == started.to_dict() and public(started)["kind"] == "stream"


def test_a_notice_has_its_own_shape():
    broken = notice("profile_not_reloaded", "profile not reloaded, keeping the last good one: p.py", error="p.py:3: boom")
    assert public(broken) == {"kind": "notice", "time": broken.time, "event": "profile_not_reloaded", "level": "error",
                              "message": "profile not reloaded, keeping the last good one: p.py", "error": "p.py:3: boom"}
    stopped = stopped_notice("http://127.0.0.1:8080")
    assert public(stopped) == {"kind": "notice", "time": stopped.time, "event": "stopped", "level": "info",
                               "message": "openai-fake stopped (http://127.0.0.1:8080)", "error": None}
    # A record from before notices had an event: told from its message, or null.
    old = Entry.from_dict({"time": 1.0, "kind": "notice", "note": "openai-fake started on http://x; profile default"})
    assert public(old)["event"] == "started" and is_lifecycle(old)
    assert public(Entry(time=1.0, kind="notice", note="profile reloaded: p.py"))["event"] is None
    with pytest.raises(AssertionError):
        notice("no such event", "x")


def test_a_webhook_delivery_has_its_own_shape():
    entry = Entry(time=2.0, kind="webhook", request_id="wh_1", method="POST", host="127.0.0.1:9000",
                  path="http://127.0.0.1:9000/hook", status=500, duration_ms=3.0, event="batch.completed", attempt=1,
                  outcome="retrying in 0.1 s", note="batch_abc", error="answered 500")
    assert public(entry) == {"kind": "webhook", "time": 2.0, "webhook_id": "wh_1", "event": "batch.completed",
                             "object": "batch_abc", "url": "http://127.0.0.1:9000/hook", "status": 500, "attempt": 1,
                             "outcome": "retrying in 0.1 s", "duration_ms": 3.0, "error": "answered 500"}


def test_limit_counts_calls_and_keeps_the_notices_since(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    for entry in [started_notice("u", "p"), call(1), call(2), notice("reset", "state and call counts reset"), call(3),
                  stopped_notice("u")]:
        journal.record(entry)
    journal.close()
    shown = [e.request_id or e.note for e in read_entries(tmp_path / "j.jsonl", limit=2, counted=is_call)]
    assert shown == ["req_2", "state and call counts reset", "req_3", "openai-fake stopped (u)"]
    assert len(read_entries(tmp_path / "j.jsonl", limit=2)) == 2  # without `counted`: every record counts
    assert read_entries(tmp_path / "j.jsonl", limit=0, counted=is_call) == []


@pytest.mark.parametrize("kw, selected", [
    ({}, [1, 2, 3, 4]),
    ({"model": "gpt-4o"}, [1]),
    ({"model": "gpt-4o*"}, [1, 2]),
    ({"model": "*embedding*"}, [3]),
    ({"path": "/v1/chat"}, [1, 2]),
    ({"statuses": ["4xx"]}, [2]),
    ({"statuses": ["200,503"]}, [1, 3, 4]),
    ({"statuses": ["2xx", "5xx"], "model": "gpt-4o*"}, [1]),
])
def test_the_filters_tail_and_calls_share(kw, selected):
    entries = [call(1), call(2, model="gpt-4o-mini", status=429), call(3, model="text-embedding-3-small", path="/v1/embeddings"),
               call(4, model=None, status=503, path="/v1/models")]
    wanted = Filter(**kw)
    assert [int(e.request_id[4:]) for e in entries if wanted(e)] == selected
    assert bool(wanted) == bool(kw)


def test_a_status_filter_that_is_neither_a_code_nor_a_class_is_refused():
    with pytest.raises(ValueError, match=r"'6xx': give a class \(2xx, 4xx, 5xx\) or a status such as 429"):
        Filter(statuses=["6xx"])
