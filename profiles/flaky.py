"""Rate limits and server errors your app's retries must survive; every answer arrives in the end."""

from openai_fake import OpenAIError, Profile

profile = Profile()

# The first 2 chat calls answer 429 with `retry-after: 0.5`; the third succeeds.
# The SDKs retry twice by default, so one `create()` call sees 3 calls and succeeds.
profile.chat.completions(
    failures=2,  # how many calls fail before the route answers normally
    failure_status=429,  # any 4xx/5xx; 429 and 5xx are the ones the SDKs retry
    retry_after=0.5,  # seconds, sent as `retry-after-ms` and `retry-after`
)

# One 503 before embeddings work: no `retry_after`, so clients back off on their own.
profile.embeddings(failures=1, failure_status=503)


# A handler decides per call. It gets the request and the fake's state, and
# returns a partial answer, a string (the message content), None (the
# default answer) or an OpenAIError. Here every 5th legacy completion fails.
@profile.completions
def every_fifth_fails(request, state):
    if state.call_count("completions") % 5 == 0:
        raise OpenAIError(502, "Bad gateway (openai-fake: every 5th call fails)")
    return None
