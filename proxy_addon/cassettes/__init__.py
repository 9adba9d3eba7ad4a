"""Record and replay: real traffic written once as a recording (a directory of small JSON files, keys
redacted), answered again from it, or turned into a profile module (issue 18; docs/guide/record-replay.md).

    from proxy_addon.cassettes import Cassette, Matching, Miss, Recorder, to_profile

    recorder = Recorder("cassettes/test_chat")                     # recording
    recorder.record(request, 200, headers, body)                    # a whole answer
    stream = recorder.stream(request, 200, headers); stream.feed(data); stream.finish()

    cassette = Cassette.load("cassettes/test_chat", Matching(ignore={"temperature"}))
    found = cassette.answer(request)                                # a Recorded, or a Miss
    source = to_profile("cassettes/test_chat")                      # a profile module's source

- `store`: the format on disk, atomic writes, reading;
- `redaction`: what is taken out before anything is written;
- `matching`: semantic matching of requests, and the differences a miss names;
- `replay`: `Cassette`, `Recorded`, `Miss`, stream pacing;
- `ids`: the ids a recording's answers minted, answered as fresh ones on replay and mapped back;
- `to_profile`: the profile module made from a recording.
"""

from __future__ import annotations

from .matching import DEFAULT_IGNORE, Difference, Matching
from .replay import MISS_CODE, Cassette, Chunk, Miss, Recorded, paced, stream_reply
from .store import FORMAT, Exchange, RealtimeRecording, Recorder, StreamRecording, clear, has_exchanges, read
from .to_profile import recorded, recorded_for, request_hash, to_profile

__all__ = [
    "Cassette", "Chunk", "DEFAULT_IGNORE", "Difference", "Exchange", "FORMAT", "MISS_CODE", "Matching", "Miss",
    "RealtimeRecording", "Recorded", "Recorder", "StreamRecording", "clear", "has_exchanges", "paced", "read",
    "recorded", "recorded_for", "request_hash", "stream_reply", "to_profile",
]
