"""The one lifecycle (engine/lifecycle.py) under every resource whose objects progress: runs, background
responses and vector-store files keep their behaviour by polls, and all take `progress=<seconds>`, `fail_at`
and `Engine.tick` the same way. Engine table tests, no sockets (the resources' own suites drive the SDK)."""

from __future__ import annotations

import json
import time

import pytest

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request
from proxy_addon.engine.resources import files

AUTH = {"authorization": "Bearer sk-test", "content-type": "application/json"}


def call(engine, method, path, body=None):
    reply = engine.handle(Request(method, path, AUTH, json.dumps(body).encode() if body is not None else b""))
    return reply.status, json.loads(reply.body) if reply.body else None


def _run(engine) -> tuple[str, str]:
    assistant = call(engine, "POST", "/v1/assistants", {"model": "gpt-4o"})[1]["id"]
    thread = call(engine, "POST", "/v1/threads", {"messages": [{"role": "user", "content": "hi"}]})[1]["id"]
    return thread, call(engine, "POST", f"/v1/threads/{thread}/runs", {"assistant_id": assistant})[1]["id"]


def test_a_run_fails_at_the_step_fail_at_names():
    profile = Profile()
    profile.beta.threads.runs(fail_at="outcome", fail_message="The model fell over.")
    engine = Engine(profile)
    thread, run = _run(engine)
    seen = [call(engine, "GET", f"/v1/threads/{thread}/runs/{run}")[1] for _ in range(3)]
    assert [r["status"] for r in seen] == ["in_progress", "failed", "failed"]
    assert seen[1]["last_error"] == {"code": "server_error", "message": "The model fell over."} and seen[1]["failed_at"]
    messages = call(engine, "GET", f"/v1/threads/{thread}/messages")[1]["data"]
    assert [m["role"] for m in messages] == ["user"]  # a failed run wrote no answer


def test_a_run_moves_by_time_on_tick_while_nobody_polls():
    profile = Profile()
    profile.beta.threads.runs(progress=0.05)
    engine = Engine(profile)
    thread, run = _run(engine)
    assert engine.state.get(f"threads/{thread}/runs", run)["status"] == "queued"
    time.sleep(0.2)
    engine.tick()
    assert engine.state.get(f"threads/{thread}/runs", run)["status"] == "completed"


def test_a_background_response_fails_at_fail_at_and_moves_by_time():
    profile = Profile()
    profile.responses(fail_at="done", fail_message="No answer today.")
    engine = Engine(profile)
    made = call(engine, "POST", "/v1/responses", {"model": "gpt-4o", "input": "hi", "background": True})[1]
    assert made["status"] == "queued"
    first, second = (call(engine, "GET", f"/v1/responses/{made['id']}")[1] for _ in range(2))
    assert (first["status"], second["status"]) == ("in_progress", "failed")
    assert second["error"] == {"code": "server_error", "message": "No answer today."} and second["output"] == []

    timed = Profile()
    timed.responses(progress=0.05)
    engine = Engine(timed)
    made = call(engine, "POST", "/v1/responses", {"model": "gpt-4o", "input": "hi", "background": True})[1]
    time.sleep(0.2)
    assert engine.tick() == 1
    assert engine.state.get("responses", made["id"])["status"] == "completed"
    assert engine.tick() == 0


@pytest.mark.parametrize("knobs, statuses", [
    ({"processing_reads": 2}, ["in_progress", "completed"]),  # by polls, as before
    ({"fail_at": "read"}, ["failed", "failed"]),
])
def test_vector_store_files_on_the_lifecycle(knobs, statuses):
    profile = Profile()
    profile.vector_stores(**knobs)
    engine = Engine(profile)
    files.store(engine.state, filename="a.txt", purpose="assistants", content=b"some text", file_id="file-a")
    store = call(engine, "POST", "/v1/vector_stores", {"name": "s"})[1]["id"]
    assert call(engine, "POST", f"/v1/vector_stores/{store}/files", {"file_id": "file-a"})[1]["status"] == "in_progress"
    seen = [call(engine, "GET", f"/v1/vector_stores/{store}/files/file-a")[1] for _ in range(2)]
    assert [f["status"] for f in seen] == statuses
    if statuses[0] == "failed":
        assert seen[0]["last_error"]["code"] == "server_error"


def test_vector_store_files_complete_by_time():
    profile = Profile()
    profile.vector_stores(progress=0.05)
    engine = Engine(profile)
    files.store(engine.state, filename="a.txt", purpose="assistants", content=b"some text", file_id="file-a")
    store = call(engine, "POST", "/v1/vector_stores", {"name": "s"})[1]["id"]
    call(engine, "POST", f"/v1/vector_stores/{store}/files", {"file_id": "file-a"})
    assert call(engine, "GET", f"/v1/vector_stores/{store}/files/file-a")[1]["status"] == "in_progress"  # too soon
    time.sleep(0.2)
    engine.tick()
    assert engine.state.get(f"vector_stores/{store}/files", "file-a")["status"] == "completed"


def test_a_bad_lifecycle_knob_is_refused_when_the_profile_loads():
    with pytest.raises(ValueError, match=r"batches\(progress=...\) should be 'polls' or a valid number"):
        Profile().batches(progress="sometimes")
    with pytest.raises(ValueError, match="time_scale"):
        Profile().responses(time_scale=0)
