"""Deterministic, helpful answers for every endpoint, no latency, no failures."""

from openai_fake import Profile

# Every knob has a sensible default, so an empty profile already answers:
# chat restates the user's last message, JSON schemas get a matching example,
# embeddings are stable unit vectors per input text.
profile = Profile(
    latency=0.0,  # seconds before every answer; a rule's own `latency` wins
    require_api_key=True,  # answer 401 without `Authorization: Bearer ...`, like the real API
)
