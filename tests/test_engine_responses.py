"""The Responses API's default answers are valid SDK objects by construction.

The engine checks a response against the SDK's `Response` type only when a
profile shaped it (bench/engine.py: the check costs more than the building).
These tests are what stands behind "by construction": every kind of default
answer, and every stored input item, validates against the SDK's own types.
"""

from __future__ import annotations

import json

import pytest
from openai.types.responses import Response, ResponseItem
from pydantic import TypeAdapter

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request

AUTH = {"authorization": "Bearer sk-test-1234567890", "content-type": "application/json"}
WEATHER = {"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def create(engine: Engine, **body) -> dict:
    reply = engine.handle(Request("POST", "/v1/responses", AUTH, json.dumps({"model": "gpt-4o", **body}).encode()))
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


@pytest.mark.parametrize("body", [
    {"input": "Tell me a story"},
    {"input": [{"role": "user", "content": "Hi"}, {"role": "developer", "content": [{"type": "input_text", "text": "Be kind"}]}]},
    {"input": "Weather?", "tools": [WEATHER], "tool_choice": "required"},
    {"input": "Weather?", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}},
    {"input": "Give JSON", "text": {"format": {"type": "json_schema", "name": "answer", "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}}},
    {"input": "Give JSON", "text": {"format": {"type": "json_object"}}},
    {"input": "Think", "reasoning": {"effort": "low"}, "instructions": "Be brief", "metadata": {"k": "v"}},
    {"input": "Not stored", "store": False},
    {"input": "Later", "background": True},
])
def test_default_responses_validate(body):
    engine = Engine(Profile())
    data = create(engine, **body)
    Response.model_validate(data)
    if data["store"]:
        for item in input_items(engine, data["id"]):
            TypeAdapter(ResponseItem).validate_python(item)


def input_items(engine: Engine, response_id: str) -> list[dict]:
    reply = engine.handle(Request("GET", f"/v1/responses/{response_id}/input_items", AUTH, query={"limit": "100"}))
    assert reply.status == 200, reply.body
    return json.loads(reply.body)["data"]


def test_tool_round_trip_and_chain_validate():
    engine = Engine(Profile())
    first = create(engine, input="Weather in Paris?", tools=[WEATHER], tool_choice="required")
    call = first["output"][0]
    second = create(engine, previous_response_id=first["id"], tools=[WEATHER],
                    input=[{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}])
    Response.model_validate(second)
    assert "sunny" in second["output"][0]["content"][0]["text"]
    listed = input_items(engine, second["id"])
    assert [i["type"] for i in listed][:1] == ["function_call_output"] and len(listed) >= 3
    for item in listed:
        TypeAdapter(ResponseItem).validate_python(item)


def test_a_shaped_response_is_still_checked():
    profile = Profile()
    profile.responses(output=[{"type": "message", "content": 42}])
    reply = Engine(profile).handle(Request("POST", "/v1/responses", AUTH, b'{"model": "gpt-4o", "input": "x"}'))
    assert reply.status == 500 and "does not validate" in json.loads(reply.body)["error"]["message"]


def _sse_events(body: bytes) -> list[dict]:
    return [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]


def _streamed_body(reply) -> bytes:
    return b"".join(e.data for e in reply.events)


def test_a_stored_stream_replays_the_same_events_after_a_state_file_round_trip():
    engine = Engine(Profile())
    created = engine.handle(Request("POST", "/v1/responses", AUTH, b'{"model": "gpt-4o", "input": "Hi there", "stream": true}'))
    sent = _sse_events(_streamed_body(created))
    rid = sent[0]["response"]["id"]
    query = {"stream": "true", "starting_after": "3"}
    replay = engine.handle(Request("GET", f"/v1/responses/{rid}", AUTH, query=query))
    assert _sse_events(_streamed_body(replay)) == sent[4:]
    assert sum(e.content for e in replay.events) == sum(e["type"].endswith(".delta") for e in sent[4:]) > 0
    # What `run --state FILE` writes and reads back: JSON.
    restored = Engine(Profile())
    restored.state.restore(json.loads(json.dumps(engine.state.snapshot())))
    again = restored.handle(Request("GET", f"/v1/responses/{rid}", AUTH, query={"stream": "true"}))
    assert _sse_events(_streamed_body(again)) == sent
