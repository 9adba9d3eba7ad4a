"""Batches that run: the real SDK uploads a JSONL file, makes a batch, polls it and reads its output and
error files back, through both faces."""

from __future__ import annotations

import io
import json
import time

import pytest

from proxy_addon import OpenAIError, Profile
from proxy_addon.engine import Engine, Request

_TERMINAL = ("completed", "failed", "expired", "cancelled")


@pytest.fixture(params=["proxy", "base-url"])
def sdk(request):
    """The SDK client of each face."""
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


def _jsonl(lines: list[dict]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _chat_lines(n: int, *, model: str = "gpt-4o-mini", url: str = "/v1/chat/completions") -> list[dict]:
    return [{"custom_id": f"request-{i}", "method": "POST", "url": url,
             "body": {"model": model, "messages": [{"role": "user", "content": f"Question {i}"}]}} for i in range(n)]


def _upload(sdk, content: bytes, name: str = "batch.jsonl") -> str:
    return sdk.files.create(file=(name, io.BytesIO(content)), purpose="batch").id


def _wait(sdk, batch_id: str, polls: int = 20):
    seen = []
    for _ in range(polls):
        batch = sdk.batches.retrieve(batch_id)
        seen.append(batch.status)
        if batch.status in _TERMINAL:
            return batch, seen
    raise AssertionError(f"batch {batch_id} never ended: {seen}")


def _lines(sdk, file_id: str) -> list[dict]:
    return [json.loads(line) for line in sdk.files.content(file_id).text.splitlines()]


def test_a_batch_of_100_chat_lines_runs_through_the_profile_with_two_failing_lines(sdk, use_profile):
    profile = Profile()

    @profile.chat.completions
    def answer(request, state):
        said = request.json["messages"][0]["content"]
        if said in ("Question 13", "Question 77"):
            raise OpenAIError(429, f"Rate limit reached for {said}", type="requests", code="rate_limit_exceeded")
        return f"Answer to {said}"

    use_profile(profile)
    input_file = _upload(sdk, _jsonl(_chat_lines(100)))
    batch = sdk.batches.create(input_file_id=input_file, endpoint="/v1/chat/completions", completion_window="24h",
                               metadata={"job": "nightly"})
    assert (batch.status, batch.request_counts.total, batch.output_file_id) == ("validating", 0, None)
    done, seen = _wait(sdk, batch.id)
    assert seen == ["in_progress", "finalizing", "completed"]
    assert done.request_counts.model_dump() == {"total": 100, "completed": 98, "failed": 2}
    assert done.model == "gpt-4o-mini" and done.metadata == {"job": "nightly"}
    assert done.created_at <= done.in_progress_at <= done.finalizing_at <= done.completed_at
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens

    outputs = _lines(sdk, done.output_file_id)
    assert len(outputs) == 98 and len({o["id"] for o in outputs}) == 98
    by_id = {o["custom_id"]: o for o in outputs}
    first = by_id["request-0"]
    assert first["error"] is None and first["id"].startswith("batch_req_")
    assert first["response"]["status_code"] == 200 and first["response"]["request_id"].startswith("req_")
    assert first["response"]["body"]["object"] == "chat.completion"
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "Answer to Question 0"

    failures = _lines(sdk, done.error_file_id)
    assert sorted(f["custom_id"] for f in failures) == ["request-13", "request-77"]
    assert all(f["response"]["status_code"] == 429 and f["response"]["body"]["error"]["code"] == "rate_limit_exceeded"
               for f in failures)
    output_file = sdk.files.retrieve(done.output_file_id)
    assert output_file.purpose == "batch_output" and output_file.filename == f"{batch.id}_output.jsonl"
    assert [b.id for b in sdk.batches.list()] == [batch.id]


def test_the_profiles_failures_fail_the_first_lines_into_the_error_file(base_client, use_profile):
    profile = Profile()
    profile.embeddings(failures=2)
    use_profile(profile)
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "text-embedding-3-small", "input": f"text {i}"}} for i in range(5)]
    batch = base_client.batches.create(input_file_id=_upload(base_client, _jsonl(lines)), endpoint="/v1/embeddings",
                                       completion_window="24h")
    done, _ = _wait(base_client, batch.id)
    assert done.request_counts.model_dump() == {"total": 5, "completed": 3, "failed": 2}
    assert [f["custom_id"] for f in _lines(base_client, done.error_file_id)] == ["e0", "e1"]
    embedded = _lines(base_client, done.output_file_id)
    assert [o["response"]["body"]["data"][0]["object"] for o in embedded] == ["embedding"] * 3


def test_cancel_goes_through_cancelling_and_keeps_the_lines_answered_so_far(sdk, use_profile):
    profile = Profile()
    profile.batches(lines_per_step=10)
    use_profile(profile)
    batch = sdk.batches.create(input_file_id=_upload(sdk, _jsonl(_chat_lines(30))), endpoint="/v1/chat/completions",
                               completion_window="24h")
    assert sdk.batches.retrieve(batch.id).status == "in_progress"
    partway = sdk.batches.retrieve(batch.id)  # the first 10 lines answered
    assert (partway.status, partway.request_counts.completed) == ("in_progress", 10)
    cancelling = sdk.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    with pytest.raises(Exception) as refused:
        sdk.batches.cancel(batch.id)
    assert getattr(refused.value, "status_code", None) == 409
    cancelled = sdk.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert cancelled.request_counts.model_dump() == {"total": 30, "completed": 10, "failed": 20}
    assert [o["custom_id"] for o in _lines(sdk, cancelled.output_file_id)] == [f"request-{i}" for i in range(10)]
    rest = _lines(sdk, cancelled.error_file_id)
    assert len(rest) == 20 and {r["error"]["code"] for r in rest} == {"batch_cancelled"} and rest[0]["response"] is None


@pytest.mark.parametrize("content, codes, lines", [
    (b"this is not json\n", ["invalid_json_line"], [1]),
    (_jsonl(_chat_lines(2, url="/v1/embeddings")), ["url_mismatch", "url_mismatch"], [1, 2]),
    (_jsonl(_chat_lines(2) + _chat_lines(1)), ["duplicate_custom_id"], [3]),
    (_jsonl(_chat_lines(1) + [dict(_chat_lines(2, model="gpt-4o")[1])]), ["model_mismatch"], [2]),
    (b"", ["empty_file"], [None]),
])
def test_a_bad_input_file_fails_the_batch_with_the_apis_errors(base_client, use_profile, content, codes, lines):
    use_profile(Profile())
    batch = base_client.batches.create(input_file_id=_upload(base_client, content), endpoint="/v1/chat/completions",
                                       completion_window="24h")
    failed = base_client.batches.retrieve(batch.id)
    assert failed.status == "failed" and failed.failed_at is not None and failed.output_file_id is None
    assert [e.code for e in failed.errors.data] == codes
    assert [e.line for e in failed.errors.data] == lines
    assert all(e.message for e in failed.errors.data)


def test_a_missing_input_file_and_too_many_lines_fail_the_batch(base_client, use_profile):
    profile = Profile()
    profile.batches(max_lines=3)
    use_profile(profile)
    missing = base_client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
    failed = base_client.batches.retrieve(missing.id)
    assert failed.status == "failed" and failed.errors.data[0].param == "input_file_id"
    many = base_client.batches.create(input_file_id=_upload(base_client, _jsonl(_chat_lines(4))),
                                      endpoint="/v1/chat/completions", completion_window="24h")
    assert [e.code for e in base_client.batches.retrieve(many.id).errors.data] == ["too_many_tasks"]


def test_a_bad_create_is_the_apis_400(base_client, use_profile):
    use_profile(Profile())
    import openai

    with pytest.raises(openai.BadRequestError) as bad:
        base_client.batches.create(input_file_id="file-1", endpoint="/v1/nowhere", completion_window="24h")
    assert bad.value.body["param"] == "endpoint"
    with pytest.raises(openai.BadRequestError) as bad:
        base_client.batches.create(input_file_id="file-1", endpoint="/v1/chat/completions", completion_window="1h")
    assert bad.value.body["param"] == "completion_window"
    with pytest.raises(openai.NotFoundError):
        base_client.batches.retrieve("batch_nope")


def test_a_batch_expires_by_its_window_on_the_fakes_clock(base_client, use_profile):
    profile = Profile()
    profile.batches(time_scale=2_000_000)  # 24 h pass in about 43 ms
    use_profile(profile)
    batch = base_client.batches.create(input_file_id=_upload(base_client, _jsonl(_chat_lines(3))),
                                       endpoint="/v1/chat/completions", completion_window="24h")
    assert base_client.batches.retrieve(batch.id).status == "in_progress"
    time.sleep(0.1)
    expired = base_client.batches.retrieve(batch.id)
    assert expired.status == "expired" and expired.expired_at >= expired.expires_at
    assert expired.request_counts.failed == 3
    assert {r["error"]["code"] for r in _lines(base_client, expired.error_file_id)} == {"batch_expired"}


def test_fail_at_fails_the_batch_at_that_step(base_client, use_profile):
    profile = Profile()
    profile.batches(fail_at="finalizing", fail_message="The batch ran out of luck.")
    use_profile(profile)
    batch = base_client.batches.create(input_file_id=_upload(base_client, _jsonl(_chat_lines(2))),
                                       endpoint="/v1/chat/completions", completion_window="24h")
    done, seen = _wait(base_client, batch.id)
    assert seen == ["in_progress", "failed"]
    assert done.errors.data[0].message == "The batch ran out of luck."


def test_progress_by_time_moves_a_batch_nobody_polls(use_profile):
    profile = Profile()
    profile.batches(progress=0.05)
    engine = Engine(profile)
    auth = {"authorization": "Bearer sk-test", "content-type": "application/json"}
    from proxy_addon.engine.resources import files

    files.store(engine.state, filename="in.jsonl", purpose="batch", content=_jsonl(_chat_lines(2)), file_id="file-in")
    made = engine.handle(Request("POST", "/v1/batches", auth, json.dumps(
        {"input_file_id": "file-in", "endpoint": "/v1/chat/completions", "completion_window": "24h"}).encode())).payload
    assert engine.tick() == 1
    assert engine.state.get("batches", made["id"])["status"] == "validating"  # not yet: 50 ms a step
    time.sleep(0.25)
    engine.tick()
    done = engine.state.get("batches", made["id"])
    assert done["status"] == "completed" and done["request_counts"]["completed"] == 2
    assert engine.tick() == 0  # nothing left to move


def test_the_running_fake_moves_a_batch_by_time_while_nobody_polls(fake, base_client, use_profile):
    profile = Profile()
    profile.batches(progress=0.05)
    use_profile(profile)
    batch = base_client.batches.create(input_file_id=_upload(base_client, _jsonl(_chat_lines(2))),
                                       endpoint="/v1/chat/completions", completion_window="24h")
    deadline = time.monotonic() + 10
    while fake.engine.state.get("batches", batch.id)["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)  # looking at the state, not polling the API
    assert fake.engine.state.get("batches", batch.id)["status"] == "completed"
    assert base_client.batches.retrieve(batch.id).request_counts.completed == 2


def test_a_sequence_sets_the_statuses_a_poller_sees(base_client, use_profile):
    profile = Profile()
    profile.batches(sequence=["in_progress", "in_progress", "in_progress", "completed"])
    use_profile(profile)
    batch = base_client.batches.create(input_file_id=_upload(base_client, _jsonl(_chat_lines(3))),
                                       endpoint="/v1/chat/completions", completion_window="24h")
    done, seen = _wait(base_client, batch.id)
    assert seen == ["in_progress", "in_progress", "in_progress", "completed"]
    assert done.request_counts.completed == 3 and len(_lines(base_client, done.output_file_id)) == 3

    profile = Profile()
    profile.batches(sequence=["expired"])
    use_profile(profile)
    batch = base_client.batches.create(input_file_id=_upload(base_client, _jsonl(_chat_lines(2))),
                                       endpoint="/v1/chat/completions", completion_window="24h")
    expired = base_client.batches.retrieve(batch.id)
    assert expired.status == "expired" and expired.request_counts.failed == 2
