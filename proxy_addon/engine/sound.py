"""Sound for the audio endpoints: speech-like PCM made from text, encoded in the API's formats, and the
duration of an uploaded file. Pure: bytes in, bytes out; nothing here knows the API.

The speech is not speech: each syllable of each word is a short voiced burst (a tone with a few
harmonics, faded in and out) at a pitch drawn from the word and the voice, words are parted by
silences, and punctuation adds pauses. It is deterministic (the same text, voice and speed give the
same bytes), lasts as long as the text would take read aloud at about 150 words a minute, divided by
`speed`, and is 24 kHz 16-bit mono, as the API's `pcm`.

It is made without NumPy and without a per-sample loop over the whole clip: a syllable is a whole
number of periods of its pitch, so it is its fade-in, one period repeated (`bytes * n`) and its
fade-out, each computed once per pitch and cached. A minute of speech takes about a millisecond.

Encoding: `wav` with the standard library's `wave`, `pcm` as it is, and `mp3`, `opus` (in Ogg),
`aac` (ADTS) and `flac` with PyAV (FFmpeg's encoders, bundled in its wheels), imported on first use.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import re
import struct
import sys
import threading
import wave
from array import array
from collections import OrderedDict
from fractions import Fraction

__all__ = ["RATE", "WORDS_PER_MINUTE", "speech", "encode", "seconds_of_pcm", "sniff", "duration", "Cache"]

#: Samples a second (the API's pcm: 24 kHz, 16-bit signed little-endian, mono).
RATE = 24_000
#: How fast the fake reads at speed 1.0.
WORDS_PER_MINUTE = 150

_AMPLITUDE = 0.32 * 32767
_HARMONICS = (1.0, 0.45, 0.2, 0.1)
_FADE_IN, _FADE_OUT = 3, 5  # periods
_LEAD, _TAIL = 0.05, 0.15  # seconds of silence around the speech
_VOICED = 0.8  # of a word's time; the rest is the silence after it

#: Each built-in voice's pitch (Hz): lower for onyx and echo, higher for shimmer and nova.
VOICE_PITCH = {
    "onyx": 95, "cedar": 105, "echo": 112, "ash": 122, "ballad": 130, "fable": 140, "verse": 150,
    "alloy": 160, "sage": 172, "marin": 185, "coral": 198, "nova": 212, "shimmer": 228,
}

# A word: one CJK character (those scripts put no spaces between words), or a run of anything else but spaces.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_WORDS = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_VOWELS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+", re.IGNORECASE)
_ALNUM = re.compile(r"\w", re.UNICODE)


def _syllables(word: str) -> int:
    """About how many syllables `word` takes to say: its vowel groups, or for a number or a word in a script
    without Latin vowels about one per two characters; 0 for punctuation alone."""
    letters = len(_ALNUM.findall(word))
    if not letters:
        return 0
    groups = len(_VOWELS.findall(word))
    return max(1, min(6, groups if groups else math.ceil(letters / 2)))


def _pause_after(word: str) -> float:
    """Seconds of pause a word's trailing punctuation adds."""
    end = word[-1:]
    if end in ".!?。！？":
        return 0.3
    if end in ",;:、，；：—":
        return 0.15
    return 0.0


def _pitch(voice: str) -> float:
    found = VOICE_PITCH.get(voice)
    if found is not None:
        return float(found)
    digest = hashlib.blake2b(voice.encode(), digest_size=2).digest()  # a custom voice: its own, stable pitch
    return 100.0 + int.from_bytes(digest, "big") % 130


@functools.lru_cache(maxsize=512)
def _burst_parts(period: int) -> tuple[bytes, bytes, bytes]:
    """(fade-in, one period, fade-out) of a tone whose period is `period` samples, as 16-bit PCM bytes."""
    wave_ = [sum(a * math.sin(2 * math.pi * (h + 1) * i / period) for h, a in enumerate(_HARMONICS)) for i in range(period)]
    peak = max(abs(v) for v in wave_) or 1.0
    unit = [v / peak * _AMPLITUDE for v in wave_]

    def faded(periods: int, rising: bool) -> bytes:
        n = periods * period
        gain = [0.5 - 0.5 * math.cos(math.pi * j / n) for j in range(n)]
        if not rising:
            gain.reverse()
        return _pcm(int(unit[j % period] * gain[j]) for j in range(n))

    return faded(_FADE_IN, True), _pcm(int(v) for v in unit), faded(_FADE_OUT, False)


def _pcm(samples) -> bytes:
    out = array("h", samples)
    if sys.byteorder == "big":  # the API's pcm is little-endian
        out.byteswap()
    return out.tobytes()


def _silence(samples: int) -> bytes:
    return b"\0\0" * max(0, samples)


def _hash_bytes(*parts: str) -> bytes:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()


def speech(text: str, voice: str, speed: float = 1.0) -> bytes:
    """Speech-like 24 kHz 16-bit mono PCM for `text` in `voice`: deterministic, about 150 words a minute at
    `speed` 1.0 (0.25 to 4.0 make it 4 times slower to 4 times faster)."""
    base_period = RATE / _pitch(voice)
    scale = RATE / speed  # samples per second of reading time
    out: list[bytes] = [_silence(round(_LEAD * RATE))]
    made = len(out[0]) // 2  # samples written so far
    due = float(made)  # where the timeline says we should be
    seconds_per_word = 60.0 / WORDS_PER_MINUTE
    words = _WORDS.findall(text)
    for index, word in enumerate(words):
        count = _syllables(word)
        if count:
            # About 0.4 s a word on average (English averages 1.5 syllables a word), longer words longer.
            word_time = seconds_per_word * (0.55 + 0.3 * count) * scale
            digest = _hash_bytes(voice, word.lower(), str(index % 7))
            final = _pause_after(word) >= 0.3 or index == len(words) - 1
            for s in range(count):
                due += word_time * _VOICED / count
                step = digest[s % len(digest)] % 8 - 2  # semitones over the voice's pitch, -2 to 5
                if final and s == count - 1:
                    step -= 3  # a falling end of a sentence
                period = max(40, round(base_period * 2 ** (-step / 12)))
                fade_in, one, fade_out = _burst_parts(period)
                periods = max(_FADE_IN + _FADE_OUT, round((due - made) / period))
                out += (fade_in, one * (periods - _FADE_IN - _FADE_OUT), fade_out)
                made += periods * period
            due += word_time * (1 - _VOICED)
        due += _pause_after(word) * scale
        if due > made:
            out.append(_silence(round(due - made)))
            made = round(due)
    out.append(_silence(round(_TAIL * RATE)))
    return b"".join(out)


def seconds_of_pcm(pcm: bytes) -> float:
    """How long 24 kHz 16-bit mono PCM lasts."""
    return len(pcm) / 2 / RATE


# -- encoding ------------------------------------------------------------------------------------

#: PyAV's (container, encoder, bit rate, encoder options) for each compressed format of the API. The options
#: trade a little quality for speed (an encode runs inside the call): LAME's -q 7, Opus' complexity 3, AAC's
#: fast coder at 32 kbit/s; each about halves the time, on this kind of sound.
_CODECS = {
    "mp3": ("mp3", "libmp3lame", 64_000, {"compression_level": "7"}),
    "opus": ("ogg", "libopus", 32_000, {"compression_level": "3"}),
    "aac": ("adts", "aac", 32_000, {"aac_coder": "fast"}),
    "flac": ("flac", "flac", None, {}),
}
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
#: G.711 for the Realtime API's telephony formats (`audio/pcmu`, `audio/pcma`): raw, 8 kHz, a byte a sample;
#: FFmpeg resamples and encodes. Not speech's formats.
_G711 = {"pcmu": ("mulaw", "pcm_mulaw"), "pcma": ("alaw", "pcm_alaw")}
G711_RATE = 8_000


def encode(pcm: bytes, fmt: str) -> bytes:
    """24 kHz 16-bit mono PCM as `fmt`: `pcm` (as it is), `wav`, `mp3`, `opus` (Ogg), `aac` (ADTS) or `flac`;
    or `pcmu` / `pcma`: G.711 µ-law / A-law at 8 kHz, as the Realtime API's telephony formats."""
    if fmt == "pcm":
        return pcm
    if fmt in _G711:
        return _encode_av(pcm, *_G711[fmt], None, {}, rate=G711_RATE) if pcm else b""
    if fmt == "wav":
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(pcm)
        return buffer.getvalue()
    container, codec, bit_rate, options = _CODECS[fmt]
    return _encode_av(pcm, container, codec, bit_rate, options)


def _encode_av(pcm: bytes, container: str, codec: str, bit_rate: int | None, options: dict[str, str],
               rate: int = RATE) -> bytes:
    import av  # about 0.1 s the first time; only the compressed formats need it

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono", options=options)  # another rate: PyAV resamples
        if bit_rate:
            stream.bit_rate = bit_rate
        step = RATE * 2 * 10  # 10 s a frame: the encoder's own frame size is PyAV's business
        for offset in range(0, len(pcm), step):
            piece = pcm[offset:offset + step]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(piece) // 2)
            frame.planes[0].update(piece)
            frame.sample_rate = RATE
            frame.time_base = Fraction(1, RATE)
            frame.pts = offset // 2
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


class Cache:
    """A least-recently-used cache of (bytes, what goes with them), bounded by the bytes' total size; thread-safe."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key) -> tuple | None:
        """The (data, extra) kept under `key`, or None."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key, data: bytes, extra=None) -> tuple:
        """Keep (data, extra) under `key`, dropping the least recently used past the budget; returns it."""
        item = (data, extra)
        if len(data) > self.budget // 4:  # one huge clip would push out everything else
            return item
        with self._lock:
            if key not in self._items:
                self._items[key] = item
                self._size += len(data)
                while self._size > self.budget:
                    _, (dropped, _) = self._items.popitem(last=False)
                    self._size -= len(dropped)
        return item


# -- uploads --------------------------------------------------------------------------------------

#: The upload formats the API takes, as the extensions it names.
UPLOAD_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
_MEDIA_TYPES = {
    "audio/flac": "flac", "audio/x-flac": "flac", "audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/m4a": "m4a",
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "video/mp4": "mp4", "video/mpeg": "mpeg", "audio/ogg": "ogg",
    "audio/opus": "ogg", "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/webm": "webm", "video/webm": "webm",
}


def sniff(data: bytes, filename: str | None, content_type: str | None) -> str | None:
    """The upload's format, as the API tells it: the file name's extension, else its media type, else its first
    bytes; None when it is none of `UPLOAD_FORMATS`."""
    ext = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if ext in UPLOAD_FORMATS:
        return ext
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _MEDIA_TYPES:
        return _MEDIA_TYPES[media]
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "mp3"  # an MPEG audio frame's sync word, its layer bits set (ADTS AAC has them clear)
    return None


def duration(data: bytes) -> float | None:
    """Seconds of audio in an uploaded file: a PCM WAV read with `wave`, anything else probed with PyAV (the
    container's duration, else the sum of its packets'); None when it cannot be read as audio."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as wav:
                return wav.getnframes() / wav.getframerate()
        except (wave.Error, EOFError, struct.error, ZeroDivisionError):
            pass  # not PCM (float, a compressed WAV): FFmpeg reads it
    try:
        import av

        with av.open(io.BytesIO(data)) as container:
            streams = container.streams.audio
            if not streams:
                return None
            if container.duration is not None and container.duration > 0:
                return container.duration / 1_000_000
            stream = streams[0]
            end = 0
            for packet in container.demux(stream):
                if packet.pts is not None and packet.duration is not None:
                    end = max(end, packet.pts + packet.duration)
            return float(end * stream.time_base) if end and stream.time_base else None
    except Exception:  # anything FFmpeg cannot read is not audio the API would take
        return None
