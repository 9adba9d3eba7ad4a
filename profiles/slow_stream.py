"""Streams that take their time: a pause before the first word, then words at reading pace. Tests streaming UIs and timeouts."""

from openai_fake import Profile

# `stream=` paces every streamed reply (chat, completions, Responses, Assistants runs).
# Whole (non-streamed) replies are not slowed: see the `slow` profile for that.
profile = Profile(
    stream={
        "ttft": 1.0,  # seconds before the first word, as a model "thinks"
        "chunk_delay": 0.08,  # seconds between chunks: about 12 words a second
        "chunk": "word",  # what a chunk is: "word", "char", or a number of characters
    },
)

# A rule's own `stream=` wins over the profile's: chat types character by character.
profile.chat.completions(stream={"ttft": 0.5, "chunk_delay": 0.02, "chunk": "char"})
