"""Replay mode end to end (issue 18): a recording made from real exchanges with another fake as the upstream,
then answered again by the session's fake through the proxy and the base-URL face, with the real SDK."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest
import requests

from conftest import API_KEY, openai_fake_cmd, read_until, run_cli, same_but_ids
from realtime_talk import text_session
from proxy_addon import Profile
from proxy_addon.cassettes import Cassette, Recorder
from proxy_addon.engine import Request
from proxy_addon.profile import load
from proxy_addon.replaying import REPLAY_RULE, Replay, ReplayError
from proxy_addon.runner import Runner

CHAT = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}])
STREAMED = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Count to five slowly"}])
SESSION = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "How are you?"}])
EMBED = dict(model="text-embedding-3-small", input="whales are mammals")
GAP = 0.15  # the upstream's pace between stream chunks, as recorded
TOLERANCE = 0.05


def upstream_profile() -> Profile:
    """The stand-in for the real API: every chat answer names its prompt and its turn, so that repeats differ,
    and streams come at GAP seconds a chunk."""
    profile = Profile(stream={"ttft": GAP, "chunk_delay": GAP})

    def chat(request, state):
        prompt = request.json["messages"][-1]["content"]
        return f"{prompt}: turn {state.call_count('chat.completions.create')} of the upstream"

    profile.chat.completions(handler=chat)
    return profile


def engine_request(http_request) -> Request:
    """The request the SDK sent, as the recorder takes it."""
    url = http_request.url
    return Request(http_request.method, url.path, {k.lower(): v for k, v in http_request.headers.items()},
                   http_request.content, dict(url.params))


@dataclass
class Recording:
    directory: Path
    #: What the upstream answered, as the SDK parsed it (`model_dump()`), by name.
    answers: dict = field(default_factory=dict)


def record_whole(recorder: Recorder, resource, **params):
    """Call `resource.create(**params)` on the upstream and record the exchange; the parsed answer."""
    raw = resource.with_raw_response.create(**params)
    recorder.record(engine_request(raw.http_request), raw.status_code, dict(raw.headers), raw.content,
                    latency=raw.elapsed.total_seconds())
    return raw.parse()


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Recording:
    """A recording of real exchanges with an upstream fake of its own, which is stopped before any replay."""
    directory = tmp_path_factory.mktemp("cassette")
    recorder = Recorder(directory)
    found = Recording(directory)
    with Runner(upstream_profile(), port=0, confdir=tmp_path_factory.mktemp("upstream"), warm=False) as upstream, \
            openai.OpenAI(api_key=API_KEY, base_url=upstream.base_url, max_retries=0) as sdk:
        found.answers["chat"] = record_whole(recorder, sdk.chat.completions, **CHAT).model_dump()
        found.answers["session"] = [record_whole(recorder, sdk.chat.completions, **SESSION).choices[0].message.content
                                    for _ in range(3)]
        found.answers["embedding"] = record_whole(recorder, sdk.embeddings, **EMBED).model_dump()
        first = record_whole(recorder, sdk.responses, model="gpt-4o", input="Name a colour")
        second = record_whole(recorder, sdk.responses, model="gpt-4o", input="And another",
                              previous_response_id=first.id)
        found.answers["chain"] = [first.model_dump(), second.model_dump()]
        clock = time.monotonic()
        with sdk.chat.completions.with_streaming_response.create(**STREAMED, stream=True) as streamed:
            stream = recorder.stream(engine_request(streamed.http_request), streamed.status_code,
                                     dict(streamed.headers), latency=time.monotonic() - clock)
            for data in streamed.iter_bytes():
                stream.feed(data)
            stream.finish()
    return found


@pytest.fixture
def replay_from(fake, use_profile):
    """Make the session's fake replay a recording for this test: `replay_from(dir, on_miss=..., speed=...)`."""
    def start(directory: Path, **options) -> Replay:
        fake.engine.replay = Replay.load(directory, **options)
        return fake.engine.replay

    yield start
    fake.engine.replay = None


@pytest.fixture(params=["proxy", "base-url"])
def sdk(request):
    """A real SDK client through the proxy face, then through the base-URL face."""
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


def last_call(fake):
    """The journal's last call, once no stream is being written (a stream's call is recorded when it ends)."""
    deadline = time.monotonic() + 5
    while fake.streams_active and time.monotonic() < deadline:
        time.sleep(0.01)
    return [e for e in fake.journal.entries() if e.kind == "call"][-1]


def test_a_whole_chat_is_replayed_field_by_field_and_journaled_as_a_replay(fake, sdk, recording, replay_from):
    replay_from(recording.directory, speed=0)
    reply = sdk.chat.completions.create(**CHAT)
    ids = same_but_ids(recording.answers["chat"], reply.model_dump())
    assert ids[recording.answers["chat"]["id"]] == reply.id  # a fresh id, as the API would give
    assert reply.choices[0].message.content == "Say hi: turn 1 of the upstream"
    entry = last_call(fake)
    assert (entry.status, entry.rule, entry.path) == (200, REPLAY_RULE, "/v1/chat/completions")
    from openai_fake_cli.calls import call_line  # what `tail` and `run` print for it

    assert f"  {REPLAY_RULE}  " in call_line(entry).plain


@pytest.mark.parametrize("speed", [1, 3])
def test_a_stream_is_replayed_at_its_recorded_pace_divided_by_the_speed(fake, sdk, recording, replay_from, speed):
    replay_from(recording.directory, speed=speed)
    recorded = Cassette.load(recording.directory).answer(
        Request("POST", "/v1/chat/completions", {"content-type": "application/json"},
                json.dumps({**STREAMED, "stream": True}).encode()))
    events = [c for c in recorded.chunks if b"[DONE]" not in c.data]
    assert len(events) >= 5 and events[-1].at - events[0].at >= 3 * GAP  # the recording has gaps to keep

    arrived, text = [], ""
    for chunk in sdk.chat.completions.create(**STREAMED, stream=True):
        arrived.append(time.monotonic())
        text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    recorded_text = "".join(choice["delta"].get("content") or "" for c in events
                            for choice in json.loads(c.data.decode().removeprefix("data: "))["choices"])
    assert text == recorded_text and text.startswith("Count to five slowly: turn ")
    assert len(arrived) == len(events)
    # Each content delta's arrival against its recorded time / speed, from a common start: the median offset
    # (not the first event's: the proxy face's relay keeps the schedule from the answer, and its first event also
    # carries the hop there; nor one chunk's, which a loaded machine may hand over late).
    offsets = sorted(got - want.at / speed for got, want in zip(arrived[1:], events[1:]))
    start = offsets[len(offsets) // 2]
    for got, want in zip(arrived[1:], events[1:]):
        assert abs(got - start - want.at / speed) <= TOLERANCE, (speed, arrived, events)
    assert last_call(fake).rule == REPLAY_RULE and last_call(fake).outcome == "completed"


def test_embeddings_are_replayed(sdk, recording, replay_from):
    replay_from(recording.directory, speed=0)
    reply = sdk.embeddings.create(**EMBED)
    assert reply.model_dump() == recording.answers["embedding"] and len(reply.data[0].embedding) > 100


def test_a_responses_chain_is_replayed_with_its_previous_response_id(sdk, recording, replay_from):
    replay_from(recording.directory, speed=0)
    first = sdk.responses.create(model="gpt-4o", input="Name a colour")
    second = sdk.responses.create(model="gpt-4o", input="And another", previous_response_id=first.id)
    ids = same_but_ids(recording.answers["chain"], [first.model_dump(), second.model_dump()])
    recorded_first = recording.answers["chain"][0]["id"]
    assert first.id != recorded_first and ids[recorded_first] == first.id  # fresh, and mapped back for the chain
    assert second.previous_response_id == first.id
    with pytest.raises(openai.NotFoundError):  # another previous_response_id is another request
        sdk.responses.create(model="gpt-4o", input="And another", previous_response_id="resp_other")


def test_ids_as_recorded_replay_the_recording_byte_for_byte(sdk, recording, replay_from):
    replay_from(recording.directory, speed=0, ids="recorded")
    first = sdk.responses.create(model="gpt-4o", input="Name a colour")
    second = sdk.responses.create(model="gpt-4o", input="And another", previous_response_id=first.id)
    assert [first.model_dump(), second.model_dump()] == recording.answers["chain"]


def test_a_reset_gives_fresh_ids_anew(fake, sdk, recording, replay_from):
    replay = replay_from(recording.directory, speed=0)
    before = sdk.chat.completions.create(**CHAT).id
    fake.engine.reset()
    after = sdk.chat.completions.create(**CHAT).id
    assert before != after and before[:9] == after[:9] == recording.answers["chat"]["id"][:9]
    assert replay.describe().endswith("a miss is a 404)")


def test_a_session_is_replayed_in_order_then_the_last_answer_held_and_reset_rewinds_it(fake, sdk, recording, replay_from):
    replay_from(recording.directory, speed=0)
    turns = recording.answers["session"]
    assert len(set(turns)) == 3
    assert [sdk.chat.completions.create(**SESSION).choices[0].message.content for _ in range(4)] == [*turns, turns[-1]]
    with requests.Session() as plain:
        plain.trust_env = False
        reset = plain.post(f"{fake.base_url_origin}/_fake/reset", timeout=10,
                           headers={"authorization": f"Bearer {fake.control_token}"})
    assert reset.status_code == 200
    assert sdk.chat.completions.create(**SESSION).choices[0].message.content == turns[0]


def test_a_miss_is_the_404_naming_the_nearest_recorded_request_and_what_differs(fake, sdk, recording, replay_from):
    replay_from(recording.directory)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}])
    error = caught.value
    assert error.code == "recording_miss" and error.param == "messages.0.content"
    assert error.body["code"] == "recording_miss" and error.body["type"] == "invalid_request_error"
    assert "Nearest: chat.completions.create-" in error.message
    assert 'recorded "Say hi", requested "Say hello"' in error.message
    entry = last_call(fake)
    assert (entry.status, entry.rule) == (404, REPLAY_RULE) and "nothing recorded" in entry.error


def test_on_miss_profile_answers_a_miss_from_the_profile_and_a_hit_from_the_recording(fake, sdk, recording,
                                                                                      replay_from, use_profile):
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "from the profile"}}])
    use_profile(profile)
    replay_from(recording.directory, on_miss="profile", speed=0)
    missed = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}])
    assert missed.choices[0].message.content == "from the profile"
    assert last_call(fake).rule == "chat.completions"  # the profile's rule answered it
    same_but_ids(recording.answers["chat"], sdk.chat.completions.create(**CHAT).model_dump())
    assert last_call(fake).rule == REPLAY_RULE


def test_a_replay_that_cannot_start_says_why(tmp_path, recording):
    with pytest.raises(ReplayError, match="no such directory"):
        Replay.load(tmp_path / "nowhere")
    with pytest.raises(ReplayError, match="holds no recorded exchange"):
        Replay.load(tmp_path)
    with pytest.raises(ReplayError, match="on_miss must be one of error, profile, record, not 'forward'"):
        Replay.load(recording.directory, on_miss="forward")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ReplayError, match="not a directory"):
        Replay.load(tmp_path / "a-file", on_miss="record")
    with pytest.raises(ReplayError, match="speed must be a number >= 0"):
        Replay.load(recording.directory, speed=-1)


# -- Realtime sessions ---------------------------------------------------------------------------------------

REALTIME_ANSWER = "A recorded voice, replayed"


@dataclass
class RealtimeRecording:
    directory: Path
    #: Every server event the client got while it was recorded.
    events: list[dict]
    #: The session's event log, as written.
    log: list[dict]


@pytest.fixture(scope="module", params=["recorded-through-the-proxy", "recorded-on-the-base-url"])
def realtime_recording(request, tmp_path_factory) -> RealtimeRecording:
    """A Realtime session recorded by a fake in record mode (through its proxy, then on its base-URL face) from an
    upstream fake whose deltas come GAP seconds apart; both stopped before any replay."""
    directory = tmp_path_factory.mktemp("realtime")
    profile = Profile(stream={"ttft": GAP, "chunk_delay": GAP})
    profile.realtime(output_text=REALTIME_ANSWER)
    with Runner(profile, port=0, confdir=tmp_path_factory.mktemp("rt-upstream"), warm=False) as upstream, \
            Runner(Profile(), port=0, confdir=tmp_path_factory.mktemp("rt-recorder"), warm=False, record=directory,
                   upstream=upstream.base_url_origin) as recorder, pytest.MonkeyPatch.context() as env:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
                     "https_proxy", "OPENAI_BASE_URL", "SSL_CERT_FILE"):
            env.delenv(name, raising=False)
        if request.param == "recorded-through-the-proxy":
            for name, value in recorder.env(inherited=os.environ, trust_dir=True).items():
                env.setenv(name, value)
            sdk = openai.OpenAI(api_key=API_KEY, max_retries=0)
        else:
            sdk = openai.OpenAI(api_key=API_KEY, base_url=recorder.base_url, max_retries=0)
        with sdk, text_session(sdk) as talk:
            events = talk.events
        deadline = time.monotonic() + 10
        while recorder.streams_active and time.monotonic() < deadline:  # the log is written once it has closed
            time.sleep(0.01)
    (session,) = Cassette.load(directory).exchanges
    assert [e["event"] for e in session.events if e["direction"] == "server"] == events
    return RealtimeRecording(directory, events, session.events)


@pytest.mark.parametrize("speed", [1, 3])
def test_a_realtime_session_is_replayed_from_its_event_log_at_its_recorded_pace(fake, sdk, realtime_recording,
                                                                              replay_from, speed):
    replay_from(realtime_recording.directory, speed=speed)
    with text_session(sdk) as talk:
        # The same server events in the same order, ids and texts as recorded.
        assert [e["type"] for e in talk.events] == [e["type"] for e in realtime_recording.events]
        assert talk.events == realtime_recording.events
        assert "".join(d for d, _ in talk.deltas()) == REALTIME_ANSWER
        # Past the log: the API's error event, and the socket stays open.
        talk.conn.response.create()
        (error,) = talk.read()
        assert error["type"] == "error" and error["error"]["code"] == "recording_miss"
        assert "nothing more was recorded" in error["error"]["message"] and "has 3 client events" in error["error"]["message"]
        talk.conn.session.update(session={"type": "realtime", "instructions": "still here?"})
        assert talk.read()[0]["type"] == "error"

    # The pace: each delta after the client's response.create as recorded, divided by the speed.
    log = realtime_recording.log
    asked = next(e["at"] for e in log if e["direction"] == "client" and e["event"]["type"] == "response.create")
    recorded = [e["at"] - asked for e in log if e["event"]["type"] == "response.output_text.delta"]
    assert recorded[0] >= GAP - TOLERANCE and recorded[-1] - recorded[0] >= 2 * GAP  # a pace worth keeping
    sent = talk.sent["response.create"]
    replayed = [at - sent for _, at in talk.deltas()[:len(recorded)]]
    for got, want in zip(replayed, recorded):
        assert abs(got - want / speed) <= TOLERANCE, (speed, replayed, recorded)

    entry = last_realtime_call(fake)
    assert (entry.rule, entry.path, entry.outcome) == (REPLAY_RULE, "/v1/realtime?model=gpt-realtime", "completed")
    assert entry.answer and entry.answer.startswith("A recorded voice")


def test_a_realtime_session_at_speed_0_is_replayed_at_once(sdk, realtime_recording, replay_from):
    replay_from(realtime_recording.directory, speed=0)
    with text_session(sdk) as talk:
        assert talk.events == realtime_recording.events
    deltas = [at for _, at in talk.deltas()]
    assert deltas[-1] - talk.sent["response.create"] < GAP  # no recorded gap kept


def test_a_realtime_handshake_nobody_recorded_is_the_miss(sdk, realtime_recording, replay_from):
    import warnings

    import websockets

    replay_from(realtime_recording.directory)
    with warnings.catch_warnings(), pytest.raises(websockets.InvalidStatus) as caught:
        warnings.simplefilter("ignore", DeprecationWarning)
        with sdk.realtime.connect(model="gpt-realtime-mini"):
            pass
    refused = caught.value.response
    assert refused.status_code == 404
    error = json.loads(refused.body)["error"]
    assert error["code"] == "recording_miss" and "realtime.connect-" in error["message"]  # the nearest: the session


def test_a_plain_get_of_a_recorded_sessions_handshake_is_told_to_upgrade(fake, realtime_recording, replay_from):
    replay_from(realtime_recording.directory)
    with requests.Session() as plain:
        plain.trust_env = False
        got = plain.get(f"{fake.base_url}/realtime", params={"model": "gpt-realtime"}, timeout=10,
                        headers={"authorization": f"Bearer {API_KEY}"})
    assert got.status_code == 400 and got.json()["error"]["code"] == "websocket_upgrade_required"


@pytest.mark.parametrize("speed, waits", [(1, [0.5, 0.25]), (2, [0.25, 0.125]), (0, [0.0, 0.0])])
def test_a_replayed_session_answers_each_client_event_with_what_followed_it(speed, waits):
    from proxy_addon.realtime_replay import ReplayedSession

    def server(at, kind, **fields):
        return {"at": at, "direction": "server", "event": {"type": kind, **fields}}

    log = [server(0.01, "session.created"),
           {"at": 1.0, "direction": "client", "event": {"type": "response.create"}},
           server(1.5, "response.created"), server(1.75, "response.output_text.delta", delta="Hi"),
           {"at": 3.0, "direction": "client", "event": {"type": "session.update"}}]
    session = ReplayedSession(log, speed, "x.json in cassettes")
    assert [json.loads(step.data)["type"] for step in session.opened()] == ["session.created"]
    steps = session.receive('{"type": "response.create", "event_id": "evt_1"}')
    assert [step.wait for step in steps] == waits  # from the client's event, then from the one before
    assert [step.kind for step in steps] == ["frame", "content"]
    assert session.receive('{"type": "session.update"}') == []  # recorded: nothing followed it
    (past,) = session.receive('{"type": "response.create", "event_id": "evt_9"}')
    error = json.loads(past.data)
    assert error["type"] == "error" and error["error"]["event_id"] == "evt_9"
    assert error["error"]["code"] == "recording_miss" and "x.json in cassettes" in error["error"]["message"]
    assert [e.text for e in session.said if e.content] == ["Hi"]  # the journal's summary


def last_realtime_call(fake):
    """The journal's record of the last realtime connection, once it has closed."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        calls = [e for e in fake.journal.entries() if e.path.startswith("/v1/realtime") and e.kind == "call"]
        if calls:
            return calls[-1]
        time.sleep(0.01)
    raise AssertionError("no realtime call journaled")


# -- the pytest marker -------------------------------------------------------------------------------------

pytest_plugins = ["pytester"]

INNER = '''
import openai
import pytest

SAY_HI = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}])
HELLO = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}])


@pytest.mark.openai_fake(replay="cassettes/chat", replay_speed=0)
def test_hit(openai_fake):
    assert openai.OpenAI(max_retries=0).chat.completions.create(**SAY_HI).choices[0].message.content == WANT
    assert openai_fake.calls[-1].rule == "replay"


@pytest.mark.openai_fake(replay="cassettes/chat", in_process=True)
def test_hit_in_process(openai_fake):
    assert openai.OpenAI(max_retries=0).chat.completions.create(**SAY_HI).choices[0].message.content == WANT


@pytest.mark.openai_fake(replay="cassettes/chat")
def test_miss(openai_fake):
    with pytest.raises(openai.NotFoundError) as caught:
        openai.OpenAI(max_retries=0).chat.completions.create(**HELLO)
    assert caught.value.code == "recording_miss"


@pytest.mark.openai_fake(replay="cassettes/chat", on_miss="profile")
def test_miss_to_the_profile(openai_fake):
    openai_fake.chat.completions(choices=[{"message": {"content": "profile"}}])
    assert openai.OpenAI(max_retries=0).chat.completions.create(**HELLO).choices[0].message.content == "profile"


def test_no_replay_without_the_marker(openai_fake):
    assert openai.OpenAI(max_retries=0).chat.completions.create(**SAY_HI).choices[0].message.content != WANT


@pytest.mark.openai_fake(replay="cassettes/nowhere")
def test_bad_directory(openai_fake):
    pass
'''


@pytest.mark.slow
def test_the_marker_replays_a_recording_relative_to_the_tests_folder(pytester, recording, monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "OPENAI_BASE_URL", "OPENAI_FAKE_CONFDIR", "PYTEST_XDIST_WORKER",
                 "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    target = pytester.path / "cassettes" / "chat"
    target.mkdir(parents=True)
    for path in recording.directory.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    want = recording.answers["chat"]["choices"][0]["message"]["content"]
    pytester.makepyfile(test_inner=f"WANT = {want!r}\n" + INNER)
    pytester.chdir()
    os.chdir(pytester.path.parent)  # the marker's path is the test file's folder's, not the working directory's
    result = pytester.runpytest_subprocess(str(pytester.path), "-p", "no:cacheprovider", "-rA", timeout=180)
    text = "\n".join(result.outlines[-40:] + result.errlines[-20:])
    result.assert_outcomes(passed=5, errors=1, failed=0)  # a bad marker fails the fixture, in one line
    assert "test_bad_directory" in text and "no recording at" in text and "no such directory" in text, text


# -- the CLI -------------------------------------------------------------------------------------------------


def test_record_to_profile_writes_a_profile_that_answers_what_was_recorded(tmp_path, recording, client, use_profile):
    printed = run_cli("record", "to-profile", str(recording.directory))
    assert printed.returncode == 0, printed.stderr
    module = tmp_path / "replayed.py"
    written = run_cli("record", "to-profile", str(recording.directory), "-o", str(module))
    assert written.returncode == 0, written.stderr
    # the same module, but for where it finds the recording: from itself with -o, by absolute path on stdout
    differ = [(a, b) for a, b in zip(module.read_text().splitlines(), printed.stdout.splitlines()) if a != b]
    assert len(differ) == 1 and str(recording.directory) in differ[0][1] and "__file__" in differ[0][0]
    (tmp_path / "printed.py").write_text(printed.stdout)
    for path in (module, tmp_path / "printed.py"):
        use_profile(load(str(path)))
        # Each request gets the answers recorded for it, whatever the order: the session's turns first, then the chat.
        assert [client.chat.completions.create(**SESSION).choices[0].message.content for _ in range(4)] == [
            *recording.answers["session"], recording.answers["session"][-1]]
        assert client.chat.completions.create(**CHAT).model_dump() == recording.answers["chat"]
        assert client.embeddings.create(**EMBED).model_dump() == recording.answers["embedding"]
        # A request nothing recorded gets the route's whole answers in recorded order (the first is the chat's).
        other = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "New"}])
        assert other.model_dump() == recording.answers["chat"]


@pytest.mark.parametrize("argv, message", [
    (["run", "--port", "0", "--replay", "{tmp}/nowhere"], "error: --replay: no recording at {tmp}/nowhere: no such directory"),
    (["exec", "--replay", "{tmp}", "--", sys.executable, "-c", "print('ran')"],
     "error: --replay: no recording at {tmp}: it holds no recorded exchange"),
    (["record", "to-profile", "{tmp}/nowhere"], "error: no recording at {tmp}/nowhere: no such directory"),
    (["run", "--port", "0", "--on-miss", "record"], "error: --on-miss record is what a --replay miss gets: give --replay DIR too"),
    (["run", "--port", "0", "--replay-ids", "recorded"], "error: --replay-ids goes with --replay DIR"),
    (["run", "--port", "0", "--replay", "{tmp}", "--upstream", "http://127.0.0.1:9"],
     "error: --upstream is where --record (or --on-miss record) forwards: give --record DIR too"),
])
def test_a_replay_directory_without_a_recording_is_a_usage_error(tmp_path, argv, message):
    (tmp_path / "conf").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] != "record":
        argv[1:1] = ["--confdir", str(tmp_path / "conf")]
    done = run_cli(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr == message.replace("{tmp}", str(tmp_path)) + "\n" and "ran" not in done.stdout


@pytest.mark.parametrize("command", ["run", "exec"])
def test_record_and_replay_at_once_is_a_usage_error(tmp_path, recording, command):
    argv = [command, "--confdir", str(tmp_path), "--replay", str(recording.directory), "--record", str(tmp_path / "new")]
    done = run_cli(*argv, *(["--port", "0"] if command == "run" else ["--", sys.executable, "-c", "print('ran')"]))
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("error: --record and --replay: give one (a recording is made, or answered from, not both "
                           "at once; --replay DIR --on-miss record records what DIR does not answer)\n")
    assert "ran" not in done.stdout


def test_run_replay_says_what_it_replays_and_answers_from_it(tmp_path, recording):
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--port", "0", "--confdir", str(tmp_path),
                             "--replay", str(recording.directory), "--replay-speed", "0", "--on-miss", "error"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        printed = read_until(proc, "OPENAI_BASE_URL=")
        base_url = printed.split("OPENAI_BASE_URL=")[-1].strip().strip("'")
        with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as sdk:
            same_but_ids(recording.answers["chat"], sdk.chat.completions.create(**CHAT).model_dump())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    line = next(line for line in printed.splitlines() if line.strip().startswith("Replaying"))
    n = len(list(recording.directory.glob("*.json")))
    assert line.split(None, 1)[1] == f"{recording.directory} ({n} exchanges, at once; a miss is a 404)"


def test_exec_on_miss_record_answers_hits_and_forwards_and_records_a_miss(tmp_path, recording):
    """The miss goes to the upstream (here a closed port: the 502 says so) with the command's own key."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    script = ("import openai; c = openai.OpenAI(max_retries=0); "
              f"print(c.chat.completions.create(**{CHAT!r}).choices[0].message.content)\n"
              "try:\n    c.models.list()\nexcept openai.APIStatusError as e:\n    print(e.status_code, e.message)")
    done = run_cli("exec", "--confdir", str(tmp_path), "--replay", str(recording.directory), "--replay-speed", "0",
                   "--on-miss", "record", "--upstream", f"http://127.0.0.1:{dead}", "--", sys.executable, "-c", script,
                   env={**os.environ, "OPENAI_API_KEY": API_KEY})
    assert done.returncode == 0, done.stderr
    answer, failed = done.stdout.splitlines()
    assert answer == recording.answers["chat"]["choices"][0]["message"]["content"]
    assert failed.startswith("502 ")  # forwarded: the upstream's port is closed
    assert "the recording does not answer, with its key, are forwarded to" in " ".join(done.stderr.split())


def test_exec_replay_answers_its_command_from_the_recording(tmp_path, recording):
    script = ("import openai; print(openai.OpenAI(max_retries=0).chat.completions.create("
              f"**{CHAT!r}).choices[0].message.content)")
    done = run_cli("exec", "--confdir", str(tmp_path), "--replay", str(recording.directory), "--replay-speed", "0",
                   "--", sys.executable, "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == recording.answers["chat"]["choices"][0]["message"]["content"] + "\n"
    assert f"openai-fake: replaying {recording.directory} (" in done.stderr and "replay 1" in done.stderr
