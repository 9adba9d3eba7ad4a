"""The stream schedule, in-process: pace and faults laid over a stream's events (no sockets)."""

from __future__ import annotations

import pytest

from proxy_addon import Profile
from proxy_addon.engine.streams import CONTENT, CUT, ERROR, FRAME, Event, Pace, StreamReply, schedule


def _reply(pace: Pace, deltas: int = 3) -> StreamReply:
    events = [Event(b"head")] + [Event(f"d{i}".encode(), content=True) for i in range(deltas)] + [Event(b"tail")]
    return StreamReply(200, b"", events=events, pace=pace)


def test_ttft_before_the_first_delta_and_chunk_delay_between_deltas():
    steps = list(schedule(_reply(Pace(ttft=0.3, chunk_delay=0.1))))
    assert steps == [(0.0, b"head", FRAME), (0.3, b"d0", CONTENT), (0.1, b"d1", CONTENT), (0.1, b"d2", CONTENT),
                     (0.0, b"tail", FRAME)]


def test_a_stream_without_deltas_waits_ttft_once():
    reply = StreamReply(200, b"", events=[Event(b"a"), Event(b"b")], pace=Pace(ttft=0.2, chunk_delay=0.1))
    assert [w for w, _, _ in schedule(reply)] == [0.2, 0.0]


def test_cut_after_k():
    assert [k for _, _, k in schedule(_reply(Pace(cut_after=2)))] == [FRAME, CONTENT, CONTENT, CUT]
    assert [k for _, _, k in schedule(_reply(Pace(cut_after=0)))] == [FRAME, CUT]
    # More than the stream has: the stream is cut before its end is confirmed.
    assert [k for _, _, k in schedule(_reply(Pace(cut_after=9)))][-2:] == [FRAME, CUT]


def test_error_event_after_k_uses_the_formats_encoder():
    reply = _reply(Pace(error_after=1))
    reply.error_event = lambda err, seq: f"E{seq}:{err.message}".encode()
    *_, (wait, data, kind) = schedule(reply)
    assert kind == ERROR and data == b"E2:openai-fake: simulated stream error after 1 chunk"


def test_default_error_event_is_the_chat_shape():
    *_, (_, data, kind) = schedule(_reply(Pace(error_after=0)))
    assert data.startswith(b'data: {"error":{"message":"openai-fake: simulated stream error after 0 chunks"')


def test_stall_is_added_once_after_k_deltas():
    waits = [w for w, _, _ in schedule(_reply(Pace(chunk_delay=0.1, stall_after=1, stall=2.0)))]
    assert waits == [0.0, 0.0, 2.1, 0.1, 0.0]
    at_end = [w for w, _, _ in schedule(_reply(Pace(stall_after=3, stall=1.0)))]
    assert at_end == [0.0, 0.0, 0.0, 0.0, 1.0]  # after the last delta: before the closing events


@pytest.mark.parametrize("chunk, text, pieces", [
    ("word", "Hello big  world ", ["Hello", " big", "  world "]),
    ("word", "  ", ["  "]),
    ("char", "abc", ["a", "b", "c"]),
    (2, "abcde", ["ab", "cd", "e"]),
    ("word", "", []),
])
def test_split_keeps_every_character(chunk, text, pieces):
    assert Pace(chunk=chunk).split(text) == pieces


def test_faulty_gives_later_calls_a_whole_stream():
    from proxy_addon.engine import Call, Request, State

    profile = Profile()
    profile.chat.completions(stream={"cut_after": 1, "chunk_delay": 0.1, "faulty": 1})
    rule = profile.rules["chat.completions"]
    first = Call(Request("POST", "/v1/chat/completions"), rule, State(), profile, number=1).pace
    second = Call(Request("POST", "/v1/chat/completions"), rule, State(), profile, number=2).pace
    assert first.cut_after == 1 and second.cut_after is None and second.chunk_delay == 0.1


def test_pace_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="stall_after needs stall"):
        Pace.of({"stall_after": 1})
    with pytest.raises(ValueError, match="cut_after must be an integer"):
        Pace.of({"cut_after": -1})
    with pytest.raises(TypeError, match="takes a dict"):
        Pace.of(0.3)


def test_a_bad_stream_knob_in_a_profile_file_names_its_line(tmp_path):
    from proxy_addon.profile import ProfileError, load

    path = tmp_path / "bad.py"
    path.write_text('from proxy_addon import Profile\nprofile = Profile()\nprofile.chat.completions(stream={"ttft": "slow"})\n')
    with pytest.raises(ProfileError, match=r"bad.py:3: ValueError: stream ttft must be a number of seconds"):
        load(str(path))


async def test_the_relay_counts_ttft_from_the_due_moment_it_is_given():
    """A stream due 0.3 s ago with ttft 0.4 sends its first delta about 0.1 s after it is fetched;
    without a due moment (the negative control), 0.4 s after."""
    import asyncio
    import time

    import httpx2

    from proxy_addon.relay import TOKEN_HEADER, Relay

    relay = Relay()
    await relay.start()
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}", trust_env=False) as client:
            async def first_delta(due) -> float:
                token = relay.offer(_reply(Pace(ttft=0.4)), due=due)
                started = time.monotonic()
                async with client.stream("GET", "/", headers={TOKEN_HEADER: token}) as response:
                    async for chunk in response.aiter_bytes():
                        if b"d0" in chunk:
                            return time.monotonic() - started
                raise AssertionError("no delta")

            anchored = await first_delta(asyncio.get_running_loop().time() - 0.3)
            unanchored = await first_delta(None)
    finally:
        await relay.stop()
    assert 0.05 <= anchored <= 0.25, anchored
    assert 0.35 <= unanchored <= 0.6, unanchored
