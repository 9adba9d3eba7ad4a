"""Record, then replay, every kind of call the fake serves (issue 18), end to end with the real SDK.

For each face (the proxy, with HTTPS_PROXY and the fake's CA; the base-URL face's own port), a fake in record
mode forwards one session to an upstream openai-fake and records it; the upstream is then stopped, and a fake
replaying the recording answers the same session. Every answer is compared with the recorded one field by
field (`model_dump()`), up to a consistent renaming of ids (`assert_same_up_to_ids`), so the tests hold
whether a replay gives the recorded ids or fresh ones mapped back consistently.

Also: `record to-profile` of each recording, loaded in a fresh fake, answering the same session; an upstream
reached over HTTPS (the upstream's app served by uvicorn with a certificate from a CA of the test's own); and
every written byte searched for the key and the organization and project the client sent.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import ipaddress
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import openai
import pytest

from conftest import run_cli, silent_wav, wait_for
from proxy_addon import Profile
from proxy_addon.cassettes import read, redaction
from proxy_addon.profile import load
from proxy_addon.replaying import REPLAY_RULE, Replay
from proxy_addon.runner import Runner

#: What the client sends: forwarded to the upstream, never written.
KEY = "sk-proj-RecordReplayKindsKey0123456789abcdefXYZ"
ORGANIZATION = "org-RecordKindsOrganization42"
PROJECT = "proj_RecordKindsProject4242"
#: The upstream's stream pace: slow enough to measure a replay's.
PACE = 0.12
TOLERANCE = 0.05
#: The most retrieves a poll loop makes: a replay that goes wrong fails, it never loops for ever.
MAX_POLLS = 30
FACES = ["proxy", "base-url"]

#: An id as the API makes them (`file-Ab12...`, `run_Xy...`, `chatcmpl-...`).
ID = re.compile(r"^[a-z_]+[-_][A-Za-z0-9]{8,}$")


def assert_same_up_to_ids(recorded: Any, replayed: Any, path: str = "") -> dict[str, str]:
    """`replayed` equals `recorded` field by field, except that id-shaped strings (`ID`) may differ as long as
    they are renamed consistently: each recorded id stands for one replayed id and no two for the same one.
    The renaming found, recorded id -> replayed id."""
    forward: dict[str, str] = {}
    backward: dict[str, str] = {}

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
            for k in a:
                walk(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            assert len(a) == len(b), f"{where}: {len(a)} items != {len(b)}"
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}.{i}")
        elif isinstance(a, str) and isinstance(b, str) and ID.match(a) and ID.match(b):
            assert forward.setdefault(a, b) == b, f"{where}: {a!r} was replayed as {forward[a]!r}, now {b!r}"
            assert backward.setdefault(b, a) == a, f"{where}: {b!r} stands for {backward[b]!r} and {a!r}"
        else:
            assert type(a) is type(b) and a == b, f"{where}: recorded {a!r}, replayed {b!r}"

    walk(recorded, replayed, path or "answer")
    return forward


def jsonl(data: bytes) -> list:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (64, 64), (*colour, 255)).save(out, format="PNG")
    return out.getvalue()


# -- one session, kind by kind: the same code records and replays ---------------------------------------------

#: Bytes that are not text: the upload's and its content's side files.
UPLOAD = bytes(range(256)) * 8


def uploads(client: openai.OpenAI) -> dict:
    made = client.files.create(file=("blob.bin", UPLOAD, "application/octet-stream"), purpose="user_data")
    got = client.files.retrieve(made.id)
    content = client.files.content(made.id).content
    return {"answers": [made.model_dump(), got.model_dump()], "content": content}


def poll(retrieve: Callable[[], Any], done: Callable[[Any], bool]) -> list:
    """Retrieve until `done`, at most MAX_POLLS times; every answer's `model_dump()`."""
    seen = []
    for _ in range(MAX_POLLS):
        got = retrieve()
        seen.append(got.model_dump())
        if done(got):
            return seen
    raise AssertionError(f"not done after {MAX_POLLS} polls: {seen[-1]}")


def assistants(client: openai.OpenAI) -> dict:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread.id, role="user", content="What is the weather in Oslo?")
    run = client.beta.threads.runs.create(thread.id, assistant_id="asst_RecordKinds0001")
    polls = poll(lambda: client.beta.threads.runs.retrieve(run.id, thread_id=thread.id),
                 lambda r: r.status == "completed")
    messages = client.beta.threads.messages.list(thread.id)
    clock = time.monotonic()  # the SDK's own poller, which waits what `openai-poll-after-ms` says (1 s without it)
    polled = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="asst_RecordKinds0001")
    return {"answers": [thread.model_dump(), message.model_dump(), run.model_dump(), messages.model_dump(),
                        polled.model_dump()], "polls": polls, "polled_in": time.monotonic() - clock,
            "again": lambda: client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)}


BATCH_LINES = [{"custom_id": f"line-{i}", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Batch line {i}"}]}}
               for i in range(3)]


def batches(client: openai.OpenAI) -> dict:
    data = "".join(json.dumps(line) + "\n" for line in BATCH_LINES).encode()
    uploaded = client.files.create(file=("batch.jsonl", data, "application/jsonl"), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    polls = poll(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
    output = client.files.content(polls[-1]["output_file_id"]).content
    return {"answers": [uploaded.model_dump(), batch.model_dump()], "polls": polls, "output": jsonl(output),
            "again": lambda: client.batches.retrieve(batch.id)}


TRAINING = [{"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]}
            for i in range(12)]


def fine_tuning(client: openai.OpenAI) -> dict:
    data = "".join(json.dumps(example) + "\n" for example in TRAINING).encode()
    uploaded = client.files.create(file=("train.jsonl", data, "application/jsonl"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(training_file=uploaded.id, model="gpt-4o-mini-2024-07-18")
    polls = poll(lambda: client.fine_tuning.jobs.retrieve(job.id), lambda j: j.status == "succeeded")
    events = client.fine_tuning.jobs.list_events(job.id, limit=50)
    return {"answers": [uploaded.model_dump(), job.model_dump(), events.model_dump()], "polls": polls,
            "again": lambda: client.fine_tuning.jobs.retrieve(job.id)}


def images(client: openai.OpenAI) -> dict:
    b64 = client.images.generate(model="dall-e-2", prompt="A red square", size="256x256", response_format="b64_json")
    url = client.images.generate(model="dall-e-2", prompt="A blue square", size="256x256", response_format="url")
    edit = client.images.edit(model="dall-e-2", image=("square.png", png((200, 30, 30)), "image/png"),
                              prompt="Make it green", size="256x256", response_format="b64_json")
    return {"answers": [b64.model_dump(), url.model_dump(), edit.model_dump()]}


def audio(client: openai.OpenAI) -> dict:
    speech = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="Turn left at the lights",
                                        response_format="wav").content
    heard = client.audio.transcriptions.create(model="whisper-1", file=("lights.wav", speech, "audio/wav"))
    silence = client.audio.transcriptions.create(model="whisper-1", file=("quiet.wav", silent_wav(0.5), "audio/wav"),
                                                 response_format="verbose_json")
    return {"speech": speech, "answers": [heard.model_dump(), silence.model_dump()]}


CHAT = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}])
STREAMED = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Count slowly"}])


def timed(stream) -> tuple[list, list[float]]:
    """A stream's events (`model_dump()`) and when each arrived (monotonic seconds)."""
    events, arrived = [], []
    for event in stream:
        arrived.append(time.monotonic())
        events.append(event.model_dump())
    return events, arrived


def streams(client: openai.OpenAI) -> dict:
    chat = timed(client.chat.completions.create(**STREAMED, stream=True))
    responses = timed(client.responses.create(model="gpt-4o-mini", input="Count slowly, please", stream=True))
    return {"chat": chat, "responses": responses}


def basics(client: openai.OpenAI) -> dict:
    """What `record to-profile` is checked with: whole answers of the routes people record most."""
    chat = client.chat.completions.create(**CHAT)
    embedding = client.embeddings.create(model="text-embedding-3-small", input="whales are mammals")
    response = client.responses.create(model="gpt-4o-mini", input="Name a colour")
    return {"answers": [chat.model_dump(), embedding.model_dump(), response.model_dump()]}


WEATHER = {"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}}


def chains(client: openai.OpenAI) -> dict:
    """Requests that bring back what an answer minted: a `previous_response_id` chain, a tool call's `call_id`."""
    first = client.responses.create(model="gpt-4o-mini", input="Start a chain")  # asked once in the session
    second = client.responses.create(model="gpt-4o-mini", input="And another", previous_response_id=first.id)
    called = client.responses.create(model="gpt-4o-mini", input="Weather in Oslo?", tools=[WEATHER],
                                     tool_choice="required")
    call = next(item for item in called.output if item.type == "function_call")
    answered = client.responses.create(model="gpt-4o-mini", previous_response_id=called.id, tools=[WEATHER],
                                       input=[{"type": "function_call_output", "call_id": call.call_id,
                                               "output": '{"celsius": 3}'}])
    retrieved = client.responses.retrieve(second.id)
    return {"answers": [r.model_dump() for r in (first, second, called, answered, retrieved)],
            "ids": (first.id, second.previous_response_id, call.call_id)}


KINDS = {"basics": basics, "uploads": uploads, "assistants": assistants, "batches": batches,
         "fine_tuning": fine_tuning, "images": images, "audio": audio, "streams": streams, "chains": chains}


# -- the recording, one per face ------------------------------------------------------------------------------


def as_recorded(answer: Any) -> Any:
    """What a recording keeps of an answer: the organization and project ids the client sent, as `<redacted>`."""
    return redaction.without(answer, (ORGANIZATION, PROJECT))


def upstream_profile() -> Profile:
    """The stand-in for the real API: the default answers, streams at PACE, speech words the fake hears back."""
    profile = Profile()

    def chat(request, state):  # the whole answer repeats the account's ids, as a fine-tuning job does
        if request.json.get("stream"):
            return "one two three four"
        return f"Hi, {request.headers.get('openai-organization')} in {request.headers.get('openai-project')}"

    profile.chat.completions(handler=chat, stream={"ttft": PACE, "chunk_delay": PACE})
    profile.responses(stream={"ttft": PACE, "chunk_delay": PACE})  # its own answers: a forced tool is called
    profile.beta.threads.runs(poll_after_ms=0)
    return profile


@contextlib.contextmanager
def client_for(runner: Runner, face: str, cert_file: Path | None = None):
    """An SDK client reaching api.openai.com through `runner`'s proxy, or its base-URL face, with the key and
    the organization and project headers; the environment as `openai-fake exec` sets it, while in use.
    `cert_file`: SSL_CERT_FILE while the base-URL face is used (what its forwarding trusts: this process's)."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
                     "https_proxy", "OPENAI_BASE_URL", "SSL_CERT_FILE"):
            env.delenv(name, raising=False)
        options = dict(api_key=KEY, organization=ORGANIZATION, project=PROJECT, max_retries=0)
        if face == "base-url":
            options["base_url"] = runner.base_url
            if cert_file is not None:
                env.setenv("SSL_CERT_FILE", str(cert_file))
        else:
            for name, value in runner.env(inherited=os.environ, trust_dir=True).items():
                env.setenv(name, value)
        with openai.OpenAI(**options) as client:
            yield client


def settled(runner: Runner) -> None:
    """Every forwarded call written and journaled."""
    assert wait_for(lambda: runner.streams_active == 0, 10)


@dataclass
class Recording:
    face: str
    directory: Path
    #: What each kind got from the upstream, through the recording fake.
    got: dict


@pytest.fixture(scope="module", params=FACES)
def recording(request, tmp_path_factory) -> Recording:
    """One session of every kind, recorded through one face; the upstream is stopped when this returns."""
    face = request.param
    directory = tmp_path_factory.mktemp(f"recording-{face}")
    with Runner(upstream_profile(), port=0, confdir=tmp_path_factory.mktemp("upstream"), warm=False) as upstream, \
            Runner(Profile(), port=0, confdir=tmp_path_factory.mktemp("recorder"), warm=False, record=directory,
                   upstream=upstream.base_url_origin) as recorder, client_for(recorder, face) as client:
        got = {name: kind(client) for name, kind in KINDS.items()}
        settled(recorder)
        calls = [e for e in recorder.journal.entries() if e.kind == "call"]
        assert calls and all(e.recorded for e in calls), [(e.path, e.note) for e in calls if not e.recorded]
    return Recording(face, directory, got)


def exchanges(recording: Recording, route: str) -> list:
    """The recording's exchanges of one route, in recorded order."""
    return [e for e in read(recording.directory).exchanges if e.route == route]


@pytest.fixture(scope="module")
def replaying(recording, tmp_path_factory):
    """A fake answering from the recording alone (nothing upstream), at the recorded pace."""
    with Runner(Profile(), port=0, confdir=tmp_path_factory.mktemp("replayer"), warm=False,
                replay=Replay.load(recording.directory)) as runner:
        yield runner


@pytest.fixture
def replayed(recording, replaying):
    """`replayed(kind)`: the kind's session again, answered from the recording through the same face."""
    replaying.engine.replay.rewind()
    replaying.journal.clear()

    @contextlib.contextmanager
    def again(name: str):
        with client_for(replaying, recording.face) as client:
            yield KINDS[name](client)
        settled(replaying)
        calls = [e for e in replaying.journal.entries() if e.kind == "call"]
        assert calls and {e.rule for e in calls} == {REPLAY_RULE} and {e.status for e in calls} == {200}, \
            [(e.path, e.status, e.error) for e in calls if e.status != 200]

    return again


def test_a_responses_chain_and_a_tool_round_trip_replay_with_fresh_ids_mapped_back(recording, replayed):
    recorded = recording.got["chains"]
    with replayed("chains") as got:
        ids = assert_same_up_to_ids(recorded["answers"], got["answers"])
    first, previous, call_id = got["ids"]
    assert previous == first and first != recorded["ids"][0] and ids[recorded["ids"][0]] == first  # fresh, chained
    assert call_id != recorded["ids"][2] and ids[recorded["ids"][2]] == call_id


def test_an_upload_and_its_binary_content_are_replayed(recording, replayed):
    with replayed("uploads") as got:
        pass
    want = recording.got["uploads"]
    assert_same_up_to_ids(want["answers"], got["answers"])
    assert got["content"] == want["content"] == UPLOAD
    upload = next(e for e in exchanges(recording, "files.create")
                  if any(p.get("filename") == "blob.bin" for p in e.request["form"]))
    assert UPLOAD in upload.side("request")  # the multipart body, kept
    content = next(e for e in exchanges(recording, "files.content") if e.request["path"].startswith(
        f"/v1/files/{want['answers'][0]['id']}/"))
    assert content.side("response") == UPLOAD  # binary: a side file, not JSON


@pytest.mark.parametrize("kind", ["assistants", "batches", "fine_tuning"])
def test_a_resource_polled_to_its_end_is_replayed_poll_by_poll_then_the_last_held(recording, replayed, kind):
    with replayed(kind) as got:
        held = got["again"]().model_dump()  # one poll more than was recorded
    want = recording.got[kind]
    assert len(want["polls"]) >= 2 and len({json.dumps(p, sort_keys=True) for p in want["polls"]}) >= 2
    if kind == "assistants":  # the same create twice: its answers in turn; the poll waits as recorded (0 ms)
        assert want["answers"][-1]["status"] == "completed" and want["answers"][-1]["id"] != want["answers"][2]["id"]
        assert want["polled_in"] < 0.5 and got["polled_in"] < 0.5, (want["polled_in"], got["polled_in"])
    assert want["polls"][-1]["status"] in ("completed", "succeeded")
    if kind == "batches":  # its output file, a recorded binary body, answers every line
        assert sorted(line["custom_id"] for line in want["output"]) == [line["custom_id"] for line in BATCH_LINES]
    assert_same_up_to_ids([want["answers"], want["polls"], want.get("output")],
                          [got["answers"], got["polls"], got.get("output")])
    assert_same_up_to_ids(want["polls"][-1], held)
    retrieves = [e for e in exchanges(recording, {"assistants": "beta.threads.runs.retrieve",
                                                  "batches": "batches.retrieve",
                                                  "fine_tuning": "fine_tuning.jobs.retrieve"}[kind])
                 if e.request["path"].endswith(want["polls"][0]["id"])]
    assert len(retrieves) == len(want["polls"])  # each identical poll recorded, as -01, -02, ...
    assert len({e.name.rsplit("-", 1)[0] for e in retrieves}) == 1


def test_images_generated_and_edited_are_replayed(recording, replayed):
    with replayed("images") as got:
        pass
    want = recording.got["images"]
    assert_same_up_to_ids(want["answers"], got["answers"])
    assert want["answers"][0]["data"][0]["b64_json"] and want["answers"][1]["data"][0]["url"]
    edit, = exchanges(recording, "images.edit")
    part = next(p for p in edit.request["form"] if p["name"] == "image")
    assert part["filename"] == "square.png" and len(part["sha256"]) == 64  # an upload matched by its hash


def test_speech_is_replayed_byte_identical_and_a_wav_transcribed(recording, replayed):
    with replayed("audio") as got:
        pass
    want = recording.got["audio"]
    assert got["speech"] == want["speech"] and want["speech"][:4] == b"RIFF"
    assert_same_up_to_ids(want["answers"], got["answers"])
    speech, = exchanges(recording, "audio.speech.create")
    assert speech.side("response") == want["speech"]


@pytest.mark.parametrize("which", ["chat", "responses"])
def test_a_stream_is_replayed_event_by_event_at_its_recorded_pace(recording, replayed, which):
    with replayed("streams") as got:
        pass
    want_events, want_at = recording.got["streams"][which]
    got_events, got_at = got[which]
    assert_same_up_to_ids(want_events, got_events)
    assert want_at[-1] - want_at[0] >= 3 * PACE  # the client saw the upstream's pace through the recording fake
    route = {"chat": "chat.completions.create", "responses": "responses.create"}[which]
    stream, = (e for e in exchanges(recording, route) if "chunks" in e.response)
    recorded_at = [c["at"] for c in stream.response["chunks"] if c["data"].strip() != "data: [DONE]"]
    assert len(recorded_at) == len(got_at)
    # Each event's time since the first, as recorded (when the recording fake had it), within the tolerance.
    for i, (a, b) in enumerate(zip(recorded_at, got_at)):
        assert abs((b - got_at[0]) - (a - recorded_at[0])) <= TOLERANCE, (which, i, recorded_at, got_at)


def test_whole_answers_are_replayed_with_the_accounts_ids_redacted(recording, replayed):
    with replayed("basics") as got:
        pass
    want = recording.got["basics"]["answers"]
    assert want[0]["choices"][0]["message"]["content"] == f"Hi, {ORGANIZATION} in {PROJECT}"  # what the API said
    assert got["answers"][0]["choices"][0]["message"]["content"] == "Hi, <redacted> in <redacted>"  # what the disk kept
    assert_same_up_to_ids(as_recorded(want), got["answers"])


def test_nothing_written_holds_the_key_or_the_account(recording):
    files = [p for p in recording.directory.rglob("*") if p.is_file()]
    assert any(p.suffix == ".bin" for p in files) and any(p.suffix == ".json" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (KEY, KEY[8:], ORGANIZATION, PROJECT):
            assert secret.encode() not in data, (path, secret)


# -- a recording as a profile ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def as_profile(recording, tmp_path_factory):
    """A fresh fake (no replay) whose profile is `openai-fake record to-profile` of the recording."""
    module = tmp_path_factory.mktemp("profile") / "recorded.py"
    done = run_cli("record", "to-profile", str(recording.directory), "-o", str(module))
    assert done.returncode == 0, done.stderr
    with Runner(load(str(module)), port=0, confdir=tmp_path_factory.mktemp("profiled"), warm=False) as runner:
        yield runner, module


def test_record_to_profile_answers_the_session_it_recorded_in_its_order(recording, as_profile):
    """The generated profile answers each route's recorded answers in the order they were recorded, whatever the
    request (it does not match requests as a replay does): the same session in the same order gets them all."""
    runner, module = as_profile
    with client_for(runner, recording.face) as client:
        got = {name: kind(client) for name, kind in KINDS.items()}
    calls = [e for e in runner.journal.entries() if e.kind == "call"]
    assert len(calls) == len(read(recording.directory).exchanges) and {e.status for e in calls} == {200}
    for name, want in recording.got.items():
        if name == "streams":  # the events; their pace is the replay's test's
            want, got[name] = ({which: events for which, (events, _) in answers.items()}
                               for answers in (want, got[name]))
        assert_same_up_to_ids(as_recorded({k: v for k, v in want.items() if k not in ("again", "polled_in")}),
                              {k: v for k, v in got[name].items() if k not in ("again", "polled_in")}, name)
    source = module.read_text()
    assert "# Left out:" not in source and "RECORDING / 'audio.speech.create-" in source
    for secret in (KEY, KEY[8:], ORGANIZATION, PROJECT):
        assert secret not in source


# -- an upstream over HTTPS -----------------------------------------------------------------------------------


def certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA of its own and a certificate it signed for 127.0.0.1: (CA file, certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def made(subject: str, key, issuer: str, signer, *extensions) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = made("test upstream CA", ca_key, "test upstream CA", ca_key,
              (x509.BasicConstraints(ca=True, path_length=None), True),
              (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                             encipher_only=False, decipher_only=False), True),
              (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False))
    leaf = made("127.0.0.1", key, "test upstream CA", ca_key,
                (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
                (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False))
    paths = directory / "ca.pem", directory / "upstream.pem", directory / "upstream-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@contextlib.contextmanager
def over_tls(upstream: Runner, cert: Path, key: Path):
    """`upstream`'s base-URL app (its engine and journal) served over HTTPS by uvicorn on a port of its own,
    in a thread; its origin, `https://127.0.0.1:PORT`."""
    import socket

    import uvicorn

    from proxy_addon.asgi_face import BaseUrlApp

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = BaseUrlApp(upstream.engine, upstream.journal, upstream.control)
    server = uvicorn.Server(uvicorn.Config(app, ssl_certfile=str(cert), ssl_keyfile=str(key), log_level="warning",
                                           lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started, 10)
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


HTTPS_KINDS = ("basics", "uploads", "streams")


@pytest.mark.parametrize("face", FACES)
def test_an_https_upstream_is_recorded_and_replayed(face, tmp_path, monkeypatch):
    ca, cert, key = certificates(tmp_path)
    directory = tmp_path / "recording"
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # what record mode trusts upstream (`recording.upstream_trust`)
    with Runner(upstream_profile(), port=0, confdir=tmp_path / "upstream", warm=False) as upstream, \
            over_tls(upstream, cert, key) as origin, \
            Runner(Profile(), port=0, confdir=tmp_path / "recorder", warm=False, record=directory,
                   upstream=origin) as recorder, client_for(recorder, face, cert_file=ca) as client:
        want = {name: KINDS[name](client) for name in HTTPS_KINDS}
        settled(recorder)
        calls = [e for e in recorder.journal.entries() if e.kind == "call"]
        assert {(e.status, e.upstream) for e in calls} == {(200, origin)}
        assert all(e.recorded for e in calls) and len(read(directory).exchanges) == len(calls)
        assert len([e for e in upstream.journal.entries() if e.kind == "call"]) == len(calls)  # over TLS
    with Runner(Profile(), port=0, confdir=tmp_path / "replayer", warm=False, replay=directory) as replaying, \
            client_for(replaying, face) as client:
        got = {name: KINDS[name](client) for name in HTTPS_KINDS}
    assert_same_up_to_ids(as_recorded([want["basics"], want["uploads"]]), [got["basics"], got["uploads"]])
    assert_same_up_to_ids([events for events, _ in want["streams"].values()],
                          [events for events, _ in got["streams"].values()])
    for path in directory.iterdir():
        for secret in (KEY, KEY[8:], ORGANIZATION, PROJECT):
            assert secret.encode() not in path.read_bytes(), (path, secret)
