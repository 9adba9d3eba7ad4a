"""Audio (issue 14): speech is real audio, transcriptions and translations read the upload and answer every format.

Through the real `openai` SDK on both faces (`base_client`: the base-URL face, `client`: https://api.openai.com
through the proxy), plus a few engine tests without sockets. Uploads are WAVs this file writes itself with the
standard library, so that what the fake reads back (the duration) is known independently of the fake.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import time
import wave
from array import array

import av
import openai
import pytest

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request, routes
from proxy_addon.engine.streams import StreamReply

TEXT = ("The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly. "
        "Pack my box with five dozen liquor jugs, and then how vexingly quick daft zebras jump.")
WORDS = len(TEXT.split())


@pytest.fixture(params=["base-url", "proxy"])
def sdk(request):
    """A real SDK client on one face or the other."""
    return request.getfixturevalue("base_client" if request.param == "base-url" else "client")


def tone_wav(seconds: float, rate: int = 16_000, hz: float = 440.0) -> bytes:
    """A WAV of a sine tone, written here with `wave` and `array` (not by the fake)."""
    samples = array("h", (int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(round(seconds * rate))))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24_000)
        return w.getnframes() / w.getframerate()


def speak(client, **kwargs) -> bytes:
    args = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": TEXT, **kwargs}
    return client.audio.speech.create(**args).read()


# -- speech -----------------------------------------------------------------------------------


def test_speech_is_a_wav_as_long_as_the_text_takes_to_read(sdk):
    seconds = wav_seconds(speak(sdk, response_format="wav"))
    expected = WORDS / 150 * 60  # 150 words a minute
    assert 0.75 * expected < seconds < 1.3 * expected, seconds
    faster = wav_seconds(speak(sdk, response_format="wav", speed=2.0))
    assert 0.4 < faster / seconds < 0.6, (faster, seconds)
    slower = wav_seconds(speak(sdk, response_format="wav", speed=0.5))
    assert 1.7 < slower / seconds < 2.3, (slower, seconds)


def test_pcm_is_the_wavs_samples(sdk):
    wav = speak(sdk, response_format="wav", voice="onyx")
    pcm = speak(sdk, response_format="pcm", voice="onyx")
    with wave.open(io.BytesIO(wav)) as w:
        frames = w.readframes(w.getnframes())
    assert len(pcm) % 2 == 0 and pcm == frames
    samples = array("h", pcm)
    assert max(samples) > 5000 and min(samples) < -5000  # it makes a sound


def test_speech_is_deterministic_per_text_and_voice(sdk):
    first = speak(sdk, response_format="pcm", input="Hello world.")
    assert speak(sdk, response_format="pcm", input="Hello world.") == first
    assert speak(sdk, response_format="pcm", input="Hello there.") != first
    assert speak(sdk, response_format="pcm", input="Hello world.", voice="shimmer") != first


@pytest.mark.parametrize("fmt, magic, codec", [
    ("mp3", (b"ID3", b"\xff\xf3", b"\xff\xfb"), "mp3"),
    ("opus", (b"OggS",), "opus"),
    ("aac", (b"\xff\xf1", b"\xff\xf9"), "aac"),
    ("flac", (b"fLaC",), "flac"),
])
def test_compressed_formats_decode(sdk, fmt, magic, codec):
    """Each format is what its name says: its magic bytes, and PyAV decodes it to about the WAV's duration."""
    data = speak(sdk, response_format=fmt, input="Audio in every format the API names.")
    assert data.startswith(magic), data[:8]
    seconds = wav_seconds(speak(sdk, response_format="wav", input="Audio in every format the API names."))
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith(codec)
        samples = sum(frame.samples for frame in container.decode(stream))
        decoded = samples / stream.codec_context.sample_rate
    assert abs(decoded - seconds) < 0.15, (decoded, seconds)


def test_speech_arrives_in_chunks_over_time(sdk, use_profile):
    profile = Profile()
    profile.audio.speech(stream={"chunk": 8192, "chunk_delay": 0.05})
    use_profile(profile)
    whole = speak(sdk, response_format="wav", input="Five words take two seconds.")
    pieces = -(-len(whole) // 8192)
    assert pieces >= 10
    arrived = []
    started = time.monotonic()
    with sdk.audio.speech.with_streaming_response.create(model="gpt-4o-mini-tts", voice="alloy", response_format="wav",
                                                         input="Five words take two seconds.") as response:
        assert response.headers["content-type"] == "audio/wav"
        for chunk in response.iter_bytes():
            arrived.append((time.monotonic() - started, chunk))
    assert b"".join(c for _, c in arrived) == whole
    # The chunks are 0.05 s apart, so the last comes that much after the first (less a 50 ms tolerance), and the
    # first came well before the end: delivered over time, not at once.
    assert arrived[-1][0] >= (pieces - 1) * 0.05 - 0.05, (arrived[-1][0], pieces)
    assert arrived[0][0] < arrived[-1][0] - 0.3 and len(arrived) > 2


def test_speech_as_server_sent_events(sdk):
    """`stream_format="sse"`: base64 audio deltas that join to the same audio, then `speech.audio.done` with usage.
    (openai 3.57 has no type for these events: the SDK hands the body over as it is.)"""
    whole = speak(sdk, response_format="mp3", input="Streamed as events.")
    with sdk.audio.speech.with_streaming_response.create(model="gpt-4o-mini-tts", voice="alloy", input="Streamed as events.",
                                                         stream_format="sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1) and len(events) >= 2
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == whole
    done = events[-1]
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize("changes, param, code", [
    ({"input": "x" * 4097}, "input", "string_above_max_length"),
    ({"input": ""}, "input", "string_below_min_length"),
    ({"voice": "bob"}, "voice", "invalid_value"),
    ({"model": "tts-1", "voice": "marin"}, "voice", "unsupported_value"),  # a gpt-4o-mini-tts voice
    ({"response_format": "ogg"}, "response_format", "invalid_value"),
    ({"speed": 4.5}, "speed", "invalid_value"),
    ({"speed": 0.2}, "speed", "invalid_value"),
    ({"model": "tts-1", "instructions": "Speak softly."}, "instructions", "unsupported_parameter"),
    ({"model": "tts-1-hd", "stream_format": "sse"}, "stream_format", "unsupported_value"),
    ({"stream_format": "chunks"}, "stream_format", "invalid_value"),
])
def test_bad_speech_is_a_400_naming_the_param(base_client, changes, param, code):
    with pytest.raises(openai.BadRequestError) as caught:
        speak(base_client, **changes)
    error = caught.value.body
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error"), error


def test_speech_with_another_kind_of_model_finds_no_endpoint(base_client):
    """The API routes audio by model: whisper-1 (or a chat model) on /audio/speech is its 404 `Invalid URL`."""
    for model in ("whisper-1", "gpt-4o"):
        with pytest.raises(openai.NotFoundError) as caught:
            speak(base_client, model=model)
        assert caught.value.body["message"] == "Invalid URL (POST /v1/audio/speech)"


def test_speech_takes_custom_voices_and_instructions(base_client):
    custom = speak(base_client, voice={"id": "voice_1234"}, response_format="pcm", input="Mine.")
    assert custom and custom != speak(base_client, response_format="pcm", input="Mine.")
    assert speak(base_client, instructions="Cheerful.", response_format="pcm", input="Mine.")


# -- transcriptions ---------------------------------------------------------------------------

SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)\n")
VTT_CUE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(.+)\n")


def _secs(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def transcribe(client, data: bytes, name: str = "clip.wav", **kwargs):
    return client.audio.transcriptions.create(file=(name, data, "audio/wav"), **{"model": "whisper-1", **kwargs})


def test_a_transcription_in_every_format(sdk, use_profile):
    profile = Profile()
    profile.audio.transcriptions(text="Hello there. This is the second sentence! And a third one?")
    use_profile(profile)
    clip = tone_wav(2.5)

    json_answer = transcribe(sdk, clip)
    assert json_answer.text == "Hello there. This is the second sentence! And a third one?"
    assert json_answer.usage.type == "duration" and json_answer.usage.seconds == 3  # whisper-1 bills seconds

    assert transcribe(sdk, clip, response_format="text") == json_answer.text + "\n"

    srt = transcribe(sdk, clip, response_format="srt")
    cues = SRT_CUE.findall(srt)
    assert [c[0] for c in cues] == ["1", "2", "3"] and srt.count("\n\n") == 3
    assert [c[9] for c in cues] == ["Hello there.", "This is the second sentence!", "And a third one?"]
    ends = [(_secs(*c[1:5]), _secs(*c[5:9])) for c in cues]
    assert all(a < b for a, b in ends) and all(ends[i][1] <= ends[i + 1][0] for i in range(2)) and ends[-1][1] <= 2.5

    vtt = transcribe(sdk, clip, response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n")
    vcues = VTT_CUE.findall(vtt)
    assert [c[8] for c in vcues] == [c[9] for c in cues]
    assert [(_secs(*c[0:4]), _secs(*c[4:8])) for c in vcues] == ends

    verbose = transcribe(sdk, clip, response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert verbose.duration == 2.5 and verbose.language == "english"
    assert verbose.usage.seconds == 3
    assert [w.word for w in verbose.words] == "Hello there This is the second sentence And a third one".split()
    times = [t for w in verbose.words for t in (w.start, w.end)]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= verbose.duration
    assert [s.text.strip() for s in verbose.segments] == [c[9] for c in cues]
    assert verbose.segments[-1].end <= verbose.duration

    words_only = transcribe(sdk, clip, response_format="verbose_json", timestamp_granularities=["word"], language="de")
    assert words_only.words and words_only.segments is None and words_only.language == "german"


def test_the_wav_duration_is_read_back(base_client):
    verbose = transcribe(base_client, tone_wav(1.75, rate=8000), response_format="verbose_json")
    assert verbose.duration == 1.75 and verbose.usage.seconds == 2
    assert "clip.wav" in verbose.text and "1.8 seconds" in verbose.text  # the default names the file and its length


def test_gpt_4o_models_answer_json_and_text_with_token_usage(sdk):
    clip = tone_wav(3.0)
    answer = transcribe(sdk, clip, model="gpt-4o-transcribe", prompt="A tone.", include=["logprobs"])
    usage = answer.usage
    assert usage.type == "tokens" and usage.input_token_details.audio_tokens == 50  # 1,000 a minute
    assert usage.input_token_details.text_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert "".join(p.token for p in answer.logprobs) == answer.text
    assert transcribe(sdk, clip, model="gpt-4o-mini-transcribe", response_format="text").endswith("\n")
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(sdk, clip, model="gpt-4o-transcribe", response_format="verbose_json")
    assert caught.value.body["param"] == "response_format"
    assert "not compatible with model 'gpt-4o-transcribe'" in caught.value.body["message"]


def test_diarized_json_has_speakers(sdk, use_profile):
    profile = Profile()
    profile.audio.transcriptions(text="Thanks for calling. I need some help. Sure, go ahead.")
    use_profile(profile)
    answer = transcribe(sdk, tone_wav(6.0), model="gpt-4o-transcribe-diarize", response_format="diarized_json")
    assert [s.speaker for s in answer.segments] == ["A", "B", "A"]
    assert [s.text for s in answer.segments] == ["Thanks for calling.", "I need some help.", "Sure, go ahead."]
    assert answer.duration == 6.0 and answer.task == "transcribe" and answer.usage.type == "tokens"
    assert all(s.type == "transcript.text.segment" and s.start < s.end <= 6.0 for s in answer.segments)


def test_a_translation(sdk):
    clip = tone_wav(2.0)
    answer = sdk.audio.translations.create(file=("french.wav", clip, "audio/wav"), model="whisper-1")
    assert answer.text == "This is the English translation of french.wav by openai-fake: 2.0 seconds of audio."
    verbose = sdk.audio.translations.create(file=("french.wav", clip), model="whisper-1", response_format="verbose_json")
    assert (verbose.language, verbose.duration, verbose.text) == ("english", 2.0, answer.text)
    assert sdk.audio.translations.create(file=("french.wav", clip), model="whisper-1",
                                         response_format="srt").startswith("1\n00:00:00,000 --> ")


def test_a_streamed_transcription(sdk):
    stream = transcribe(sdk, tone_wav(2.0), model="gpt-4o-mini-transcribe", stream=True)
    events = list(stream)
    kinds = [type(e).__name__ for e in events]
    assert kinds[-1] == "TranscriptionTextDoneEvent" and set(kinds[:-1]) == {"TranscriptionTextDeltaEvent"}
    done = events[-1]
    assert "".join(e.delta for e in events[:-1]) == done.text and len(events) > 3
    assert done.usage.type == "tokens" and done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens


def test_what_the_fake_said_is_what_it_transcribes(sdk):
    """Speech the fake made, uploaded back, is transcribed as the text it was made from."""
    spoken = speak(sdk, response_format="mp3", input="Round trips are handy in tests.")
    assert transcribe(sdk, spoken, name="speech.mp3", model="gpt-4o-transcribe").text == "Round trips are handy in tests."
    verbose = transcribe(sdk, spoken, name="speech.mp3", response_format="verbose_json")
    assert abs(verbose.duration - wav_seconds(speak(sdk, response_format="wav", input="Round trips are handy in tests."))) < 0.1


def test_profile_handlers_and_route_rules(base_client, use_profile):
    profile = Profile()
    profile.audio.transcriptions(text="group text")
    profile.audio.transcriptions.create(text="route text")

    @profile.audio.translations
    def translate(request, state):
        return {"text": "handler text", "duration": 9.5}

    @profile.audio.speech
    def say(request, state):
        return "The handler speaks."

    use_profile(profile)
    clip = tone_wav(1.0)
    assert transcribe(base_client, clip).text == "route text"
    verbose = base_client.audio.translations.create(file=("a.wav", clip), model="whisper-1", response_format="verbose_json")
    assert (verbose.text, verbose.duration) == ("handler text", 9.5)
    assert base_client.audio.translations.create(file=("a.wav", clip), model="whisper-1", response_format="text") == "handler text\n"
    spoken = speak(base_client, input="Ignored words.", response_format="wav")
    assert transcribe(base_client, spoken, model="gpt-4o-transcribe").text == "route text"  # the knob wins over the memory
    assert spoken == speak(base_client, input="The handler speaks.", response_format="wav")


def test_a_speech_handler_can_answer_the_audio_itself(base_client, use_profile):
    profile = Profile()
    profile.audio.speech(handler=lambda request, state: b"RIFF-my-own-bytes")
    use_profile(profile)
    assert speak(base_client, response_format="wav") == b"RIFF-my-own-bytes"


@pytest.mark.parametrize("file, kwargs, status, param", [
    (("notes.txt", b"hello", "text/plain"), {}, 400, "file"),
    (("broken.mp3", b"not really an mp3", "audio/mpeg"), {}, 400, "file"),
    (("silence.wav", tone_wav(0.05), "audio/wav"), {}, 400, "file"),
    (None, {"response_format": "json", "timestamp_granularities": ["word"]}, 400, "timestamp_granularities"),
    (None, {"language": "xx"}, 400, "language"),
    (None, {"temperature": 1.5}, 400, "temperature"),
    (None, {"response_format": "diarized_json"}, 400, "response_format"),  # whisper-1 does not diarize
    (None, {"model": "gpt-4o-transcribe-diarize", "prompt": "x"}, 400, "prompt"),
    (None, {"include": ["logprobs"]}, 400, "include"),  # only the gpt-4o models have logprobs
    (None, {"extra_body": {"colour": "blue"}}, 400, "colour"),
    (None, {"model": "tts-1"}, 404, None),
])
def test_bad_transcriptions(base_client, file, kwargs, status, param):
    upload = file or ("clip.wav", tone_wav(1.0), "audio/wav")
    with pytest.raises(openai.APIStatusError) as caught:
        base_client.audio.transcriptions.create(file=upload, **{"model": "whisper-1", **kwargs})
    assert caught.value.status_code == status
    assert caught.value.body["param"] == param, caught.value.body


def test_translations_take_whisper_only(base_client):
    with pytest.raises(openai.BadRequestError) as caught:
        base_client.audio.translations.create(file=("a.wav", tone_wav(1.0)), model="gpt-4o-transcribe")
    assert caught.value.body["param"] == "model"


# -- engine, no sockets ------------------------------------------------------------------------

AUTH = {"authorization": "Bearer sk-test-1234567890", "content-type": "application/json"}


def test_each_audio_group_is_a_rule_of_its_own():
    assert {"audio.speech", "audio.transcriptions", "audio.translations"} <= set(routes.RULES)
    assert routes.ROUTE_RULES["audio.speech.create"] == "audio.speech"
    profile = Profile()
    profile.audio.speech.create(stream={"chunk": 100})
    with pytest.raises(TypeError):
        profile.audio.speech(text="no such knob for speech")
    with pytest.raises(AttributeError):
        profile.audio(failures=1)  # a group of routes, not a rule
    with pytest.raises(ValueError):
        profile.audio.transcriptions(language="klingon")  # checked when the profile loads


def test_the_language_knob_is_what_verbose_json_reports():
    profile = Profile()
    profile.audio.transcriptions(language="german")
    engine = Engine(profile)
    body, headers = form([("file", ("a.wav", tone_wav(1.0), "audio/wav")), ("model", "whisper-1"),
                          ("response_format", "verbose_json")])
    assert json.loads(engine.handle(Request("POST", "/v1/audio/transcriptions", headers, body)).body)["language"] == "german"
    body, headers = form([("file", ("a.wav", tone_wav(1.0), "audio/wav")), ("model", "whisper-1"),
                          ("response_format", "verbose_json"), ("language", "fr")])
    assert json.loads(engine.handle(Request("POST", "/v1/audio/transcriptions", headers, body)).body)["language"] == "french"


def form(fields: list) -> tuple[bytes, dict]:
    from urllib3 import encode_multipart_formdata

    body, content_type = encode_multipart_formdata(fields)
    return body, {**AUTH, "content-type": content_type}


def test_whisper_ignores_stream_as_the_api_says():
    body, headers = form([("file", ("a.wav", tone_wav(1.0), "audio/wav")), ("model", "whisper-1"), ("stream", "true")])
    reply = Engine(Profile()).handle(Request("POST", "/v1/audio/transcriptions", headers, body))
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert json.loads(reply.body)["usage"] == {"type": "duration", "seconds": 1}
    body, headers = form([("file", ("a.wav", tone_wav(1.0), "audio/wav")), ("model", "gpt-4o-transcribe"), ("stream", "true")])
    reply = Engine(Profile()).handle(Request("POST", "/v1/audio/transcriptions", headers, body))
    assert isinstance(reply, StreamReply) and reply.headers["content-type"].startswith("text/event-stream")


def test_an_upload_over_25_mb_is_a_413():
    boundary = "b0undary"
    big = b"\0" * (25 * 1024 * 1024 + 1)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            f"Content-Type: audio/wav\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
    headers = {**AUTH, "content-type": f"multipart/form-data; boundary={boundary}"}
    reply = Engine(Profile()).handle(Request("POST", "/v1/audio/transcriptions", headers, body))
    assert reply.status == 413 and "26214400" in json.loads(reply.body)["error"]["message"]


def test_speech_is_cached():
    """An aac encode of 50 s of speech takes a while; the same request again takes next to nothing."""
    engine = Engine(Profile())
    body = json.dumps({"model": "tts-1", "voice": "echo", "input": TEXT * 4, "response_format": "aac"}).encode()
    started = time.perf_counter()
    first = engine.handle(Request("POST", "/v1/audio/speech", AUTH, body))
    took = time.perf_counter() - started
    assert isinstance(first, StreamReply) and first.status == 200
    started = time.perf_counter()
    again = engine.handle(Request("POST", "/v1/audio/speech", AUTH, body))
    assert time.perf_counter() - started < took / 3, took
    assert b"".join(e.data for e in again.events) == b"".join(e.data for e in first.events)
