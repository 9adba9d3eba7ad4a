"""Record mode (`run --record DIR --upstream URL`, proxy_addon/recording.py), end to end over loopback only.

The "real API" is another openai-fake (its base-URL face) with known answers and a slow stream pace; the
fake under test forwards to it and records. Every answer the client got is compared, field by field, with
what the recording holds, and every written byte is searched for the key.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import openai
import pytest
from mitmproxy import connection
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import taddons, tflow

from proxy_addon import Profile
from proxy_addon.access import upstream_refusal
from proxy_addon.addon import OpenAIFake
from proxy_addon.cassettes import Cassette, Recorder, read
from proxy_addon.engine import Request
from proxy_addon.journal import journal_path, read_entries
from proxy_addon.recording import Capture, RecordMode, Upstream, UpstreamError
from proxy_addon.runner import Runner

from conftest import openai_fake_cmd, read_until, run_cli, same_but_ids, wait_for
from realtime_talk import CLIENT_EVENTS, TEXT_ONLY, text_session

#: The key the client sends: forwarded to the upstream, never written.
KEY = "sk-proj-RecordModeTestKey0123456789abcdefXYZ"
TTFT, CHUNK_DELAY = 0.3, 0.15
ANSWER = "Recorded words arrive slowly"


def upstream_profile() -> Profile:
    profile = Profile(stream={"ttft": TTFT, "chunk_delay": CHUNK_DELAY})
    profile.chat.completions(choices=[{"message": {"content": ANSWER}}])
    profile.realtime(output_text=REALTIME_ANSWER)
    return profile


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """The stand-in for the real API: an openai-fake's base-URL face."""
    with Runner(upstream_profile(), port=0, confdir=tmp_path_factory.mktemp("upstream"), warm=False) as runner:
        yield runner


@pytest.fixture
def recorder(tmp_path, upstream):
    """A fake in record mode, forwarding to `upstream`, recording into tmp_path/cassette."""
    with Runner(Profile(), port=0, confdir=tmp_path / "conf", warm=False, record=tmp_path / "cassette",
                upstream=upstream.base_url_origin) as runner:
        yield runner


def client_for(runner: Runner, face: str, monkeypatch) -> openai.OpenAI:
    """An SDK client reaching https://api.openai.com through the proxy (as conftest's `proxy_env` points one),
    or the base-URL face's own port."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
                 "https_proxy", "OPENAI_BASE_URL", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    if face == "base-url":
        return openai.OpenAI(api_key=KEY, base_url=runner.base_url, max_retries=0)
    for name, value in runner.env(inherited=os.environ, trust_dir=True).items():
        monkeypatch.setenv(name, value)
    return openai.OpenAI(api_key=KEY, max_retries=0)


def settled(runner: Runner) -> None:
    """Every forwarded call journaled (a client can have its stream before the exchange is written)."""
    assert wait_for(lambda: runner.streams_active == 0, 10)


def by_route(directory) -> dict[str, list]:
    found: dict[str, list] = {}
    for exchange in Cassette.load(directory).exchanges:
        found.setdefault(exchange.route, []).append(exchange)
    return found


def assert_no_key(directory) -> None:
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert KEY.encode() not in data, path
        assert KEY[8:].encode() not in data, path  # not even its body without the prefix


@pytest.mark.parametrize("face", ["proxy", "base-url"])
def test_a_session_is_forwarded_recorded_and_answers_match_field_by_field(recorder, upstream, face, monkeypatch,
                                                                         tmp_path):
    client = client_for(recorder, face, monkeypatch)
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}])
    assert chat.choices[0].message.content == ANSWER  # the upstream's answer, not this fake's

    started = time.monotonic()
    streamed, arrivals = [], []
    for chunk in client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                messages=[{"role": "user", "content": "Stream it"}]):
        streamed.append(chunk.to_dict())
        arrivals.append(time.monotonic() - started)
    deltas = "".join(c["choices"][0]["delta"].get("content") or "" for c in streamed if c["choices"])
    assert deltas == ANSWER
    content_arrivals = [t for c, t in zip(streamed, arrivals) if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert content_arrivals[1] - content_arrivals[0] >= CHUNK_DELAY - 0.05  # passed on as it came, not buffered

    embeddings = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"], encoding_format="float")
    upload_bytes = b"record mode keeps this upload\n" * 3
    uploaded = client.files.create(file=("notes.txt", upload_bytes, "text/plain"), purpose="assistants")
    response = client.responses.create(model="gpt-4o-mini", input="Tell me about whales")
    retrieved = client.responses.retrieve(response.id)
    assert retrieved.id == response.id  # the upstream's state: it kept what it was sent
    settled(recorder)

    recording = tmp_path / "cassette"
    exchanges = by_route(recording)
    assert sorted(exchanges) == ["chat.completions.create", "embeddings.create", "files.create",
                                 "responses.create", "responses.retrieve"]
    whole, stream = sorted(exchanges["chat.completions.create"], key=lambda e: "chunks" in e.response)
    assert whole.response["status"] == 200 and whole.response["json"] == chat.to_dict()
    assert whole.request["json"]["messages"] == [{"role": "user", "content": "Say hi"}]
    assert exchanges["embeddings.create"][0].response["json"] == embeddings.to_dict()
    assert exchanges["responses.create"][0].response["json"] == response.to_dict()
    assert exchanges["responses.retrieve"][0].response["json"] == retrieved.to_dict()
    assert exchanges["responses.retrieve"][0].request["path"] == f"/v1/responses/{response.id}"

    upload = exchanges["files.create"][0]
    assert upload.response["json"] == uploaded.to_dict()
    part = next(p for p in upload.request["form"] if p["name"] == "file")
    assert part["filename"] == "notes.txt" and part["size"] == len(upload_bytes)
    assert upload_bytes in upload.side("request")  # the multipart body, kept
    assert next(p for p in upload.request["form"] if p["name"] == "purpose")["value"] == "assistants"

    # The stream: every event the client parsed, in order, and each at the upstream's pace.
    chunks = stream.response["chunks"]
    events = [json.loads(c["data"].removeprefix("data: ")) for c in chunks if c["data"].strip() != "data: [DONE]"]
    assert events == streamed
    assert chunks[-1]["data"].strip() == "data: [DONE]"
    paced = [c["at"] for c, e in zip(chunks, events) if e["choices"] and e["choices"][0]["delta"].get("content")]
    assert len(paced) == len(ANSWER.split())
    for i, at in enumerate(paced):
        assert abs(at - (TTFT + i * CHUNK_DELAY)) < 0.05, (i, at)
    assert stream.response["headers"]["content-type"].startswith("text/event-stream")

    # The key went upstream (the real API needs it) and nowhere on the disk.
    assert {e.key for e in upstream.journal.entries()[-6:]} == {f"sk-...{KEY[-4:]}"}
    assert_no_key(recording)
    assert not read(recording).leftovers and not read(recording).unreadable

    # The journal says each call was forwarded, and where it was recorded.
    calls = [e for e in recorder.journal.entries() if e.kind == "call"]
    assert len(calls) == 6 and {e.face for e in calls} == {face}
    assert {e.upstream for e in calls} == {upstream.base_url_origin}
    assert sorted(e.recorded for e in calls) == sorted(p.name for p in recording.glob("*.json"))
    assert {e.rule for e in calls} >= {"chat.completions", "embeddings", "files", "responses"}
    streamed_call = next(e for e in calls if e.outcome is not None)
    assert streamed_call.outcome == "completed" and streamed_call.chunks == len(chunks)


@pytest.mark.parametrize("face", ["proxy", "base-url"])
def test_an_answer_over_the_bound_is_forwarded_whole_but_not_recorded(recorder, face, monkeypatch, tmp_path):
    recorder.record.max_capture = 2000  # an embedding of 1536 floats is far more
    client = client_for(recorder, face, monkeypatch)
    got = client.embeddings.create(model="text-embedding-3-small", input="big", encoding_format="float")
    assert len(got.data[0].embedding) == 1536
    client.models.list()  # small: recorded
    settled(recorder)
    calls = [e for e in recorder.journal.entries() if e.kind == "call"]
    assert calls[0].recorded is None and "passed 2000 bytes" in calls[0].note
    assert calls[1].recorded is not None
    assert [e.route for e in Cassette.load(tmp_path / "cassette").exchanges] == ["models.list"]


@pytest.mark.parametrize("face", ["proxy", "base-url"])
def test_an_upstream_that_is_down_is_a_5xx_and_nothing_is_recorded(tmp_path, face, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed again: nothing listens there
    with Runner(Profile(), port=0, confdir=tmp_path / "conf", warm=False, record=tmp_path / "cassette",
                upstream=f"http://127.0.0.1:{dead}") as runner:
        client = client_for(runner, face, monkeypatch)
        with pytest.raises(openai.InternalServerError) as caught:
            client.models.list()
        assert caught.value.status_code == 502
        settled(runner)
        entry = [e for e in runner.journal.entries() if e.kind == "call"][-1]
        assert entry.status == 502 and entry.recorded is None and entry.note.startswith("not recorded")
        assert not list((tmp_path / "cassette").iterdir())


def test_kill_9_mid_session_leaves_every_completed_exchange_readable(upstream, tmp_path):
    recording = tmp_path / "cassette"
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--port", "0", "--confdir", str(tmp_path / "conf"),
                             "--record", str(recording), "--upstream", upstream.base_url_origin],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        printed = read_until(proc, "OPENAI_BASE_URL=")
        assert "Recording" in printed and upstream.base_url_origin in printed
        base_url = printed.split("OPENAI_BASE_URL=")[-1].strip().strip("'")
        client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)
        answers = [client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"turn {n}"}])
                   for n in range(3)]
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                messages=[{"role": "user", "content": "cut me off"}])
        next(iter(stream))  # the stream has begun: the fake is killed in the middle of it
        journal = journal_path(tmp_path / "conf")  # the three whole answers journaled as recorded: completed
        assert wait_for(lambda: sum(bool(e.recorded) for e in read_entries(journal)) == 3, 10)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    contents = read(recording)
    assert not contents.unreadable
    assert [e.request["json"]["messages"][0]["content"] for e in contents.exchanges] == ["turn 0", "turn 1", "turn 2"]
    cassette = Cassette.load(recording)
    assert [e.response["json"] for e in cassette.exchanges] == [a.to_dict() for a in answers]
    assert_no_key(recording)


def test_run_says_where_it_records_and_refuses_an_upstream_alone(tmp_path):
    done = run_cli("run", "--port", "0", "--confdir", str(tmp_path), "--upstream", "http://127.0.0.1:9")
    assert done.returncode == 2 and "--record" in done.stderr
    done = run_cli("run", "--port", "0", "--confdir", str(tmp_path), "--record", str(tmp_path / "c"),
                   "--upstream", "ftp://example.com")
    assert done.returncode == 2 and "http(s) URL" in done.stderr


def test_exec_record_keeps_the_users_key_and_records(upstream, tmp_path):
    script = ("import openai; c = openai.OpenAI(max_retries=0); "
              "print(c.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}])"
              ".choices[0].message.content)")
    env = {"OPENAI_API_KEY": KEY, "SSL_CERT_FILE": ""}
    done = run_cli("exec", "--confdir", str(tmp_path / "conf"), "--record", str(tmp_path / "cassette"),
                   "--upstream", upstream.base_url_origin, "--", openai_fake_python(), "-c", script, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ANSWER
    assert "record mode" in done.stderr and "replaced by a fake key" not in done.stderr
    assert upstream.journal.entries()[-1].key == f"sk-...{KEY[-4:]}"  # the real key reached the upstream
    assert [e.route for e in Cassette.load(tmp_path / "cassette").exchanges] == ["chat.completions.create"]
    assert_no_key(tmp_path / "cassette")


def openai_fake_python() -> str:
    import sys

    return sys.executable


# -- the pieces, by table ------------------------------------------------------------------------


def test_upstream_urls():
    assert Upstream.parse("https://api.openai.com") == Upstream("https", "api.openai.com", 443, "")
    gateway = Upstream.parse("https://Gateway.example:8443/openai/")
    assert (gateway.host, gateway.port, gateway.prefix, gateway.url) == ("gateway.example", 8443, "/openai",
                                                                         "https://gateway.example:8443/openai")
    assert gateway.target("/v1/models?limit=2") == "/openai/v1/models?limit=2"
    assert Upstream.parse("http://[::1]:8000").authority == "[::1]:8000"
    for bad in ("ftp://x", "api.openai.com", "https://", "https://h/?q=1", "https://u:p@h", "http://h:99999"):
        with pytest.raises(UpstreamError):
            Upstream.parse(bad)


@pytest.mark.parametrize("host, forwarding, refused", [
    ("api.openai.com", False, True),  # every mode but record mode
    ("api.openai.com", True, False),  # record mode's own upstream
])
def test_an_openai_host_is_reached_only_as_record_modes_upstream(host, forwarding, refused):
    why = upstream_refusal(host, 443, ["162.159.140.245"], listen_port=8080, client_is_local=True, forwarding=forwarding)
    assert bool(why) is refused
    # Never the fake itself, forwarding or not: a loop.
    assert upstream_refusal("127.0.0.1", 8080, [], listen_port=8080, client_is_local=True, forwarding=True)


async def test_record_mode_allows_its_upstream_and_no_other_openai_host(tmp_path):
    addon = OpenAIFake(record=RecordMode(tmp_path, "https://api.openai.com"))
    with taddons.context(addon):
        for host, port, sni, refused in [("api.openai.com", 443, "api.openai.com", False),
                                         ("api.openai.com", 443, None, False),
                                         ("eu.api.openai.com", 443, None, True),
                                         ("api.openai.com", 8443, None, True),
                                         ("203.0.113.7", 443, "api.openai.com", True),
                                         ("myres.openai.azure.com", 443, None, True)]:
            server = connection.Server(address=(host, port), sni=sni)
            client = tflow.tclient_conn()
            client.peername, client.sockname = ("127.0.0.1", 50000), ("127.0.0.1", 8080)
            await addon.server_connect(ServerConnectionHookData(server=server, client=client))
            assert bool(server.error) is refused, (host, port, sni)


def test_a_capture_is_bounded_and_writes_nothing_past_its_bound(tmp_path):
    recorder = Recorder(tmp_path)
    request = Request("POST", "/v1/chat/completions", {"content-type": "application/json"}, b'{"model": "m"}')
    capture = Capture(recorder, request, 200, {"content-type": "text/event-stream"}, latency=0.1,
                      started=time.time(), limit=100)
    assert capture.feed(b"data: " + b"x" * 60 + b"\n\n") == b"data: " + b"x" * 60 + b"\n\n"  # passed on unchanged
    capture.feed(b"data: " + b"y" * 60 + b"\n\n")
    assert capture.skipped and "passed 100 bytes" in capture.skipped
    assert capture.finish() is None and not list(tmp_path.iterdir())
    encoded = Capture(recorder, request, 200, {"content-type": "application/json", "content-encoding": "gzip"},
                      latency=0.1, started=time.time())
    encoded.feed(b"\x1f\x8b")
    assert encoded.finish() is None and "gzip" in encoded.skipped


REALTIME_ANSWER = "Realtime words recorded as events"


def realtime_session(client: openai.OpenAI) -> list[dict]:
    """Every server event of `realtime_talk.text_session`, as the client got it."""
    with text_session(client) as talk:
        return talk.events


@pytest.mark.parametrize("face", ["proxy", "base-url", "base-url-on-the-proxy-port"])
def test_a_realtime_session_is_forwarded_and_recorded_as_its_event_log(recorder, upstream, face, monkeypatch,
                                                                       tmp_path):
    client = client_for(recorder, "proxy" if face == "proxy" else "base-url", monkeypatch)
    if face == "base-url-on-the-proxy-port":  # ws://127.0.0.1:PROXY/v1/realtime: forwarded by mitmproxy
        client = openai.OpenAI(api_key=KEY, base_url=f"{recorder.proxy_url}/v1", max_retries=0)
        face = "base-url"
    got = realtime_session(client)
    assert [e["type"] for e in got[:4]] == ["session.created", "session.updated", "conversation.item.added",
                                            "conversation.item.done"]
    deltas = [e["delta"] for e in got if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == REALTIME_ANSWER and got[-1]["type"] == "response.done"  # the upstream's answer
    settled(recorder)
    assert any(e.rule == "realtime" and e.kind == "call" for e in upstream.journal.entries())  # the upstream ran it
    assert upstream.journal.entries()[-1].key == f"sk-...{KEY[-4:]}"  # with the client's key

    recording = tmp_path / "cassette"
    (session,) = Cassette.load(recording).exchanges
    assert session.route == "realtime.connect" and session.response is None
    assert (session.request["method"], session.request["path"], session.request["query"]) == (
        "GET", "/v1/realtime", {"model": "gpt-realtime"})
    log = session.events
    assert [e["event"]["type"] for e in log if e["direction"] == "client"] == CLIENT_EVENTS
    assert [e["event"] for e in log if e["direction"] == "server"] == got  # every server event, as the client got it
    assert log[0]["direction"] == "server" and log[0]["event"]["type"] == "session.created"
    at = [e["at"] for e in log]
    assert at == sorted(at)
    paced = [e["at"] for e in log if e["event"]["type"] == "response.output_text.delta"]
    for before, after in zip(paced, paced[1:]):
        assert abs(after - before - CHUNK_DELAY) < 0.05, paced  # the upstream's pace, as it passed
    assert_no_key(recording)

    entry = [e for e in recorder.journal.entries() if e.kind == "call"][-1]
    assert (entry.status, entry.face, entry.path) == (101, face, "/v1/realtime?model=gpt-realtime")
    assert entry.recorded == session.name and entry.note is None and entry.outcome == "completed"
    assert entry.upstream == upstream.base_url_origin and entry.chunks == len(got)


@pytest.mark.parametrize("face", ["proxy", "base-url"])
def test_a_realtime_session_over_the_bound_is_forwarded_but_not_recorded(recorder, face, monkeypatch, tmp_path):
    recorder.record.max_capture = 500  # session.created alone is more
    got = realtime_session(client_for(recorder, face, monkeypatch))
    assert got[-1]["type"] == "response.done"  # forwarded whole all the same
    settled(recorder)
    entry = [e for e in recorder.journal.entries() if e.kind == "call"][-1]
    assert entry.recorded is None and "passed 500 bytes" in entry.note
    assert not list((tmp_path / "cassette").glob("*.json"))


@pytest.mark.parametrize("face", ["proxy", "base-url"])
def test_a_refused_realtime_handshake_is_passed_on_and_recorded_as_its_http_answer(tmp_path, face, monkeypatch):
    import warnings

    import websockets

    profile = Profile()
    profile.realtime(failures=1, failure_status=429, retry_after=0)
    recording = tmp_path / "cassette"

    def connect(client: openai.OpenAI):
        with warnings.catch_warnings(), pytest.raises(websockets.InvalidStatus) as caught:
            warnings.simplefilter("ignore", DeprecationWarning)
            with client.realtime.connect(model="gpt-realtime"):
                pass
        return caught.value.response

    with Runner(profile, port=0, confdir=tmp_path / "up", warm=False) as upstream, \
            Runner(Profile(), port=0, confdir=tmp_path / "conf", warm=False, record=recording,
                   upstream=upstream.base_url_origin) as runner:
        refused = connect(client_for(runner, face, monkeypatch))
        assert refused.status_code == 429
        assert json.loads(refused.body)["error"]["code"] == "rate_limit_exceeded"  # the upstream's own answer
        settled(runner)
        entry = [e for e in runner.journal.entries() if e.kind == "call"][-1]
    (exchange,) = Cassette.load(recording).exchanges
    assert exchange.route == "realtime.connect" and exchange.events is None
    assert exchange.response["status"] == 429 and exchange.response["json"]["error"]["code"] == "rate_limit_exceeded"
    assert (entry.status, entry.recorded) == (429, exchange.name)
    assert_no_key(recording)
    with Runner(Profile(), port=0, confdir=tmp_path / "replay", warm=False, replay=recording) as replayer:
        assert connect(client_for(replayer, face, monkeypatch)).status_code == 429  # and replayed as it was


@pytest.mark.parametrize("face", ["proxy", "base-url"])
def test_a_realtime_session_the_upstream_cuts_is_passed_on_and_recorded_up_to_the_cut(tmp_path, face, monkeypatch):
    import warnings

    import websockets

    profile = Profile()
    profile.realtime(output_text="one two three four", stream={"cut_after": 2})
    recording = tmp_path / "cassette"
    with Runner(profile, port=0, confdir=tmp_path / "up", warm=False) as upstream, \
            Runner(Profile(), port=0, confdir=tmp_path / "conf", warm=False, record=recording,
                   upstream=upstream.base_url_origin) as runner:
        client = client_for(runner, face, monkeypatch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with client.realtime.connect(model="gpt-realtime") as conn:
                conn.session.update(session=TEXT_ONLY)
                conn.response.create()
                with pytest.raises(websockets.ConnectionClosedError) as cut:
                    while True:
                        conn.recv_bytes()
        assert cut.value.rcvd is not None and cut.value.rcvd.code == 1011  # the upstream's code, passed on
        settled(runner)
        entry = [e for e in runner.journal.entries() if e.kind == "call"][-1]
    (session,) = Cassette.load(recording).exchanges
    deltas = [e["event"]["delta"] for e in session.events if e["event"]["type"] == "response.output_text.delta"]
    assert deltas == ["one", " two"] and session.events[-1]["event"]["type"] == "response.output_text.delta"
    assert (entry.recorded, entry.outcome) == (session.name, "aborted") and "1011" in entry.error


def test_upstream_without_record_is_refused():
    with pytest.raises(ValueError, match="record"):
        Runner(Profile(), port=0, upstream="http://127.0.0.1:9")


def test_tail_shows_where_a_call_went_and_where_it_was_recorded():
    from openai_fake_cli.calls import call_line
    from proxy_addon.journal import Entry

    fields = dict(time=time.time(), method="POST", path="/v1/chat/completions", status=200, rule="chat.completions",
                  upstream="https://api.openai.com")
    line = call_line(Entry(recorded="chat.completions.create-f8a67c-01.json", **fields)).plain
    assert "⇄ https://api.openai.com" in line and "recorded chat.completions.create-f8a67c-01.json" in line
    line = call_line(Entry(note="not recorded: the answer passed 67108864 bytes (record mode's bound)", **fields)).plain
    assert "not recorded: the answer passed" in line
    assert "⇄" not in call_line(Entry(**{**fields, "upstream": None})).plain  # a call the fake answered


@pytest.mark.parametrize("face", ["proxy", "base-url"])
def test_on_miss_record_replays_what_was_recorded_and_records_only_the_misses(upstream, face, monkeypatch, tmp_path):
    from proxy_addon.replaying import Replay

    recording = tmp_path / "cassette"
    messages = [{"role": "user", "content": "Recorded before"}]
    replay = Replay.load(recording, on_miss="record")  # no recording yet: every call a miss, recorded
    with Runner(Profile(), port=0, confdir=tmp_path / "conf", warm=False, replay=replay,
                upstream=upstream.base_url_origin) as runner:
        client = client_for(runner, face, monkeypatch)
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        settled(runner)
    assert [e.route for e in Cassette.load(recording).exchanges] == ["chat.completions.create"]
    upstream_calls = len(upstream.journal.entries())

    with Runner(Profile(), port=0, confdir=tmp_path / "conf2", warm=False,
                replay=Replay.load(recording, on_miss="record"), upstream=upstream.base_url_origin) as runner:
        client = client_for(runner, face, monkeypatch)
        again = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert again.to_dict() == first.to_dict()  # from the recording
        assert len(upstream.journal.entries()) == upstream_calls  # not forwarded
        models = client.models.list()  # a miss: forwarded, recorded
        settled(runner)
        calls = [e for e in runner.journal.entries() if e.kind == "call"]
        assert [(e.rule, e.upstream is not None, e.recorded is not None) for e in calls] == [
            ("replay", False, False), ("models", True, True)]
    assert len(upstream.journal.entries()) == upstream_calls + 1
    assert sorted(e.route for e in Cassette.load(recording).exchanges) == ["chat.completions.create", "models.list"]
    assert_no_key(recording)

    # Replayed with the upstream out of the way: both answers from the recording, nothing forwarded.
    with Runner(Profile(), port=0, confdir=tmp_path / "conf3", warm=False, replay=recording) as runner:
        client = client_for(runner, face, monkeypatch)
        same_but_ids(first.to_dict(), client.chat.completions.create(model="gpt-4o-mini", messages=messages).to_dict())
        same_but_ids(models.to_dict(), client.models.list().to_dict())
    assert len(upstream.journal.entries()) == upstream_calls + 1


def test_a_miss_marked_for_recording_is_the_404_where_nothing_records(tmp_path):
    from proxy_addon.replaying import Replay

    replay = Replay.load(tmp_path / "none-yet", on_miss="record")
    reply = replay.answer(Request("GET", "/v1/models", {}, b""))
    assert reply.forward and reply.status == 404 and b"recording is empty" in reply.body
    assert "forwarded and recorded" in replay.describe()


# -- the pytest marker: record=..., --openai-fake-record -------------------------------------------------

pytest_plugins = ["pytester"]

INNER = '''
import openai
import pytest

SAY_HI = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}])


@pytest.mark.openai_fake(record=True)
def test_chat(openai_fake):
    assert openai.OpenAI(max_retries=0).chat.completions.create(**SAY_HI).choices[0].message.content == WANT


@pytest.mark.openai_fake(record="cassettes/shared", base_url=True)
@pytest.mark.parametrize("n", [1, 2])
def test_shared(openai_fake, n):
    got = openai.OpenAI(max_retries=0).embeddings.create(model="text-embedding-3-small", input="same", dimensions=4)
    assert len(got.data[0].embedding) == 4


@pytest.mark.openai_fake(record=True, on_miss="recrod")
def test_typo(openai_fake):
    pass
'''


def test_the_marker_records_once_then_replays_and_all_records_anew_across_xdist_workers(pytester, upstream,
                                                                                         monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "OPENAI_BASE_URL", "OPENAI_FAKE_CONFDIR", "PYTEST_XDIST_WORKER",
                 "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    pytester.makepyfile(test_inner=f"WANT = {ANSWER!r}\n" + INNER)
    cassettes = pytester.path / "cassettes"
    at = ["--openai-fake-upstream", upstream.base_url_origin, "-p", "no:cacheprovider", "-rA"]

    def run(*args):
        result = pytester.runpytest_subprocess(*at, *args, timeout=180)
        return result, "\n".join(result.outlines[-40:] + result.errlines[-20:])

    def upstream_calls():
        return sum(e.kind == "call" for e in upstream.journal.entries())

    # Nothing recorded and recording off (the default): each record= test fails, saying what to run.
    result, text = run()
    result.assert_outcomes(passed=0, errors=4)
    assert "nothing is recorded at" in text and "--openai-fake-record=new" in text
    assert "on_miss must be one of error, profile, record, not 'recrod'" in text
    assert not cassettes.exists()

    # new: recorded through the upstream; the shared recording is made by the first test, replayed by the second.
    before = upstream_calls()
    result, text = run("--openai-fake-record=new")
    result.assert_outcomes(passed=3, errors=1)
    assert upstream_calls() == before + 2, text
    chat_dir, shared = cassettes / "test_inner" / "test_chat", cassettes / "shared"
    assert [e.route for e in read(chat_dir).exchanges] == ["chat.completions.create"]
    assert len(read(shared).exchanges) == 1
    assert_no_key(cassettes)
    first_recorded = read(shared).exchanges[0].recorded_at

    # none: replayed, nothing forwarded.
    result, text = run()
    result.assert_outcomes(passed=3, errors=1)
    assert upstream_calls() == before + 2, text

    # all, on two xdist workers: recorded anew; the earlier run's exchanges go, this run's are all kept.
    result, text = run("--openai-fake-record=all", "-n", "2")
    result.assert_outcomes(passed=3, errors=1)
    assert upstream_calls() == before + 5, text
    exchanges = read(shared).exchanges
    assert len(exchanges) == 2 and all(e.recorded_at > first_recorded for e in exchanges)
    assert len(read(chat_dir).exchanges) == 1
    assert_no_key(cassettes)


@pytest.mark.parametrize("uploads", ["keep", "hash"])
def test_an_uploads_bytes_are_kept_or_only_hashed_by_choice_and_replay_either_way(upstream, uploads, monkeypatch,
                                                                                   tmp_path):
    data = b"an upload recorded by choice\n" * 4
    with Runner(Profile(), port=0, confdir=tmp_path / "conf", warm=False, record=tmp_path / "cassette",
                upstream=upstream.base_url_origin, record_uploads=uploads) as runner:
        client = client_for(runner, "base-url", monkeypatch)
        made = client.files.create(file=("notes.txt", data, "text/plain"), purpose="assistants")
        settled(runner)
    [exchange] = Cassette.load(tmp_path / "cassette").exchanges
    assert exchange.request["raw"]["size"] > len(data)  # the whole multipart body, hashed
    assert ("file" in exchange.request["raw"]) is (uploads == "keep")
    assert bool(list((tmp_path / "cassette").glob("*.request.bin"))) is (uploads == "keep")
    with Runner(Profile(), port=0, confdir=tmp_path / "conf2", warm=False, replay=tmp_path / "cassette") as runner:
        again = client_for(runner, "base-url", monkeypatch).files.create(file=("notes.txt", data, "text/plain"),
                                                                         purpose="assistants")
    same_but_ids(made.to_dict(), again.to_dict())


def test_record_uploads_without_a_recording_is_a_usage_error(tmp_path):
    done = run_cli("run", "--confdir", str(tmp_path), "--port", "0", "--record-uploads", "hash")
    assert done.returncode == 2
    assert done.stderr == "error: --record-uploads says what --record (or --on-miss record) keeps: give --record DIR too\n"
