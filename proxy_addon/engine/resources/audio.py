"""Audio: speech (`POST /v1/audio/speech`), transcriptions and translations (`POST /v1/audio/transcriptions`,
`POST /v1/audio/translations`). Each is a rule of its own, as the route table groups them:
`profile.audio.speech(...)`, `profile.audio.transcriptions(...)`, `profile.audio.translations(...)`.

Speech answers real audio in the requested `response_format` (`engine/sound.py` makes and encodes it):
deterministic per text, voice and speed, about 150 words a minute divided by `speed`, sent in chunks
over time (the profile's `stream=` paces them), or as `speech.audio.delta` / `speech.audio.done`
events with `stream_format="sse"`. A handler may answer the text to speak (a string), the audio
itself (bytes), or a whole Reply.

Transcriptions and translations read the upload (its format from its name, media type or first
bytes; its duration from the audio itself: `wave` for WAV, PyAV for the rest) and answer the text
the profile gives (`text=`, or a handler's string, or a partial dict laid over the JSON answer),
else the text the fake spoke, when the upload is speech it made, else a sentence naming the file and
its duration, in every `response_format` the model takes: `json`, `text`, `srt`, `vtt`,
`verbose_json` (segments, and words when `timestamp_granularities` asks), `diarized_json`. Timings
spread the text over the real duration. `stream=true` (not whisper-1, which ignores it, as the API
does) answers `transcript.text.delta` events and `transcript.text.done` with its usage.

Models as the API routes them: a model of another kind (`whisper-1` for speech, `tts-1` for a
transcription, a chat model for either) is the API's 404 `Invalid URL`; each model's own limits are
400s naming the param (gpt-4o-transcribe answers only `json` and `text`, tts-1 takes no
`instructions` and no `stream_format="sse"`, ...).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any, Literal

from .. import errors, forms, knobs, logprobs, params, sound, stores, tokens
from ..bodies import check, merge
from ..errors import OpenAIError
from ..streams import Event, StreamReply, sse
from ..wire import Reply
from ..instances import resolve


# -- speech ------------------------------------------------------------------------------------

_SPEECH_MODEL = re.compile(r"tts-1(-hd)?(-1106)?|gpt-4o-mini-tts(-\d{4}-\d{2}-\d{2})?")
_TTS1 = re.compile(r"tts-1(-hd)?(-1106)?")
#: The voices of tts-1 and tts-1-hd; gpt-4o-mini-tts has these and four more.
TTS1_VOICES = ("alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer")
VOICES = TTS1_VOICES + ("ballad", "verse", "marin", "cedar")
SPEECH_FORMATS = sound.FORMATS
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
               "wav": "audio/wav", "pcm": "audio/pcm"}
MAX_INPUT = 4096
#: Speech is billed by audio tokens: 1,250 a minute of output, 1,000 a minute of transcribed input.
SPEECH_TOKENS_PER_SECOND = 1250 / 60
AUDIO_TOKENS_PER_SECOND = 1000 / 60
_CHUNK = 16 * 1024  # bytes of audio a streamed chunk carries, unless the profile's `stream={"chunk": N}` says

_cache = sound.Cache(64 * 1024 * 1024)  # (text, voice, format, speed) -> the encoded audio


def _unsupported_param(name: str) -> OpenAIError:
    return OpenAIError(400, f"Unsupported parameter: '{name}' is not supported with this model.", param=name,
                       code="unsupported_parameter")


def _unsupported_value(name: str, value: Any, allowed: tuple[str, ...]) -> OpenAIError:
    return OpenAIError(400, f"Unsupported value: '{name}' does not support '{value}' with this model. Supported values "
                            f"are: {params.listed(allowed)}.", param=name, code="unsupported_value")


def _voice(body: dict, model: str) -> str:
    """The voice's name, or a custom voice's id (`{"id": "voice_..."}`, or such a string)."""
    voice = body.get("voice")
    if voice is None:
        raise errors.missing_param("voice")
    if isinstance(voice, dict):
        for key in voice:
            if key != "id":
                raise OpenAIError(400, f"Unrecognized request argument supplied: voice.{key}", param=f"voice.{key}",
                                  code="unknown_parameter")
        if voice.get("id") is None:
            raise errors.missing_param("voice.id")
        return params.text(voice["id"], "voice.id")
    if not isinstance(voice, str):
        raise errors.invalid_type("voice", "a string or an object", voice)
    if voice.startswith("voice_"):
        return voice
    params.choice(voice, "voice", VOICES)
    if _TTS1.fullmatch(model) and voice not in TTS1_VOICES:
        raise _unsupported_value("voice", voice, TTS1_VOICES)
    return voice


def speech(call) -> Any:
    body = params.json_body(call.request)
    model = params.require(body, "model", str)
    if not model:
        raise errors.missing_param("model")
    if not _SPEECH_MODEL.fullmatch(model):  # the API routes by model: another kind of model finds no endpoint here
        if call.request.deployment is None:
            raise errors.invalid_url(call.request.method, call.request.path)
        model = _AZURE_SPEECH  # an Azure deployment's name says nothing of its model
    text = params.require(body, "input", str)
    if len(text) > MAX_INPUT:
        raise OpenAIError(400, f"Invalid 'input': string too long. Expected a string with maximum length {MAX_INPUT}, "
                               f"but got a string with length {len(text)} instead.", param="input",
                          code="string_above_max_length")
    if not text.strip():
        raise OpenAIError(400, "Invalid 'input': empty string. Expected a string with minimum length 1, but got an "
                               "empty string instead.", param="input", code="string_below_min_length")
    voice = _voice(body, model)
    fmt = params.choice(body.get("response_format"), "response_format", SPEECH_FORMATS) or "mp3"
    speed = float(params.number(body, "speed", 0.25, 4.0, default=1.0))
    instructions = params.text(body.get("instructions"), "instructions", MAX_INPUT)
    if instructions is not None and _TTS1.fullmatch(model):
        raise _unsupported_param("instructions")
    stream_format = params.choice(body.get("stream_format"), "stream_format", ("sse", "audio")) or "audio"
    if stream_format == "sse" and _TTS1.fullmatch(model):
        raise _unsupported_value("stream_format", "sse", ("audio",))

    custom = call.custom()
    if isinstance(custom, str):
        text = custom  # the handler's words, spoken
    elif custom is not None and not isinstance(custom, (bytes, bytearray)):
        raise OpenAIError(500, f"openai-fake: {call.where}: the handler answered a {type(custom).__name__}; "
                               f"{call.request.route} takes a string (the text to speak), bytes (the audio), a Reply "
                               f"or None", type="server_error", headers={"x-should-retry": "false"})
    if isinstance(custom, (bytes, bytearray)):
        audio, seconds = bytes(custom), None
    else:
        audio, seconds = _speak(text, voice, fmt, speed)
    digest = _digest(audio)
    if call.state.get(stores.AUDIO_SPOKEN, digest) is None:  # so that a transcription of it says it again
        call.state.put(stores.AUDIO_SPOKEN, {"id": digest, "text": text})
    pace = call.pace
    size = pace.chunk if isinstance(pace.chunk, int) else _CHUNK
    pieces = [audio[i:i + size] for i in range(0, len(audio), size)] or [b""]
    said = f"{seconds:.1f} s of {fmt} audio" if seconds is not None else f"{len(audio)} bytes of {fmt} audio"
    if stream_format == "sse":
        events = [Event(sse({"type": "speech.audio.delta", "audio": base64.b64encode(p).decode()}), content=True,
                        text=said if i == 0 else None) for i, p in enumerate(pieces)]
        input_tokens = tokens.count(text) + tokens.count(instructions or "")
        output_tokens = math.ceil((seconds or 0) * SPEECH_TOKENS_PER_SECOND)
        events.append(Event(sse({"type": "speech.audio.done", "usage": {
            "input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}})))
        return call.stream(events)
    # A binary body has no error event: the pace's `error_after` ends the audio early, `cut_after` drops it.
    return StreamReply(200, b"", {"content-type": MEDIA_TYPES[fmt]},
                       events=[Event(p, content=True, text=said if i == 0 else None) for i, p in enumerate(pieces)],
                       pace=pace, error_event=lambda error, index: b"")


def _speak(text: str, voice: str, fmt: str, speed: float) -> tuple[bytes, float]:
    """The audio of `text` in `fmt`, and its seconds: cached by (text, voice, format, speed), and the PCM it was
    encoded from by (text, voice, speed), so that another format of the same speech only encodes."""
    found = _cache.get((text, voice, fmt, speed))
    if found is not None:
        return found
    pcm, seconds = _cache.get((text, voice, "pcm", speed)) or _cache.put((text, voice, "pcm", speed), *_made(text, voice, speed))
    if fmt == "pcm":
        return pcm, seconds
    return _cache.put((text, voice, fmt, speed), sound.encode(pcm, fmt), seconds)


def _made(text: str, voice: str, speed: float) -> tuple[bytes, float]:
    pcm = sound.speech(text, voice, speed)
    return pcm, sound.seconds_of_pcm(pcm)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# -- transcriptions and translations ------------------------------------------------------------

#: ISO-639-1 codes the API takes for `language`, and the names verbose_json reports (Whisper's languages).
LANGUAGES = dict(pair.split(":") for pair in (
    "en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french ja:japanese pt:portuguese "
    "tr:turkish pl:polish ca:catalan nl:dutch ar:arabic sv:swedish it:italian id:indonesian hi:hindi fi:finnish "
    "vi:vietnamese he:hebrew uk:ukrainian el:greek ms:malay cs:czech ro:romanian da:danish hu:hungarian ta:tamil "
    "no:norwegian th:thai ur:urdu hr:croatian bg:bulgarian lt:lithuanian la:latin mi:maori ml:malayalam cy:welsh "
    "sk:slovak te:telugu fa:persian lv:latvian bn:bengali sr:serbian az:azerbaijani sl:slovenian kn:kannada "
    "et:estonian mk:macedonian br:breton eu:basque is:icelandic hy:armenian ne:nepali mn:mongolian bs:bosnian "
    "kk:kazakh sq:albanian sw:swahili gl:galician mr:marathi pa:punjabi si:sinhala km:khmer sn:shona yo:yoruba "
    "so:somali af:afrikaans oc:occitan ka:georgian be:belarusian tg:tajik sd:sindhi gu:gujarati am:amharic "
    "yi:yiddish lo:lao uz:uzbek fo:faroese ht:haitian_creole ps:pashto tk:turkmen nn:nynorsk mt:maltese "
    "sa:sanskrit lb:luxembourgish my:myanmar bo:tibetan tl:tagalog mg:malagasy as:assamese tt:tatar "
    "haw:hawaiian ln:lingala ha:hausa ba:bashkir jw:javanese su:sundanese yue:cantonese").split())
LANGUAGES = {code: name.replace("_", " ") for code, name in LANGUAGES.items()}
_BY_NAME = {name: code for code, name in LANGUAGES.items()}

#: The knobs of each rule; `language` is checked when the profile loads (an ISO-639-1 code or a language's name).
RULES = {
    "audio.speech": {"stream": object},
    "audio.transcriptions": {"text": str, "language": Literal[(*LANGUAGES, *_BY_NAME)], "stream": object},
    "audio.translations": {"text": str},
}
_MADE_TEXT = ("the words of the speech, when the upload is speech this fake made; else a sentence naming the file "
              "and its duration")
#: What each rule's knobs do.
RULE_DOCS = {
    "audio.speech": {
        "stream": knobs.stream_doc("the speech", f"the audio body's chunks of {_CHUNK // 1024} KiB (`chunk` bytes, when "
                                   'that is a number), or with `stream_format="sse"` its `speech.audio.delta` events',
                                   "A binary body has no error event: `error_after` ends the audio early."),
    },
    "audio.transcriptions": {
        "text": knobs.Doc(_MADE_TEXT, "The transcript of every upload, in every `response_format` (timed over the "
                          'upload\'s real duration), e.g. `"Turn left at the lights."`.'),
        "language": knobs.Doc('English (`"en"`)', "The language `verbose_json` reports (and gpt-transcribe's "
                              "`languages`) when the request names none: an ISO-639-1 code or a language's name, "
                              'e.g. `"de"` or `"german"`, checked when the profile loads.'),
        "stream": knobs.stream_doc("`stream: true` transcriptions (the gpt-4o models; whisper-1 ignores it)",
                                   "the `transcript.text.delta` events"),
    },
    "audio.translations": {
        "text": knobs.Doc(_MADE_TEXT, 'The English translation of every upload, in every `response_format`, e.g. '
                          '`"Good morning."`.'),
    },
}

_WHISPER = "whisper-1"
#: What an Azure deployment whose name is no speech model's speaks as (its name says nothing of its model).
_AZURE_SPEECH = "gpt-4o-mini-tts"
_DIARIZE = "gpt-4o-transcribe-diarize"
_TRANSCRIBE_MODEL = re.compile(r"whisper-1|gpt-transcribe|gpt-4o(-mini)?-transcribe(-\d{4}-\d{2}-\d{2})?|"
                               r"gpt-4o-transcribe-diarize")
_LOGPROBS_MODEL = re.compile(r"gpt-4o(-mini)?-transcribe(-\d{4}-\d{2}-\d{2})?")
TRANSCRIPTION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
TRANSLATION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
MAX_UPLOAD = 25 * 1024 * 1024

_TRANSCRIPTION_FIELDS = frozenset({
    "file", "model", "chunking_strategy", "include", "keywords", "known_speaker_names", "known_speaker_references",
    "language", "languages", "prompt", "response_format", "stream", "temperature", "timestamp_granularities"})
_TRANSLATION_FIELDS = frozenset({"file", "model", "prompt", "response_format", "temperature"})
_LISTS = frozenset({"include", "keywords", "known_speaker_names", "known_speaker_references", "languages",
                    "timestamp_granularities"})


def _formats_of(model: str) -> tuple[str, ...]:
    if model == _WHISPER:
        return TRANSLATION_FORMATS
    if model == _DIARIZE:
        return ("json", "text", "diarized_json")
    return ("json", "text")


class _Form:
    """A transcription's or translation's multipart form, read as the API reads it: text fields, the lists
    the SDK sends as `name[]` parts, objects as `name[key]` parts, and the file."""

    def __init__(self, call, known: frozenset[str]) -> None:
        self.fields: dict[str, Any] = {}
        self.file: forms.Field | None = None
        for name, field in forms.parts(call.request):
            base, _, rest = name.partition("[")
            key = rest[:-1] if rest.endswith("]") else ""
            if base not in known:
                if call.profile.validate_requests:
                    raise OpenAIError(400, f"Unrecognized request argument supplied: {base}", param=base,
                                      code="unknown_parameter")
                continue
            if base == "file":
                self.file = field
            elif base in _LISTS:
                self.fields.setdefault(base, []).append(field.text)
            elif key:
                holder = self.fields.setdefault(base, {})
                if isinstance(holder, dict):
                    holder[key] = field.text
            else:
                self.fields[base] = field.text

    def text(self, name: str) -> str | None:
        value = self.fields.get(name)
        if value is not None and not isinstance(value, str):
            raise errors.invalid_type(name, "a string", value)
        return value

    def number(self, name: str, low: float, high: float) -> float | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise errors.invalid_type(name, "a decimal", value) from None
        if not math.isfinite(number):
            raise errors.invalid_type(name, "a decimal", value)
        return params.number({name: number}, name, low, high)

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value is None or value.lower() in ("false", "0", ""):
            return False
        if value.lower() in ("true", "1"):
            return True
        raise errors.invalid_type(name, "a boolean", value)

    def items(self, name: str, allowed: tuple[str, ...] | None = None) -> list[str]:
        value = self.fields.get(name) or []
        if isinstance(value, str):
            value = [value]
        if isinstance(value, dict):
            raise errors.invalid_type(name, "an array", value)
        if allowed is not None:
            for i, item in enumerate(value):
                params.choice(item, f"{name}[{i}]", allowed)
        return value


def _upload(form: _Form) -> tuple[str, float, bytes]:
    """(the upload's name, its seconds of audio, its bytes), or the API's 400 for a file it would not take."""
    upload = form.file
    if upload is None:
        raise errors.missing_param("file")
    if len(upload.value) > MAX_UPLOAD:
        raise OpenAIError(413, f"Maximum content size limit ({MAX_UPLOAD}) exceeded ({len(upload.value)} bytes read)",
                          param="file")
    if sound.sniff(upload.value, upload.filename, upload.content_type) is None:
        listed = ", ".join(f"'{f}'" for f in sound.UPLOAD_FORMATS)
        raise errors.invalid_value("file", f"Invalid file format. Supported formats: [{listed}]")
    seconds = sound.duration(upload.value)
    if seconds is None:
        raise errors.invalid_value("file", "Audio file might be corrupted or unsupported")
    if seconds < 0.1:
        raise OpenAIError(400, "Audio file is too short. Minimum audio length is 0.1 seconds.", param="file",
                          code="audio_too_short")
    return upload.filename or "the audio", seconds, upload.value


def _model(form: _Form, call, translation: bool) -> str:
    model = form.text("model")
    if not model:
        raise errors.missing_param("model")
    if not _TRANSCRIBE_MODEL.fullmatch(model):
        if call.request.deployment is None:
            raise errors.invalid_url(call.request.method, call.request.path)
        return _WHISPER  # an Azure deployment's name says nothing of its model: served as whisper-1
    if translation and model != _WHISPER:
        raise errors.invalid_value("model", f"Invalid value: '{model}'. Supported values are: '{_WHISPER}'.")
    return model


def _language(code: str | None, name: str = "language") -> str | None:
    if not code:  # an empty form field is no language
        return None
    if code.lower() not in LANGUAGES:
        raise errors.invalid_value(name, f"Invalid language '{code}'. Language parameter must be specified in "
                                         f"ISO-639-1 format.")
    return code.lower()


def _check_transcription(form: _Form, model: str, fmt: str, seconds: float) -> dict:
    """The options of a transcription, checked against what its model takes."""
    granularities = form.items("timestamp_granularities", ("word", "segment"))
    include = form.items("include", ("logprobs",))
    language = _language(form.text("language"))
    languages = [c for i, code in enumerate(form.items("languages")) if (c := _language(code, f"languages[{i}]"))]
    prompt = form.text("prompt")
    keywords = form.items("keywords")
    names = form.items("known_speaker_names")
    references = form.items("known_speaker_references")
    chunking = form.fields.get("chunking_strategy")
    if isinstance(chunking, str) and chunking not in ("auto", ""):
        raise errors.invalid_value("chunking_strategy", f"Invalid value: '{chunking}'. Supported values are: 'auto'.")
    if isinstance(chunking, dict):
        params.kind(chunking, "chunking_strategy", ("server_vad",))
        for key, value in chunking.items():
            if key == "type":
                continue
            if key not in ("prefix_padding_ms", "silence_duration_ms", "threshold"):
                raise OpenAIError(400, f"Unrecognized request argument supplied: chunking_strategy.{key}",
                                  param=f"chunking_strategy.{key}", code="unknown_parameter")
            try:
                number = float(value) if key == "threshold" else int(value)
            except ValueError:
                raise errors.invalid_type(f"chunking_strategy.{key}", "a decimal" if key == "threshold" else "an integer",
                                          value) from None
            if key == "threshold":
                params.number({key: number}, key, 0, 1, param=f"chunking_strategy.{key}")
    if granularities and fmt != "verbose_json":
        raise errors.invalid_value("timestamp_granularities", "timestamp_granularities requires response_format "
                                                               "'verbose_json'.")
    if include and not (_LOGPROBS_MODEL.fullmatch(model) and fmt == "json"):
        if not _LOGPROBS_MODEL.fullmatch(model):
            raise _unsupported_param("include")
        raise errors.invalid_value("include", "logprobs are only available with response_format 'json'.")
    if model != "gpt-transcribe":
        for name, given in (("keywords", keywords), ("languages", languages)):
            if given:
                raise _unsupported_param(name)
    if model == _DIARIZE:
        if prompt is not None:
            raise _unsupported_param("prompt")
        if seconds > 30 and not chunking:
            raise OpenAIError(400, "Missing required parameter: 'chunking_strategy'. gpt-4o-transcribe-diarize needs it "
                                   "for audio longer than 30 seconds.", param="chunking_strategy",
                              code="missing_required_parameter")
        if len(names) > 4 or len(references) > 4:
            which = "known_speaker_names" if len(names) > 4 else "known_speaker_references"
            raise errors.invalid_value(which, f"Invalid '{which}': array too long. Expected an array with maximum "
                                              f"length 4, but got an array with length {len(names if len(names) > 4 else references)} instead.")
        if len(names) != len(references):
            raise errors.invalid_value("known_speaker_references", "known_speaker_references must have one audio "
                                                                   "sample for each of known_speaker_names.")
        for i, ref in enumerate(references):
            if not ref.startswith("data:"):
                raise errors.invalid_value(f"known_speaker_references[{i}]", "Each known speaker reference must be "
                                                                             "a data URL.")
    elif names or references:
        raise _unsupported_param("known_speaker_names" if names else "known_speaker_references")
    return {"granularities": granularities or ["segment"], "logprobs": bool(include), "language": language,
            "languages": languages, "prompt": prompt, "speakers": names}


def transcription(call) -> Any:
    form = _Form(call, _TRANSCRIPTION_FIELDS)
    model = _model(form, call, translation=False)
    fmt = params.choice(form.text("response_format"), "response_format", TRANSCRIPTION_FORMATS) or "json"
    allowed = _formats_of(model)
    if fmt not in allowed:
        raise OpenAIError(400, f"response_format '{fmt}' is not compatible with model '{model}'. Use "
                               f"{_either(allowed)} instead.", param="response_format", code="unsupported_value")
    temperature = form.number("temperature", 0, 1) or 0.0
    streamed = form.flag("stream") and model != _WHISPER  # whisper-1 ignores it, as the API says
    name, seconds, data = _upload(form)
    options = _check_transcription(form, model, fmt, seconds)
    text, partial = _text(call, name, seconds, data, translation=False)
    language = options["language"] or _knob_language(call)
    words, segments = _timeline(text, seconds)
    usage = _usage(model, seconds, text, options["prompt"])
    if streamed:
        return _transcript_stream(call, model, text, segments, usage, options, language)
    if fmt in ("text", "srt", "vtt"):
        return _plain(fmt, text, segments)
    if fmt == "verbose_json":
        body = {"task": "transcribe", "language": LANGUAGES[language], "duration": round(seconds, 3), "text": text}
        if "segment" in options["granularities"]:
            body["segments"] = _segments(segments, temperature)
        if "word" in options["granularities"]:
            body["words"] = [{"word": w, "start": s, "end": e} for w, s, e in words]
        body["usage"] = usage
        return _json(call, "openai.types.audio:TranscriptionVerbose", body, partial)
    if fmt == "diarized_json":
        body = {"task": "transcribe", "duration": round(seconds, 3), "text": text,
                "segments": _diarized(segments, options["speakers"]), "usage": usage}
        return _json(call, "openai.types.audio:TranscriptionDiarized", body, partial)
    body: dict[str, Any] = {"text": text}
    if options["logprobs"]:
        body["logprobs"] = _logprobs(text)
    if model == "gpt-transcribe":
        body["languages"] = [{"code": language}]
    body["usage"] = usage
    return _json(call, "openai.types.audio:Transcription", body, partial)


def translation(call) -> Any:
    form = _Form(call, _TRANSLATION_FIELDS)
    _model(form, call, translation=True)
    fmt = params.choice(form.text("response_format"), "response_format", TRANSLATION_FORMATS) or "json"
    temperature = form.number("temperature", 0, 1) or 0.0
    form.text("prompt")
    name, seconds, data = _upload(form)
    text, partial = _text(call, name, seconds, data, translation=True)
    _, segments = _timeline(text, seconds)
    if fmt in ("text", "srt", "vtt"):
        return _plain(fmt, text, segments)
    if fmt == "verbose_json":
        body = {"task": "translate", "language": "english", "duration": round(seconds, 3), "text": text,
                "segments": _segments(segments, temperature)}
        return _json(call, "openai.types.audio:TranslationVerbose", body, partial)
    return _json(call, "openai.types.audio:Translation", {"text": text}, partial)


def _either(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _knob_language(call) -> str:
    wanted = call.knob("language") or "en"
    return _BY_NAME.get(wanted, wanted)


def _text(call, name: str, seconds: float, data: bytes, translation: bool) -> tuple[str, dict]:
    """The transcript: the handler's string or partial dict's `text`, the `text` knob, the words of speech this fake
    made, or a sentence naming the file; and the partial dict to lay over a JSON answer."""
    custom = call.custom()
    partial: dict = {}
    if isinstance(custom, dict):
        partial = custom
        custom = custom.get("text")
    if custom is not None and not isinstance(custom, str):
        raise OpenAIError(500, f"openai-fake: {call.where}: the handler answered a {type(custom).__name__}; "
                               f"{call.request.route} takes a string (the text), a partial dict, a Reply or None",
                          type="server_error", headers={"x-should-retry": "false"})
    if custom is None:
        custom = call.knob("text")
    if custom is None:
        spoken = call.state.get(stores.AUDIO_SPOKEN, _digest(data))
        if spoken is not None:
            custom = spoken["text"]
        else:
            what = "the English translation" if translation else "a transcription"
            custom = f"This is {what} of {name} by openai-fake: {seconds:.1f} seconds of audio."
    return custom, partial


# A word as transcripts time it: its letters, without the punctuation around it.
_STRIP = re.compile(r"^[^\w]+|[^\w]+$", re.UNICODE)
# A sentence ends at . ! ? and a space (so `clip.wav` and `1.5` stay whole), or at a CJK full stop.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")


def _timeline(text: str, seconds: float) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """(words, segments) of `text`, each (text, start, end) in seconds: the text spread over the audio, words by
    their length, segments a sentence each. Monotonic, and within [0, seconds]."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    pieces = [(i, w) for i, s in enumerate(sentences) for w in s.split()]
    total = sum(len(w) + 1 for _, w in pieces) or 1
    span = max(0.0, seconds - 0.05)
    words: list[tuple[str, float, float]] = []
    bounds: dict[int, list[float]] = {}
    at = 0
    for index, piece in pieces:
        start = span * at / total
        at += len(piece) + 1
        end = span * (at - 1) / total
        bounds.setdefault(index, [start, end])[1] = end
        word = _STRIP.sub("", piece)
        if word:
            words.append((word, round(start, 3), round(end, 3)))
    segments = [(s, round(bounds.get(i, [0.0, 0.0])[0], 3), round(bounds.get(i, [0.0, span])[1], 3))
                for i, s in enumerate(sentences)]
    return words, segments


def _token_ids(text: str) -> list[int]:
    """The segment's token ids (Whisper's vocabulary is not shipped: o200k_base's, as the count is)."""
    return tokens.ids(" " + text)


def _segments(segments: list[tuple[str, float, float]], temperature: float) -> list[dict]:
    return [{"id": i, "seek": int(start * 100) // 3000 * 3000, "start": start, "end": end, "text": " " + text,
             "tokens": _token_ids(text), "temperature": temperature, "avg_logprob": -0.25,
             "compression_ratio": 1.25, "no_speech_prob": 0.01}
            for i, (text, start, end) in enumerate(segments)]


def _diarized(segments: list[tuple[str, float, float]], speakers: list[str]) -> list[dict]:
    """A segment a sentence, the speakers taking turns: the known speakers' names, else A and B."""
    names = speakers or ["A", "B"]
    return [{"type": "transcript.text.segment", "id": f"seg_{i:03d}", "start": start, "end": end, "text": text,
             "speaker": names[i % len(names)]} for i, (text, start, end) in enumerate(segments)]


def _logprobs(text: str) -> list[dict]:
    return [{k: e[k] for k in ("token", "logprob", "bytes")} for e in logprobs.entries(text)]


def _usage(model: str, seconds: float, text: str, prompt: str | None) -> dict:
    """The API's transcription usage: seconds for whisper-1, tokens for the gpt-4o models."""
    if model == _WHISPER:
        return {"type": "duration", "seconds": math.ceil(seconds)}
    audio_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
    text_tokens = tokens.count(prompt or "")
    output = tokens.count(text)
    return {"type": "tokens", "input_tokens": audio_tokens + text_tokens,
            "input_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens},
            "output_tokens": output, "total_tokens": audio_tokens + text_tokens + output}


def _stamp(seconds: float, comma: bool) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{',' if comma else '.'}{ms:03d}"


def _plain(fmt: str, text: str, segments: list[tuple[str, float, float]]) -> Reply:
    """`text`, `srt` or `vtt`: plain text, as the API sends it."""
    if fmt == "text":
        body = text + "\n"
    elif fmt == "srt":
        body = "".join(f"{i}\n{_stamp(s, True)} --> {_stamp(e, True)}\n{t}\n\n" for i, (t, s, e) in enumerate(segments, 1))
    else:
        body = "WEBVTT\n\n" + "".join(f"{_stamp(s, False)} --> {_stamp(e, False)}\n{t}\n\n" for t, s, e in segments)
    return Reply(200, body.encode(), {"content-type": "text/plain; charset=utf-8"})


def _json(call, type_name: str, body: dict, partial: dict) -> Reply:
    if partial:
        body = merge(body, partial)
    check(resolve(type_name), body, call.where)
    return Reply.json(200, body)


def _transcript_stream(call, model: str, text: str, segments, usage: dict, options: dict, language: str) -> StreamReply:
    """`transcript.text.delta` events (a diarized transcript's `transcript.text.segment` after each segment's),
    then `transcript.text.done` with the usage."""
    pace = call.pace
    events: list[Event] = []

    def deltas(piece_text: str, segment_id: str | None = None) -> None:
        for piece in pace.split(piece_text):
            event: dict[str, Any] = {"type": "transcript.text.delta", "delta": piece}
            if options["logprobs"]:
                event["logprobs"] = _logprobs(piece)
            if segment_id is not None:
                event["segment_id"] = segment_id
            events.append(Event(sse(event), content=True, text=piece))

    if model == _DIARIZE:
        for i, segment in enumerate(_diarized(segments, options["speakers"])):
            deltas(("" if i == 0 else " ") + segment["text"], segment["id"])
            events.append(Event(sse(segment)))
    else:
        deltas(text)
    done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
    if options["logprobs"]:
        done["logprobs"] = _logprobs(text)
    if model == "gpt-transcribe":
        done["languages"] = [{"code": language}]
    done["usage"] = usage
    return call.stream(events + [Event(sse(done))])


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "audio.speech.create": speech,
    "audio.transcriptions.create": transcription,
    "audio.translations.create": translation,
}
