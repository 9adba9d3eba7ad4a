"""The Realtime API over WebSocket: the real openai SDK's `client.realtime.connect(model=...)` against the running
fake, through the proxy (wss://api.openai.com) and the base-URL face (ws://127.0.0.1:PORT); the Node SDK's
realtime client; and the pure session (`engine/realtime.py`) by table."""

from __future__ import annotations

import base64
import io
import json
import time
import wave

import openai
import pydantic
import pytest
import websockets
from openai.types.realtime import RealtimeServerEvent

from conftest import API_KEY, ROOT, have, run_cli, running_fake, wait_for
from proxy_addon import Profile
from proxy_addon.engine import Engine, Request
from proxy_addon.engine import sound
from proxy_addon.engine.realtime import Session

# openai 3.57 uses websockets' sync `connect()` outside a `with`, which websockets 16+ deprecates (its own pin is <16).
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")

MODEL = "gpt-realtime"
SERVER_EVENT = pydantic.TypeAdapter(RealtimeServerEvent)
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TEXT_ONLY = {"type": "realtime", "output_modalities": ["text"]}


def user_says(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def received(conn) -> dict:
    """The next server event, as sent, checked against the SDK's own server event types."""
    event = json.loads(conn.recv_bytes())
    SERVER_EVENT.validate_python(event)
    return event


def until(conn, kind: str) -> list[dict]:
    """Server events up to and including the first of `kind`."""
    events = [received(conn)]
    while events[-1]["type"] != kind:
        events.append(received(conn))
    return events


async def areceived(conn) -> dict:
    event = json.loads(await conn.recv_bytes())
    SERVER_EVENT.validate_python(event)
    return event


async def auntil(conn, kind: str) -> list[dict]:
    events = [await areceived(conn)]
    while events[-1]["type"] != kind:
        events.append(await areceived(conn))
    return events


def answering(use_profile, text: str, **pace) -> Profile:
    """Make the fake's realtime answer `text`, at `pace` (the `stream=` knobs)."""
    profile = Profile()
    profile.realtime(output_text=text, stream=pace)
    use_profile(profile)
    return profile


def opened_for_text(conn) -> None:
    """Read `session.created`, then make the session answer in text."""
    received(conn)
    conn.session.update(session=TEXT_ONLY)
    received(conn)


def last_realtime_call(fake):
    """The journal's record of the last realtime connection, once it has closed."""
    def found():
        calls = [e for e in fake.journal.entries() if e.path.startswith("/v1/realtime") and e.kind == "call"]
        return calls[-1] if calls else None
    assert wait_for(lambda: found() is not None)
    return found()


# -- through the proxy and the base-URL face -------------------------------------------------------------


def test_text_response_through_the_proxy_is_the_apis_event_sequence(client, use_profile, fake):
    profile = Profile()
    profile.realtime(output_text="Hello from the realtime fake")
    use_profile(profile)
    with client.realtime.connect(model=MODEL) as conn:
        created = received(conn)
        assert created["type"] == "session.created" and created["session"]["model"] == MODEL
        assert created["session"]["audio"]["input"]["turn_detection"] is None  # VAD off: the client commits
        conn.session.update(session=TEXT_ONLY)
        assert received(conn)["session"]["output_modalities"] == ["text"]
        conn.conversation.item.create(item=user_says("Hi"))
        added, done = received(conn), received(conn)
        assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
        conn.response.create()
        events = until(conn, "response.done")
    kinds = [e["type"] for e in events]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert kinds == ["response.created", "response.output_item.added", "conversation.item.added",
                     "response.content_part.added", *["response.output_text.delta"] * len(deltas),
                     "response.output_text.done", "response.content_part.done", "conversation.item.done",
                     "response.output_item.done", "response.done"]
    assert len(deltas) == 5 and "".join(deltas) == "Hello from the realtime fake"
    response = events[-1]["response"]
    assert response["status"] == "completed" and response["output"][0]["content"][0]["text"] == "Hello from the realtime fake"
    assert response["usage"]["output_tokens"] > 0 and response["usage"]["input_tokens"] > 0
    assert all(e["response_id"] == response["id"] for e in events if "response_id" in e)
    entry = last_realtime_call(fake)
    assert (entry.face, entry.host, entry.model, entry.status, entry.rule) == ("proxy", "api.openai.com", MODEL, 200, "realtime")
    assert entry.answer == "Hello from the realtime fake" and entry.prompt == "Hi" and entry.outcome == "completed"
    assert entry.key == "sk-...cdef" and API_KEY not in repr(entry)


async def test_audio_response_on_the_base_url_face_is_pcm16_as_long_as_its_transcript(fake, use_profile, base_client):
    profile = Profile()
    profile.realtime(output_text="One two three four five six seven eight.")
    use_profile(profile)  # base_client: no proxy in this process's environment
    async with openai.AsyncOpenAI(api_key=API_KEY, base_url=fake.base_url, max_retries=0) as aclient:
        async with aclient.realtime.connect(model=MODEL) as conn:
            assert (await areceived(conn))["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
            await conn.session.update(session={"type": "realtime", "audio": {"output": {"voice": "marin"}}})
            await areceived(conn)
            await conn.response.create()
            events = await auntil(conn, "response.done")
    audio = [base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"]
    words = [e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"]
    transcript = next(e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done")
    assert "".join(words) == transcript == "One two three four five six seven eight."
    assert len(audio) == len(words) == 8  # one chunk of speech for each word of the transcript
    pcm = b"".join(audio)
    assert all(len(chunk) % 2 == 0 for chunk in audio)  # whole 16-bit samples
    with wave.open(io.BytesIO(), "wb") as out:  # it is 16-bit mono PCM at 24 kHz: a WAV takes it as such
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(24_000)
        out.writeframes(pcm)
    seconds = len(pcm) / 2 / 24_000
    assert 8 * 0.25 < seconds < 8 * 0.8  # eight words read at about 150 a minute
    assert pcm == sound.speech(transcript, "marin")  # the fake's speech of the transcript, in the session's voice
    assert max(abs(int.from_bytes(pcm[i:i + 2], "little", signed=True)) for i in range(0, len(pcm), 200)) > 1000
    kinds = [e["type"] for e in events]
    assert kinds.index("response.output_audio.done") < kinds.index("response.output_audio_transcript.done") \
        < kinds.index("response.content_part.done")
    item = events[-1]["response"]["output"][0]
    assert item["content"] == [{"type": "output_audio", "transcript": transcript}]
    assert events[-1]["response"]["usage"]["output_token_details"]["audio_tokens"] > 0
    assert last_realtime_call(fake).face == "base-url"


@pytest.mark.parametrize("port", ["own", "proxy"])
def test_text_on_either_base_url_port(fake, use_profile, base_client, port):
    """The base-URL face's own port (uvicorn, `realtime_socket.serve` directly) and the proxy's port
    (mitmproxy hands the upgrade to the relay) answer the same session."""
    answering(use_profile, "Either port answers")
    base_url = fake.base_url if port == "own" else f"{fake.proxy_url}/v1"
    with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as c, c.realtime.connect(model=MODEL) as conn:
        opened_for_text(conn)
        conn.conversation.item.create(item=user_says("Hi"))
        conn.response.create()
        events = until(conn, "response.done")
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Either port answers"
    entry = last_realtime_call(fake)
    assert (entry.face, entry.status, entry.answer) == ("base-url", 200, "Either port answers")


def test_a_forced_function_call_then_its_output(base_client, use_profile):
    use_profile(Profile())
    with base_client.realtime.connect(model=MODEL) as conn:
        received(conn)
        conn.session.update(session={**TEXT_ONLY, "tools": [WEATHER]})
        received(conn)
        conn.conversation.item.create(item=user_says("Weather in Oslo?"))
        until(conn, "conversation.item.done")
        conn.response.create(response={"tool_choice": "required"})
        events = until(conn, "response.done")
        call = events[-1]["response"]["output"][0]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        assert set(json.loads(call["arguments"])) == {"city"}  # an example of the tool's schema
        deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
        finished = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert deltas == finished["arguments"] == call["arguments"] and finished["call_id"] == call["call_id"]
        conn.conversation.item.create(item={"type": "function_call_output", "call_id": call["call_id"],
                                            "output": '{"temperature": 21}'})
        until(conn, "conversation.item.done")
        conn.response.create()
        answer = until(conn, "response.done")[-1]["response"]["output"][0]
    assert answer["type"] == "message"
    assert answer["content"][0]["text"] == 'The tool returned: {"temperature": 21}'


def test_the_profiles_tool_calls_answer_a_turn(client, use_profile, fake):
    profile = Profile()
    profile.realtime(tool_calls=[{"name": "get_weather", "arguments": {"city": "Bergen"}}])
    use_profile(profile)
    with client.realtime.connect(model=MODEL) as conn:
        received(conn)
        conn.conversation.item.create(item=user_says("Weather?"))
        conn.response.create()
        events = until(conn, "response.done")
    call = events[-1]["response"]["output"][0]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "Bergen"})
    assert last_realtime_call(fake).answer == 'get_weather({"city": "Bergen"})'


def test_input_audio_buffer_append_commit_and_clear(base_client, use_profile):
    use_profile(Profile())
    speech = sound.speech("Is it going to rain", "alloy")
    with base_client.realtime.connect(model=MODEL) as conn:
        received(conn)
        conn.session.update(session={**TEXT_ONLY, "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}})
        received(conn)
        conn.input_audio_buffer.commit()  # nothing appended yet
        empty = received(conn)
        assert empty["type"] == "error" and empty["error"]["code"] == "input_audio_buffer_commit_empty"
        conn.input_audio_buffer.append(audio=base64.b64encode(b"\0\0" * 4800).decode())
        conn.input_audio_buffer.clear()
        assert received(conn)["type"] == "input_audio_buffer.cleared"
        for start in range(0, len(speech), 9600):
            conn.input_audio_buffer.append(audio=base64.b64encode(speech[start:start + 9600]).decode())
        conn.input_audio_buffer.commit()
        committed, added, done, transcribed = (received(conn) for _ in range(4))
        assert committed["type"] == "input_audio_buffer.committed" and committed["item_id"] == added["item"]["id"]
        assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
        assert added["item"]["role"] == "user" and added["item"]["content"][0]["type"] == "input_audio"
        assert transcribed["type"] == "conversation.item.input_audio_transcription.completed"
        seconds = len(speech) / 2 / 24_000
        assert transcribed["transcript"] == f"This is a transcription of {seconds:.1f} seconds of audio by openai-fake."
        conn.response.create()
        answer = until(conn, "response.done")[-1]["response"]["output"][0]["content"][0]["text"]
    assert "You said: This is a transcription of" in answer  # the model heard the committed audio


def test_an_invalid_event_is_an_error_event_and_the_session_goes_on(client, use_profile):
    use_profile(Profile())
    with client.realtime.connect(model=MODEL) as conn:
        received(conn)
        conn.send_raw(json.dumps({"type": "response.make", "event_id": "evt_bad_1"}))
        error = received(conn)
        assert error["type"] == "error"
        assert error["error"]["type"] == "invalid_request_error" and error["error"]["param"] == "type"
        assert error["error"]["event_id"] == "evt_bad_1"
        conn.send_raw("{not json")
        assert received(conn)["error"]["code"] == "invalid_json"
        conn.send_raw(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user"}}))
        assert received(conn)["error"]["param"] == "item.content"
        conn.send_raw(json.dumps({"type": "conversation.item.delete", "item_id": "item_nope", "event_id": "evt_bad_2"}))
        missing = received(conn)["error"]
        assert (missing["param"], missing["event_id"]) == ("item_id", "evt_bad_2")
        conn.session.update(session={"type": "realtime", "instructions": "Still usable"})
        assert received(conn)["session"]["instructions"] == "Still usable"


def test_handshake_errors_are_the_apis_http_errors(client, use_profile, fake):
    profile = Profile()
    profile.realtime(failures=1, failure_status=429, retry_after=0)
    use_profile(profile)
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        with client.realtime.connect(model=MODEL):
            pass
    assert refused.value.response.status_code == 429
    assert json.loads(refused.value.response.body)["error"]["code"] == "rate_limit_exceeded"
    entry = last_realtime_call(fake)
    assert entry.status == 429 and entry.error.startswith("Rate limit reached")
    with client.realtime.connect(model=MODEL) as conn:  # the second connection gets through
        assert received(conn)["type"] == "session.created"
    with pytest.raises(websockets.exceptions.InvalidStatus) as no_model:
        with client.realtime.connect(model="") as conn:
            pass
    assert no_model.value.response.status_code == 400
    assert json.loads(no_model.value.response.body)["error"]["param"] == "model"


def test_a_plain_get_is_told_to_upgrade(base_client, use_profile):
    use_profile(Profile())
    with pytest.raises(openai.BadRequestError) as refused:
        base_client.get("/realtime", cast_to=object, options={"params": {"model": MODEL}})
    assert refused.value.code == "websocket_upgrade_required"


def test_the_pace_cuts_the_connection_and_fails_a_response(client, use_profile, fake):
    profile = answering(use_profile, "one two three four", cut_after=2)
    with client.realtime.connect(model=MODEL) as conn:
        opened_for_text(conn)
        conn.response.create()
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as cut:
            until(conn, "response.done")
    assert cut.value.rcvd.code == 1011
    entry = last_realtime_call(fake)
    assert (entry.outcome, entry.chunks, entry.answer) == ("cut", 2, "one two")
    profile.realtime(stream={"error_after": 1})
    with client.realtime.connect(model=MODEL) as conn:
        opened_for_text(conn)
        conn.response.create()
        events = until(conn, "response.done")
        assert [e["type"] for e in events].count("response.output_text.delta") == 1
        failed = events[-1]["response"]
        assert failed["status"] == "failed" and failed["status_details"]["error"]["type"] == "server_error"
        conn.response.create()  # without `faulty=N`, every response gets the fault
        assert until(conn, "response.done")[-1]["response"]["status"] == "failed"


def test_the_first_delta_waits_for_ttft(client, use_profile):
    answering(use_profile, "slow words", ttft=0.4)
    with client.realtime.connect(model=MODEL) as conn:
        opened_for_text(conn)
        asked = time.monotonic()
        conn.response.create()
        first = received(conn)
        created_after = time.monotonic() - asked
        while first["type"] != "response.output_text.delta":
            first = received(conn)
        delta_after = time.monotonic() - asked
    assert created_after < 0.3 <= delta_after  # response.created at once, the first delta after ttft (0.4 s)


def test_cancel_stops_a_response_mid_stream(client, use_profile, fake):
    answering(use_profile, "one two three four five six seven eight nine ten", chunk_delay=0.3)
    with client.realtime.connect(model=MODEL) as conn:
        opened_for_text(conn)
        conn.response.create()
        until(conn, "response.output_text.delta")
        conn.response.cancel()
        rest = until(conn, "response.done")
        assert [e["type"] for e in rest].count("response.output_text.delta") < 5  # not the other nine, 0.3 s apart
        assert rest[-1]["response"]["status"] == "cancelled"
        conn.response.create()  # no longer active: a new one may start
        assert until(conn, "response.created")[-1]["type"] == "response.created"


def test_tail_shows_the_connection(client, use_profile, fake):
    use_profile(Profile())
    with client.realtime.connect(model=MODEL) as conn:
        opened_for_text(conn)
        conn.conversation.item.create(item=user_says("Tail me"))
        conn.response.create()
        until(conn, "response.done")
    entry = last_realtime_call(fake)

    def tailed():
        result = run_cli("tail", "--confdir", str(fake.confdir), "--json", "--path", "/v1/realtime", "-n", "1")
        lines = result.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else {}

    assert wait_for(lambda: tailed().get("request_id") == entry.request_id, timeout=10)
    shown = tailed()
    assert shown["prompt"] == "Tail me" and shown["model"] == MODEL and shown["face"] == "proxy"
    assert API_KEY not in json.dumps(shown)
    plain = run_cli("tail", "--confdir", str(fake.confdir), "--path", "/v1/realtime", "-n", "1")
    assert "/v1/realtime" in plain.stdout and "Tail me" in plain.stdout


def test_a_quiet_socket_outlives_the_header_and_idle_timeouts(tmp_path, monkeypatch):
    """The deadlines that close connections sending no request in time (the fake's and the relay's own) leave
    an open socket alone: its request is in flight until it closes."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with running_fake(tmp_path / "conf", "--header-timeout", "1", "--idle-timeout", "1", "--quiet") as (_, base_url):
        with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as c, c.realtime.connect(model=MODEL) as conn:
            received(conn)
            time.sleep(2.5)  # both deadlines (1 s, checked every 0.25 s) long past
            conn.session.update(session={"type": "realtime", "instructions": "still open"})
            assert received(conn)["session"]["instructions"] == "still open"


def test_the_fixture_sees_the_connection(openai_fake):
    openai_fake.realtime(output_text="From the fixture")
    with openai.OpenAI() as client, client.realtime.connect(model=MODEL) as conn:
        opened_for_text(conn)
        conn.response.create()
        until(conn, "response.done")
    [call] = openai_fake.calls_to("realtime")  # recorded once the socket has closed: `calls` waits for it
    assert (call.answer, call.model, call.outcome) == ("From the fixture", MODEL, "completed")
    assert openai_fake.call_count("realtime.connect") == 1


# -- the Node SDK -----------------------------------------------------------------------------------------


@pytest.mark.node
@pytest.mark.slow
def test_the_node_sdks_realtime_client(tmp_path):
    node_dir = ROOT / "tests" / "node"
    if not have("node"):
        pytest.skip("node not on PATH")
    if not (node_dir / "node_modules" / "ws").is_dir():
        pytest.skip("ws not installed: run `npm install --no-package-lock` in tests/node")
    result = run_cli("exec", "--confdir", str(tmp_path), "--", "node", str(node_dir / "realtime_check.mjs"), timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "all checks passed" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "openai-fake: 1 call (1×200); realtime 1"


# -- the session, pure ------------------------------------------------------------------------------------


def session(profile: Profile | None = None) -> Session:
    return Session(Engine(profile or Profile()), MODEL)


def answer(s: Session, event, sent: bool = True) -> list[dict]:
    """The events that answer `event`; `sent`: then tell the session they were all sent, as a face does."""
    steps = s.receive(event if isinstance(event, str) else json.dumps(event))
    for step in steps if sent else ():
        if step.response:
            s.finished(step.response)
    return [json.loads(step.data) for step in steps]


@pytest.mark.parametrize("event, code, param", [
    ({"type": "nope"}, "invalid_value", "type"),
    ({"event_id": "e"}, "missing_required_parameter", "type"),
    ({"type": 7}, "invalid_type", "type"),
    ([1, 2], "invalid_type", ""),
    ({"type": "session.update"}, "missing_required_parameter", "session"),
    ({"type": "session.update", "session": {"type": "transcription"}}, "invalid_value", "session.type"),
    ({"type": "input_audio_buffer.append", "audio": "%%% not base64"}, "invalid_value", "audio"),
    ({"type": "input_audio_buffer.append"}, "missing_required_parameter", "audio"),
    ({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 5}]}},
     "invalid_type", "item.content[0].text"),
    ({"type": "conversation.item.create", "item": user_says("x"), "previous_item_id": "item_x"}, "invalid_value", "previous_item_id"),
    ({"type": "conversation.item.retrieve", "item_id": "item_x"}, "invalid_value", "item_id"),
    ({"type": "response.cancel"}, "response_cancel_not_active", None),
    ({"type": "output_audio_buffer.clear"}, "invalid_value", "type"),
])
def test_invalid_client_events_get_error_events(event, code, param):
    s = session()
    [error] = answer(s, {**event, "event_id": "evt_1"} if isinstance(event, dict) else event)
    SERVER_EVENT.validate_python(error)
    assert (error["type"], error["error"]["type"], error["error"]["code"], error["error"]["param"]) == \
        ("error", "invalid_request_error", code, param)
    assert error["error"]["event_id"] == ("evt_1" if isinstance(event, dict) else None)


def test_the_handshake_route_answers_the_model_or_the_apis_400():
    engine = Engine(Profile())
    upgrade = {"upgrade": "websocket", "authorization": "Bearer sk-x"}
    ok = engine.handle(Request("GET", "/v1/realtime", upgrade, query={"model": MODEL}))
    assert (ok.status, ok.payload, ok.rule) == (200, {"model": MODEL}, "realtime")
    missing = engine.handle(Request("GET", "/v1/realtime", upgrade))
    assert (missing.status, missing.payload["error"]["param"]) == (400, "model")
    keyless = engine.handle(Request("GET", "/v1/realtime", {"upgrade": "websocket"}, query={"model": MODEL}))
    assert keyless.status == 401


def test_items_keep_their_order_and_can_be_retrieved_truncated_and_deleted():
    s = session()
    [_, first] = answer(s, {"type": "conversation.item.create", "item": {**user_says("one"), "id": "item_one"}})
    [added, _] = answer(s, {"type": "conversation.item.create", "item": user_says("zero"), "previous_item_id": "root"})
    assert first["previous_item_id"] is None and added["previous_item_id"] is None
    assert [i["id"] for i in s.items][1] == "item_one"
    [duplicate] = answer(s, {"type": "conversation.item.create", "item": {**user_says("again"), "id": "item_one"}})
    assert duplicate["error"]["param"] == "item.id"
    [retrieved] = answer(s, {"type": "conversation.item.retrieve", "item_id": "item_one"})
    assert retrieved["item"]["content"][0]["text"] == "one"
    [not_assistant] = answer(s, {"type": "conversation.item.truncate", "item_id": "item_one", "content_index": 0,
                                 "audio_end_ms": 10})
    assert not_assistant["type"] == "error"
    [deleted] = answer(s, {"type": "conversation.item.delete", "item_id": "item_one"})
    assert deleted == {**deleted, "type": "conversation.item.deleted", "item_id": "item_one"} and len(s.items) == 1


def test_a_handler_sees_the_conversation_and_its_errors_become_error_events():
    profile = Profile()
    seen = []

    @profile.realtime
    def answer_it(request, state):
        seen.append(request.json)
        if request.json["input"][-1]["content"][0]["text"] == "fail":
            raise ValueError("boom")
        return "handled"

    s = session(profile)
    answer(s, {"type": "session.update", "session": TEXT_ONLY})
    answer(s, {"type": "conversation.item.create", "item": user_says("hello")})
    events = answer(s, {"type": "response.create"})
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "handled"
    assert seen[0]["model"] == MODEL and seen[0]["output_modalities"] == ["text"]
    assert [i["content"][0]["text"] for i in seen[0]["input"]] == ["hello"]
    answer(s, {"type": "conversation.item.create", "item": user_says("fail")})
    [error] = answer(s, {"type": "response.create", "event_id": "evt_9"})
    assert error["error"]["type"] == "server_error" and "boom" in error["error"]["message"]
    assert error["error"]["event_id"] == "evt_9"
    [updated] = answer(s, {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    assert updated["type"] == "session.updated"


def test_a_response_outside_the_conversation_leaves_it_alone():
    s = session(Profile())
    answer(s, {"type": "session.update", "session": TEXT_ONLY})
    events = answer(s, {"type": "response.create", "response": {
        "conversation": "none", "input": [user_says("just this")], "metadata": {"topic": "side"}}})
    kinds = [e["type"] for e in events]
    assert "conversation.item.added" not in kinds and s.items == []
    done = events[-1]["response"]
    assert done["conversation_id"] is None and done["metadata"] == {"topic": "side"}
    assert "You said: just this" in done["output"][0]["content"][0]["text"]
    for event in events:
        SERVER_EVENT.validate_python(event)


def test_paced_deltas_wait_chunk_delay():
    profile = Profile()
    profile.realtime(output_text="a b c", stream={"ttft": 0.5, "chunk_delay": 0.1})
    s = session(profile)
    answer(s, {"type": "session.update", "session": TEXT_ONLY})
    steps = s.receive(json.dumps({"type": "response.create"}))
    waits = [(json.loads(step.data)["type"], step.wait) for step in steps if step.wait]
    assert waits == [("response.output_text.delta", 0.5), ("response.output_text.delta", 0.1),
                     ("response.output_text.delta", 0.1)]


def test_a_committed_item_is_retrieved_as_sent_and_the_model_heard_it():
    s = session()
    answer(s, {"type": "session.update", "session": TEXT_ONLY})
    answer(s, {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0\0" * 12_000).decode()})
    committed = answer(s, {"type": "input_audio_buffer.commit"})[0]
    [retrieved] = answer(s, {"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
    assert retrieved["item"] == {"object": "realtime.item", "type": "message", "role": "user", "id": committed["item_id"],
                                 "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}
    said = answer(s, {"type": "response.create"})[-1]["response"]["output"][0]["content"][0]["text"]
    assert said.endswith("You said: This is a transcription of 0.5 seconds of audio by openai-fake.")


def test_a_response_being_sent_can_be_cancelled_and_blocks_another():
    s = session()
    answer(s, {"type": "session.update", "session": TEXT_ONLY})
    first = answer(s, {"type": "response.create"}, sent=False)[-1]["response"]
    [busy] = answer(s, {"type": "response.create"})
    assert busy["error"]["code"] == "conversation_already_has_active_response"
    side = answer(s, {"type": "response.create", "response": {"conversation": "none"}}, sent=False)
    assert side[-1]["type"] == "response.done"  # out of band: may overlap
    [step] = s.receive(json.dumps({"type": "response.cancel", "response_id": first["id"]}))
    assert (step.kind, step.response) == ("cancel", first["id"])
    cancelled = json.loads(step.data)
    SERVER_EVENT.validate_python(cancelled)
    assert cancelled["response"]["status"] == "cancelled"
    assert cancelled["response"]["status_details"]["reason"] == "client_cancelled"
    [again] = answer(s, {"type": "response.cancel", "response_id": first["id"]})
    assert again["error"]["code"] == "response_cancel_not_active"
    assert answer(s, {"type": "response.create"})[-1]["type"] == "response.done"


@pytest.mark.parametrize("fmt, width, rate", [("audio/pcm", 2, 24_000), ("audio/pcmu", 1, 8_000), ("audio/pcma", 1, 8_000)])
def test_audio_in_and_out_in_the_sessions_formats(fmt, width, rate):
    profile = Profile()
    profile.realtime(output_text="Three short words.")
    s = session(profile)
    audio_format = {"type": fmt, **({"rate": 24_000} if fmt == "audio/pcm" else {})}
    [updated] = answer(s, {"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"format": audio_format}, "output": {"format": audio_format}}}})
    assert updated["session"]["audio"]["output"]["format"] == audio_format
    answer(s, {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * (width * rate // 10 - 1)).decode()})
    [short] = answer(s, {"type": "input_audio_buffer.commit"})  # a sample short of 100 ms in this format
    assert short["error"]["code"] == "input_audio_buffer_commit_empty"
    answer(s, {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\0" * width).decode()})
    assert answer(s, {"type": "input_audio_buffer.commit"})[0]["type"] == "input_audio_buffer.committed"
    events = answer(s, {"type": "response.create"})
    chunks = [base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"]
    assert len(chunks) == 3 and all(len(c) % width == 0 for c in chunks)
    speech = sound.speech("Three short words.", "alloy")
    assert b"".join(chunks) == sound.encode(speech, fmt.removeprefix("audio/"))
    assert abs(len(b"".join(chunks)) / width / rate - len(speech) / 2 / 24_000) < 0.01  # as long, at its own rate
