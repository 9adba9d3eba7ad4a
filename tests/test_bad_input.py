"""Bad input gets the real API's 400, never a 500 and never a silent 200 (issue 12).

Three parts:

- a table: each bad body -> exactly 400, `invalid_request_error`, and the `param` the real API names;
- the real `openai` SDK through a running fake (base-URL face and proxy face): `openai.BadRequestError`;
- a bounded, deterministic fuzz of the JSON endpoints: every mutation of a valid body is answered
  with something other than a 5xx, and every error is OpenAI-shaped.
"""

from __future__ import annotations

import copy
import json
import time

import openai
import pytest

from proxy_addon.engine import Engine, Request

AUTH = {"authorization": "Bearer sk-test-1234567890", "content-type": "application/json"}
M = [{"role": "user", "content": "hi"}]
CHAT = {"model": "gpt-4o", "messages": M}
RESP = {"model": "gpt-4o", "input": "hi"}
EMB = {"model": "text-embedding-3-small"}
FN = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
JSON_SCHEMA = {"type": "json_schema"}  # without its `json_schema`


def call(engine: Engine, method: str, path: str, body) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = engine.handle(Request(method, path, AUTH, raw))
    return reply.status, json.loads(reply.body)


@pytest.fixture
def world():
    """A fresh engine with one of each object the paths below need."""
    engine = Engine()
    ids = {
        "asst": call(engine, "POST", "/v1/assistants", {"model": "gpt-4o"})[1]["id"],
        "thread": call(engine, "POST", "/v1/threads", {})[1]["id"],
        "conv": call(engine, "POST", "/v1/conversations", {})[1]["id"],
        "upload": call(engine, "POST", "/v1/uploads", {"filename": "a.txt", "purpose": "assistants", "bytes": 1,
                                                       "mime_type": "text/plain"})[1]["id"],
    }
    return engine, ids


ASST = {"model": "gpt-4o"}
RUN = {"assistant_id": "{asst}"}
MSG = {"role": "user", "content": "hi"}

# (id, path, body, param): each must be answered 400 invalid_request_error naming `param`.
CASES = [
    # response_format {"type": "json_schema"} without a json_schema, wherever response_format is accepted
    ("asst-json-schema-missing", "/v1/assistants", {**ASST, "response_format": JSON_SCHEMA}, "response_format.json_schema"),
    ("asst-update-json-schema", "/v1/assistants/{asst}", {"response_format": JSON_SCHEMA}, "response_format.json_schema"),
    ("thread-run-json-schema", "/v1/threads/runs", {**RUN, "response_format": JSON_SCHEMA}, "response_format.json_schema"),
    ("run-json-schema", "/v1/threads/{thread}/runs", {**RUN, "response_format": JSON_SCHEMA}, "response_format.json_schema"),
    ("chat-json-schema-missing", "/v1/chat/completions", {**CHAT, "response_format": JSON_SCHEMA}, "response_format.json_schema"),
    ("chat-json-schema-array", "/v1/chat/completions",
     {**CHAT, "response_format": {"type": "json_schema", "json_schema": [None]}}, "response_format.json_schema"),
    ("chat-json-schema-null", "/v1/chat/completions",
     {**CHAT, "response_format": {"type": "json_schema", "json_schema": None}}, "response_format.json_schema"),
    ("chat-json-schema-no-name", "/v1/chat/completions",
     {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, "response_format.json_schema.name"),
    ("chat-json-schema-schema-list", "/v1/chat/completions",
     {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": [1]}}},
     "response_format.json_schema.schema"),
    ("chat-response-format-type", "/v1/chat/completions", {**CHAT, "response_format": {"type": "xml"}}, "response_format.type"),
    ("chat-response-format-string", "/v1/chat/completions", {**CHAT, "response_format": "json"}, "response_format"),
    ("run-response-format-type", "/v1/threads/{thread}/runs", {**RUN, "response_format": {"type": 5}}, "response_format.type"),
    # tools: an unknown type, a non-object, a function without its name
    ("chat-tool-type", "/v1/chat/completions", {**CHAT, "tools": [{"type": "nope"}]}, "tools[0].type"),
    ("responses-tool-type", "/v1/responses", {**RESP, "tools": [{"type": "nope"}]}, "tools[0].type"),
    ("asst-tool-type", "/v1/assistants", {**ASST, "tools": [{"type": "nope"}]}, "tools[0].type"),
    ("run-tool-type", "/v1/threads/{thread}/runs", {**RUN, "tools": [{"type": "nope"}]}, "tools[0].type"),
    ("thread-run-tool-type", "/v1/threads/runs", {**RUN, "tools": [{"type": "nope"}]}, "tools[0].type"),
    ("chat-tool-int", "/v1/chat/completions", {**CHAT, "tools": [1]}, "tools[0]"),
    ("responses-tool-int", "/v1/responses", {**RESP, "tools": [1]}, "tools[0]"),
    ("asst-tool-int", "/v1/assistants", {**ASST, "tools": [1]}, "tools[0]"),
    ("chat-tools-object", "/v1/chat/completions", {**CHAT, "tools": {"type": "function"}}, "tools"),
    ("chat-tool-function-name", "/v1/chat/completions", {**CHAT, "tools": [{"type": "function", "function": {}}]},
     "tools[0].function.name"),
    ("chat-tool-function-list", "/v1/chat/completions", {**CHAT, "tools": [{"type": "function", "function": [1]}]},
     "tools[0].function"),
    ("chat-tool-parameters", "/v1/chat/completions",
     {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}, "tools[0].function.parameters"),
    ("asst-tool-function-name", "/v1/assistants", {**ASST, "tools": [{"type": "function", "function": {"name": 5}}]},
     "tools[0].function.name"),
    ("responses-tool-no-name", "/v1/responses", {**RESP, "tools": [{"type": "function"}]}, "tools[0]"),
    ("responses-file-search-ids", "/v1/responses", {**RESP, "tools": [{"type": "file_search", "vector_store_ids": [{}]}]},
     "tools[0]"),  # the SDK type's detail is in the message
    ("run-tools-too-many", "/v1/threads/{thread}/runs", {**RUN, "tools": [{"type": "code_interpreter"}] * 21}, "tools"),
    # sampling parameters: types and ranges
    ("chat-temperature-string", "/v1/chat/completions", {**CHAT, "temperature": "x"}, "temperature"),
    ("chat-temperature-99", "/v1/chat/completions", {**CHAT, "temperature": 99}, "temperature"),
    ("chat-temperature-negative", "/v1/chat/completions", {**CHAT, "temperature": -0.1}, "temperature"),
    ("chat-temperature-bool", "/v1/chat/completions", {**CHAT, "temperature": True}, "temperature"),
    ("chat-top-p", "/v1/chat/completions", {**CHAT, "top_p": 1.5}, "top_p"),
    ("chat-presence", "/v1/chat/completions", {**CHAT, "presence_penalty": 3}, "presence_penalty"),
    ("chat-frequency", "/v1/chat/completions", {**CHAT, "frequency_penalty": -2.5}, "frequency_penalty"),
    ("chat-n-high", "/v1/chat/completions", {**CHAT, "n": 129}, "n"),
    ("chat-n-zero", "/v1/chat/completions", {**CHAT, "n": 0}, "n"),
    ("chat-max-tokens", "/v1/chat/completions", {**CHAT, "max_tokens": -5}, "max_tokens"),
    ("chat-max-completion-tokens", "/v1/chat/completions", {**CHAT, "max_completion_tokens": 0}, "max_completion_tokens"),
    ("chat-max-tokens-string", "/v1/chat/completions", {**CHAT, "max_tokens": "5"}, "max_tokens"),
    ("chat-top-logprobs", "/v1/chat/completions", {**CHAT, "logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ("responses-temperature", "/v1/responses", {**RESP, "temperature": 99}, "temperature"),
    ("responses-temperature-string", "/v1/responses", {**RESP, "temperature": "x"}, "temperature"),
    ("responses-top-p", "/v1/responses", {**RESP, "top_p": -1}, "top_p"),
    ("responses-max-output-tokens", "/v1/responses", {**RESP, "max_output_tokens": 5}, "max_output_tokens"),
    ("asst-temperature-string", "/v1/assistants", {**ASST, "temperature": "x"}, "temperature"),
    ("asst-temperature-99", "/v1/assistants", {**ASST, "temperature": 99}, "temperature"),
    ("asst-top-p", "/v1/assistants", {**ASST, "top_p": 2}, "top_p"),
    ("run-temperature-string", "/v1/threads/{thread}/runs", {**RUN, "temperature": "x"}, "temperature"),
    ("run-temperature-99", "/v1/threads/{thread}/runs", {**RUN, "temperature": 99}, "temperature"),
    ("run-max-completion-tokens", "/v1/threads/{thread}/runs", {**RUN, "max_completion_tokens": 10}, "max_completion_tokens"),
    ("completions-temperature", "/v1/completions", {"model": "x", "prompt": "a", "temperature": 3}, "temperature"),
    # tool_resources' vector_store_ids
    ("asst-vector-store-ids", "/v1/assistants",
     {**ASST, "tool_resources": {"file_search": {"vector_store_ids": [{}]}}}, "tool_resources.file_search.vector_store_ids[0]"),
    ("thread-vector-store-ids", "/v1/threads",
     {"tool_resources": {"file_search": {"vector_store_ids": [{}]}}}, "tool_resources.file_search.vector_store_ids[0]"),
    ("thread-run-vector-store-ids", "/v1/threads/runs",
     {**RUN, "tool_resources": {"file_search": {"vector_store_ids": [{}]}}}, "tool_resources.file_search.vector_store_ids[0]"),
    ("asst-tool-resources-list", "/v1/assistants", {**ASST, "tool_resources": [1]}, "tool_resources"),
    # attachments and messages
    ("message-attachments-null", "/v1/threads/{thread}/messages", {**MSG, "attachments": [None]}, "attachments[0]"),
    ("message-attachments-object", "/v1/threads/{thread}/messages", {**MSG, "attachments": {}}, "attachments"),
    ("message-attachment-tool", "/v1/threads/{thread}/messages",
     {**MSG, "attachments": [{"file_id": "f", "tools": [{"type": "nope"}]}]}, "attachments[0].tools[0].type"),
    ("thread-message-attachments", "/v1/threads", {"messages": [{**MSG, "attachments": [None]}]}, "messages[0].attachments[0]"),
    ("thread-messages-int", "/v1/threads", {"messages": [5]}, "messages[0]"),
    ("thread-run-messages-int", "/v1/threads/runs", {**RUN, "thread": {"messages": [5]}}, "thread.messages[0]"),
    ("run-additional-messages-int", "/v1/threads/{thread}/runs", {**RUN, "additional_messages": [5]}, "additional_messages[0]"),
    ("message-content-text-null", "/v1/threads/{thread}/messages",
     {"role": "user", "content": [{"type": "text", "text": None}]}, "content[0].text"),
    ("chat-message-role-object", "/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": {}}]}, "messages[0].role"),
    ("chat-message-content-int", "/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]},
     "messages[0].content"),
    ("chat-message-text-part", "/v1/chat/completions",
     {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages[0].content[0].text"),
    ("chat-message-tool-call-function", "/v1/chat/completions",
     {"model": "gpt-4o", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": 5}]}]},
     "messages[0].tool_calls[0].function"),
    # conversation and Responses input items
    ("conversation-item-type", "/v1/conversations", {"items": [{"type": {}}]}, "items[0].type"),
    ("conversation-items-item-type", "/v1/conversations/{conv}/items", {"items": [{"type": {}}]}, "items[0].type"),
    ("responses-input-type", "/v1/responses", {**RESP, "input": [{"type": {}}]}, "input[0].type"),
    ("input-tokens-model", "/v1/responses/input_tokens", {"model": {}}, "model"),
    ("input-tokens-input-type", "/v1/responses/input_tokens", {"input": [{"type": {}}]}, "input[0].type"),
    ("input-tokens-tool-type", "/v1/responses/input_tokens", {"input": "hi", "tools": [{"type": "nope"}]}, "tools[0].type"),
    # uploads
    ("upload-part-ids-nested", "/v1/uploads/{upload}/complete", {"part_ids": [["x"]]}, "part_ids[0]"),
    ("upload-md5", "/v1/uploads/{upload}/complete", {"part_ids": [], "md5": 5}, "md5"),
    # sizes the client controls: embeddings, legacy completions, moderations
    ("embeddings-2049", "/v1/embeddings", {**EMB, "input": ["a"] * 2049}, "input"),
    ("embeddings-empty-string", "/v1/embeddings", {**EMB, "input": ""}, "input"),
    ("embeddings-empty-item", "/v1/embeddings", {**EMB, "input": ["a", ""]}, "input"),
    ("embeddings-too-long", "/v1/embeddings", {**EMB, "input": "word " * 8193}, "input"),
    ("embeddings-tokens-too-long", "/v1/embeddings", {**EMB, "input": [1] * 8193}, "input"),
    ("embeddings-mixed-tokens", "/v1/embeddings", {**EMB, "input": [1, "a"]}, "input"),
    ("embeddings-empty-token-array", "/v1/embeddings", {**EMB, "input": [[1], []]}, "input"),
    ("embeddings-total-tokens", "/v1/embeddings", {**EMB, "input": ["word " * 8000] * 38}, "input"),
    ("completions-n", "/v1/completions", {"model": "x", "prompt": "a", "n": 129}, "n"),
    ("completions-prompts-2049", "/v1/completions", {"model": "x", "prompt": ["a"] * 2049, "n": 128}, "prompt"),
    ("completions-best-of-below-n", "/v1/completions", {"model": "x", "prompt": "a", "n": 3, "best_of": 2}, "best_of"),
    ("completions-best-of-21", "/v1/completions", {"model": "x", "prompt": "a", "best_of": 21}, "best_of"),
    ("completions-prompt-mixed", "/v1/completions", {"model": "x", "prompt": ["a", 5]}, "prompt"),
    ("completions-max-tokens", "/v1/completions", {"model": "x", "prompt": "a", "max_tokens": -1}, "max_tokens"),
    ("moderations-item-int", "/v1/moderations", {"input": ["a", 5]}, "input[1]"),
    ("moderations-part-type", "/v1/moderations", {"input": [{"type": "video"}]}, "input[0].type"),
]


@pytest.mark.parametrize("path, body, param", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_400_naming_the_param(world, path, body, param):
    engine, ids = world
    body = json.loads(json.dumps(body).replace('"{asst}"', json.dumps(ids["asst"])))
    status, payload = call(engine, "POST", path.format(**ids), body)
    assert status == 400, payload
    assert set(payload) == {"error"} and set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["param"] == param, payload["error"]["message"]


@pytest.mark.parametrize("body, message", [
    ({**CHAT, "temperature": "x"}, "Invalid type for 'temperature': expected a decimal, but got a string instead."),
    ({**CHAT, "temperature": 99}, "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 99 instead."),
    ({**CHAT, "max_tokens": -5}, "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got -5 instead."),
    ({**CHAT, "response_format": JSON_SCHEMA}, "Missing required parameter: 'response_format.json_schema'."),
])
def test_the_real_apis_messages(body, message):
    status, payload = call(Engine(), "POST", "/v1/chat/completions", body)
    assert (status, payload["error"]["message"]) == (400, message)


def test_embedding_limits_have_the_apis_messages():
    engine = Engine()
    _, payload = call(engine, "POST", "/v1/embeddings", {**EMB, "input": ["a"] * 2049})
    assert payload["error"]["message"] == "Invalid 'input': maximum input array size is 2048."
    _, payload = call(engine, "POST", "/v1/embeddings", {**EMB, "input": ["a", ""]})
    assert payload["error"]["message"].startswith("'$.input' is invalid.")


@pytest.mark.parametrize("path, body", [
    ("/v1/embeddings", {**EMB, "input": ["a"] * 2048}),
    ("/v1/embeddings", {**EMB, "input": [[1, 2, 3], [4]]}),
    ("/v1/embeddings", {**EMB, "input": [1, 2, 3]}),
    ("/v1/completions", {"model": "x", "prompt": "a", "n": 2, "best_of": 2, "temperature": 0, "top_p": 1}),
    ("/v1/completions", {"model": "x", "prompt": [[1, 2], [3]], "max_tokens": 0}),
    ("/v1/chat/completions", {**CHAT, "temperature": 2, "top_p": 0, "presence_penalty": -2, "frequency_penalty": 2, "n": 128,
                              "max_tokens": 1, "max_completion_tokens": None, "tools": [FN, {"type": "custom", "custom": {"name": "c"}}],
                              "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": True}}}),
    ("/v1/chat/completions", {**CHAT, "temperature": None, "response_format": {"type": "json_object"}, "tools": []}),
    ("/v1/responses", {**RESP, "temperature": 0.5, "top_p": 0.5, "max_output_tokens": 16,
                       "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}, {"type": "web_search"}]}),
    ("/v1/assistants", {**ASST, "temperature": 0, "response_format": "auto",
                        "tools": [{"type": "code_interpreter"}, {"type": "file_search"}, FN],
                        "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}}),
    ("/v1/threads", {"messages": [{**MSG, "attachments": [{"file_id": "f", "tools": [{"type": "file_search"}]}]}]}),
    ("/v1/moderations", {"input": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x"}}]}),
])
def test_unusual_but_valid_bodies_still_work(path, body):
    status, payload = call(Engine(), "POST", path, body)
    assert status == 200, payload


# -- the real SDK through a running fake ---------------------------------------------------------


def _bad(fn, param: str) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as raised:
        fn()
    e = raised.value
    assert e.status_code == 400
    assert e.param == param and e.body["param"] == param and e.body["type"] == "invalid_request_error"
    return e


@pytest.mark.parametrize("face", ["base_client", "client"])
def test_the_sdk_gets_bad_request_errors(face, request):
    c: openai.OpenAI = request.getfixturevalue(face)
    _bad(lambda: c.chat.completions.create(model="gpt-4o", messages=M, temperature=99), "temperature")
    _bad(lambda: c.chat.completions.create(model="gpt-4o", messages=M, tools=[{"type": "nope"}]), "tools[0].type")
    _bad(lambda: c.chat.completions.create(model="gpt-4o", messages=M,
                                           response_format={"type": "json_schema", "json_schema": [None]}),
         "response_format.json_schema")
    _bad(lambda: c.completions.create(model="x", prompt="a", n=3, best_of=2), "best_of")
    _bad(lambda: c.embeddings.create(model="text-embedding-3-small", input=["a"] * 2049), "input")
    _bad(lambda: c.moderations.create(input=["a", 5]), "input[1]")
    _bad(lambda: c.responses.create(model="gpt-4o", input="hi", max_output_tokens=5), "max_output_tokens")
    _bad(lambda: c.responses.input_tokens.count(input=[{"type": {}}]), "input[0].type")
    _bad(lambda: c.conversations.create(items=[{"type": {}}]), "items[0].type")
    _bad(lambda: c.beta.assistants.create(model="gpt-4o", response_format={"type": "json_schema"}), "response_format.json_schema")
    assistant = c.beta.assistants.create(model="gpt-4o")
    _bad(lambda: c.beta.threads.create(messages=[5]), "messages[0]")
    thread = c.beta.threads.create()
    _bad(lambda: c.beta.threads.messages.create(thread.id, role="user", content="hi", attachments=[None]), "attachments[0]")
    _bad(lambda: c.beta.threads.runs.create(thread.id, assistant_id=assistant.id, temperature="x"), "temperature")
    _bad(lambda: c.beta.threads.create_and_run(assistant_id=assistant.id, tools=[{"type": "nope"}]), "tools[0].type")
    upload = c.uploads.create(bytes=1, filename="a.txt", mime_type="text/plain", purpose="assistants")
    _bad(lambda: c.uploads.complete(upload.id, part_ids=[["x"]]), "part_ids[0]")
    # and valid ones still work, the SDK's own helpers included
    assert len(c.embeddings.create(model="text-embedding-3-small", input=["a"] * 2048).data) == 2048
    assert c.beta.threads.runs.create(thread.id, assistant_id=assistant.id, temperature=2).temperature == 2


# -- fuzz: no body gets a 5xx ---------------------------------------------------------------------

ODD = [None, 0, -1, 1.5, 10**6, "x", "", [], [None], [1], [{}], [[1]], [{"type": {}}], {}, {"type": {}}, {"x": []}, True]
TOP = ["temperature", "top_p", "n", "max_tokens", "max_completion_tokens", "max_output_tokens", "presence_penalty",
       "frequency_penalty", "tools", "response_format", "tool_choice", "stream", "stream_options", "metadata", "input",
       "model", "messages", "attachments", "thread", "tool_resources", "text", "reasoning", "best_of", "logprobs",
       "top_logprobs", "stop", "instructions", "conversation", "previous_response_id", "parallel_tool_calls", "prompt",
       "part_ids", "items", "additional_messages", "truncation_strategy", "max_prompt_tokens", "query", "filters",
       "ranking_options", "file_ids", "files", "chunking_strategy", "expires_after", "name", "description", "attributes",
       "file_id", "store", "background", "dimensions", "encoding_format", "content", "role", "assistant_id", "md5",
       "reasoning_effort", "truncation", "user"]


def _endpoints(ids: dict) -> list[tuple[str, dict]]:
    schema = {"name": "n", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    t, a = ids["thread"], ids["asst"]
    return [
        ("/v1/chat/completions", {
            "model": "gpt-4o", "store": True, "metadata": {"a": "b"}, "n": 2,
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                         {"role": "assistant", "content": None,
                          "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                         {"role": "tool", "tool_call_id": "c", "content": "ok"}],
            "tools": [FN], "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": schema}}),
        ("/v1/chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}}),
        ("/v1/completions", {"model": "x", "prompt": ["a", "b"], "n": 2, "best_of": 2, "stream": True,
                             "stream_options": {"include_usage": True}}),
        ("/v1/embeddings", {**EMB, "input": ["a", "b"], "encoding_format": "float", "dimensions": 8}),
        ("/v1/embeddings", {**EMB, "input": [[1, 2], [3]]}),
        ("/v1/moderations", {"input": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x"}}]}),
        ("/v1/audio/speech", {"model": "gpt-4o-mini-tts", "input": "hi", "voice": {"id": "voice_1"}, "response_format": "pcm",
                              "speed": 1.5, "instructions": "calm", "stream_format": "sse"}),
        ("/v1/responses", {
            "model": "gpt-4o", "stream": True, "metadata": {"a": "b"}, "temperature": 1, "max_output_tokens": 100,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                      {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                      {"type": "function_call_output", "call_id": "c", "output": "ok"}],
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}},
                      {"type": "file_search", "vector_store_ids": ["vs_1"]}],
            "text": {"format": {"type": "json_schema", **schema}}, "reasoning": {"effort": "low"}, "tool_choice": "auto"}),
        ("/v1/responses", {**RESP, "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
                           "tool_choice": {"type": "function", "name": "f"}, "background": True}),
        ("/v1/responses/input_tokens", {"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}], "instructions": "x"}),
        ("/v1/assistants", {"model": "gpt-4o", "name": "a", "instructions": "i", "tools": [FN, {"type": "file_search"}],
                            "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]},
                                               "code_interpreter": {"file_ids": ["f"]}},
                            "response_format": {"type": "json_schema", "json_schema": schema}, "temperature": 1,
                            "top_p": 1, "metadata": {"a": "b"}}),
        (f"/v1/assistants/{a}", {"name": "b", "tools": [FN], "temperature": 1, "response_format": "auto"}),
        ("/v1/threads", {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}],
                                       "attachments": [{"file_id": "f", "tools": [{"type": "file_search"}]}],
                                       "metadata": {"a": "b"}}],
                         "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}, "metadata": {"a": "b"}}),
        (f"/v1/threads/{t}", {"metadata": {"a": "b"}, "tool_resources": {"code_interpreter": {"file_ids": ["f"]}}}),
        (f"/v1/threads/{t}/messages", {"role": "user", "content": "hi", "metadata": {"a": "b"},
                                       "attachments": [{"file_id": "f", "tools": [{"type": "code_interpreter"}]}]}),
        (f"/v1/threads/{t}/runs", {"assistant_id": a, "model": "gpt-4o", "instructions": "x", "tools": [FN],
                                   "additional_messages": [{"role": "user", "content": "x"}], "temperature": 1,
                                   "top_p": 1, "response_format": {"type": "json_object"}, "tool_choice": "auto",
                                   "truncation_strategy": {"type": "auto"}, "max_completion_tokens": 300,
                                   "max_prompt_tokens": 300, "metadata": {"a": "b"}, "parallel_tool_calls": True}),
        ("/v1/threads/runs", {"assistant_id": a, "stream": True, "response_format": {"type": "text"},
                              "thread": {"messages": [{"role": "user", "content": "x"}], "metadata": {"a": "b"}},
                              "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}}),
        ("/v1/conversations", {"items": [{"role": "user", "content": "hi"},
                                         {"type": "message", "role": "assistant",
                                          "content": [{"type": "output_text", "text": "x"}]}], "metadata": {"a": "b"}}),
        (f"/v1/conversations/{ids['conv']}", {"metadata": {"a": "b"}}),
        (f"/v1/conversations/{ids['conv']}/items", {"items": [{"role": "user", "content": "hi"}]}),
        ("/v1/uploads", {"filename": "a.txt", "purpose": "assistants", "bytes": 0, "mime_type": "text/plain"}),
        (f"/v1/uploads/{ids['upload']}/complete", {"part_ids": [], "md5": "x"}),
        ("/v1/vector_stores", {"name": "v", "file_ids": [], "metadata": {"a": "b"},
                               "expires_after": {"anchor": "last_active_at", "days": 1},
                               "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 800,
                                                                                  "chunk_overlap_tokens": 400}}}),
    ]


def _paths(value, prefix=()):
    """Every place inside a JSON value: a tuple of keys and indexes."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, prefix + (i,))


def _replaced(value, path, new):
    value = copy.deepcopy(value)
    node = value
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return value


def test_fuzz_no_body_gets_a_5xx(world):
    """Each valid body with each place in it (and each known parameter) set to each odd value: never a 5xx."""
    engine, ids = world
    started, calls, failures = time.monotonic(), 0, []
    for path, base in _endpoints(ids):
        bodies = [_replaced(base, p, odd) for p in _paths(base) if p for odd in ODD]
        bodies += [{**base, name: odd} for name in TOP for odd in ODD]
        for body in bodies:
            reply = engine.handle(Request("POST", path, AUTH, json.dumps(body).encode()))
            calls += 1
            if reply.status >= 500:
                failures.append((path, json.loads(reply.body)["error"]["message"][:200], json.dumps(body)[:300]))
            elif reply.status >= 400:
                error = json.loads(reply.body)["error"]
                assert error["type"] == "invalid_request_error" and isinstance(error["message"], str), (path, body, error)
                assert error["param"] is None or isinstance(error["param"], str), (path, body, error)
    assert not failures, f"{len(failures)} of {calls} bodies got a 5xx, e.g. {failures[:5]}"
    assert calls > 10_000 and time.monotonic() - started < 30
