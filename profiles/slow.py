"""A slow API: every answer waits, and chat waits longest. Tests timeouts and spinners."""

from openai_fake import Profile

# `latency` never blocks the fake: 100 concurrent calls of 2 s take about 2 s.
profile = Profile(latency=0.5)  # seconds before every answer

profile.chat.completions(latency=2.0)  # a rule's own latency wins over the profile's
profile.completions(latency=2.0)
profile.embeddings(latency=1.0)
