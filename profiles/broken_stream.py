"""Streams that break half-way: dropped connections, error events and stalls, then whole streams for the retry."""

from openai_fake import Profile

# Every stream stalls for 5 s after its 2nd chunk, then finishes, unless its rule
# says otherwise below. A client with a read timeout under 5 s gives up (APITimeoutError).
profile = Profile(stream={"stall_after": 2, "stall": 5.0})

# Chat: the first 2 streams lose their connection after 5 chunks, as on a flaky
# network; the SDK raises APIConnectionError. From the 3rd call on, streams are whole.
profile.chat.completions(
    stream={
        "chunk_delay": 0.05,  # seconds between chunks, so the break is visible
        "cut_after": 5,  # close the connection, unfinished, after 5 chunks
        "faulty": 2,  # only the rule's first 2 calls get the fault (leave out: every call)
    },
)

# Legacy completions: an error event after 3 chunks, in the stream's own format
# (`data: {"error": ...}`); the SDK raises APIError mid-iteration. Every time.
profile.completions(stream={"error_after": 3})
