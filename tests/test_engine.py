"""Engine unit tests: a request in, a reply out, no sockets."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from proxy_addon import OpenAIError, Profile
from proxy_addon.engine import Engine, Request

AUTH = {"authorization": "Bearer sk-test-1234567890", "content-type": "application/json"}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about whales"}]}


def call(engine: Engine, method: str, path: str, body=None, headers=AUTH):
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    reply = engine.handle(Request(method, path, headers, raw))
    return reply.status, json.loads(reply.body), reply


def error(engine, method, path, body=None, headers=AUTH):
    status, payload, _ = call(engine, method, path, body, headers)
    assert set(payload) == {"error"} and set(payload["error"]) == {"message", "type", "param", "code"}
    return status, payload["error"]


@pytest.mark.parametrize(
    "method, path, body, status, param, code",
    [
        ("POST", "/v1/chat/completions", b"{not json", 400, None, None),
        ("POST", "/v1/chat/completions", {"messages": CHAT["messages"]}, 400, "model", "missing_required_parameter"),
        ("POST", "/v1/chat/completions", {"model": "gpt-4o"}, 400, "messages", "missing_required_parameter"),
        ("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": []}, 400, "messages", "invalid_value"),
        ("POST", "/v1/chat/completions", {**CHAT, "n": "2"}, 400, "n", "invalid_type"),
        ("POST", "/v1/chat/completions", {**CHAT, "n": 0}, 400, "n", "invalid_value"),
        ("POST", "/v1/chat/completions", {"model": "x", "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role", "invalid_value"),
        ("POST", "/v1/embeddings", {"model": "text-embedding-3-small"}, 400, "input", "missing_required_parameter"),
        ("POST", "/v1/embeddings", {"input": "x"}, 400, "model", "missing_required_parameter"),
        ("POST", "/v1/embeddings", {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8}, 400, "dimensions", "invalid_value"),
        ("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"}, 400, "encoding_format", "invalid_value"),
        ("POST", "/v1/moderations", {}, 400, "input", "missing_required_parameter"),
        ("POST", "/v1/completions", {"model": "gpt-3.5-turbo-instruct"}, 400, "prompt", "missing_required_parameter"),
        ("GET", "/v1/models/no-such-model", None, 404, None, "model_not_found"),
    ],
)
def test_bad_input_gets_the_real_apis_errors(method, path, body, status, param, code):
    got_status, err = error(Engine(), method, path, body)
    assert (got_status, err["param"], err["code"]) == (status, param, code)
    assert err["type"] == "invalid_request_error"


def test_unknown_path_and_method_are_invalid_urls():
    assert error(Engine(), "GET", "/v1/nope") == (404, {"message": "Invalid URL (GET /v1/nope)", "type": "invalid_request_error", "param": None, "code": None})
    assert error(Engine(), "DELETE", "/v1/chat/completions")[1]["message"] == "Invalid URL (DELETE /v1/chat/completions)"
    assert error(Engine(), "GET", "/v1/nope/")[1]["message"] == "Invalid URL (GET /v1/nope/)"
    assert call(Engine(), "GET", "/v1/models/")[0] == 200  # a trailing slash still finds the route


def test_missing_key_is_401_unless_the_profile_turns_the_check_off():
    status, err = error(Engine(), "POST", "/v1/chat/completions", CHAT, headers={})
    assert status == 401 and "didn't provide an API key" in err["message"]
    assert call(Engine(Profile(require_api_key=False)), "POST", "/v1/chat/completions", CHAT, headers={})[0] == 200


def test_every_reply_has_a_request_id_even_errors():
    for method, path, body in [("POST", "/v1/chat/completions", CHAT), ("GET", "/v1/nope", None), ("POST", "/v1/embeddings", b"{")]:
        assert call(Engine(), method, path, body)[2].headers["x-request-id"].startswith("req_")


def test_chat_default_is_deterministic_and_valid():
    engine = Engine()
    _, first, _ = call(engine, "POST", "/v1/chat/completions", CHAT)
    _, second, _ = call(engine, "POST", "/v1/chat/completions", CHAT)
    ChatCompletion.model_validate(first)
    first.pop("created"), second.pop("created")
    assert first == second
    assert "whales" in first["choices"][0]["message"]["content"]
    usage = first["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


@pytest.mark.parametrize("extra", [
    {},
    {"n": 3},
    {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                  {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                                                                         "function": {"name": "f", "arguments": "{}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "42"}]},
    {"response_format": {"type": "json_object"}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "number"}}}}}},
    {"store": True, "metadata": {"k": "v"}},
    {"user": "u1", "temperature": 0.2, "max_tokens": 5, "seed": 1},
])
def test_default_chat_answers_validate_by_construction(extra):
    """The engine checks a chat answer against the SDK's type only when a profile or the request's tools
    shaped it; every other kind of default answer must therefore be valid as built."""
    reply = Engine().handle(Request("POST", "/v1/chat/completions", AUTH, json.dumps({**CHAT, **extra}).encode()))
    assert reply.status == 200, reply.body
    completion = ChatCompletion.model_validate(json.loads(reply.body))
    assert len(completion.choices) == extra.get("n", 1)


def test_usage_grows_with_the_prompt():
    engine = Engine()
    short = call(engine, "POST", "/v1/chat/completions", CHAT)[1]["usage"]["prompt_tokens"]
    long_chat = {**CHAT, "messages": [{"role": "user", "content": "whales " * 400}]}
    long = call(engine, "POST", "/v1/chat/completions", long_chat)[1]["usage"]["prompt_tokens"]
    assert 350 < long - short < 500  # about one token per short word


def test_n_choices_repeat_configured_choices():
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "A"}}, {"message": {"content": "B"}}])
    _, body, _ = call(Engine(profile), "POST", "/v1/chat/completions", {**CHAT, "n": 3})
    assert [c["message"]["content"] for c in body["choices"]] == ["A", "B", "A"]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]


def test_tool_calls_from_the_profile_get_ids_and_finish_reason():
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}]}}])
    _, body, _ = call(Engine(profile), "POST", "/v1/chat/completions", CHAT)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    tool_call = choice["message"]["tool_calls"][0]
    assert tool_call["id"].startswith("call_") and tool_call["type"] == "function"
    assert json.loads(tool_call["function"]["arguments"]) == {"city": "Oslo"}


def test_default_answer_fits_a_json_schema_and_a_forced_tool():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["name", "age", "tags"]}
    body = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "P", "schema": schema, "strict": True}}}
    content = json.loads(call(Engine(), "POST", "/v1/chat/completions", body)[1]["choices"][0]["message"]["content"])
    assert set(content) == {"name", "age", "tags"} and isinstance(content["age"], int)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
    forced = call(Engine(), "POST", "/v1/chat/completions", {**CHAT, "tools": tools, "tool_choice": "required"})[1]
    assert forced["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup"
    auto = call(Engine(), "POST", "/v1/chat/completions", {**CHAT, "tools": tools})[1]
    assert auto["choices"][0]["message"]["content"]


@pytest.mark.parametrize("answer, expected", [
    ("plain string", "plain string"),
    ({"choices": [{"message": {"content": "from a dict"}}]}, "from a dict"),
    (ChatCompletion.model_construct(choices=[{"message": {"content": "from a model"}}]), "from a model"),
    (None, None),
])
def test_handler_answers(answer, expected):
    profile = Profile()
    seen = []

    @profile.chat.completions
    def handler(request, state):
        seen.append((request.route, request.json["model"]))
        return answer

    status, body, _ = call(Engine(profile), "POST", "/v1/chat/completions", CHAT)
    assert status == 200 and seen == [("chat.completions.create", "gpt-4o")]
    content = body["choices"][0]["message"]["content"]
    assert content == expected if expected else "whales" in content


@pytest.mark.parametrize("how", ["raise", "return"])
def test_handler_errors_of_any_status(how):
    profile = Profile()

    @profile.embeddings
    def handler(request, state):
        err = OpenAIError(418, "I'm a teapot", code="teapot")
        if how == "raise":
            raise err
        return err

    status, err = error(Engine(profile), "POST", "/v1/embeddings", {"model": "m", "input": "x"})
    assert (status, err["message"], err["code"]) == (418, "I'm a teapot", "teapot")


def test_a_handler_that_crashes_answers_500_naming_profile_and_exception():
    profile = Profile()
    profile.name = "mine"

    @profile.chat.completions
    def broken(request, state):
        return 1 / 0

    engine = Engine(profile)
    status, err = error(engine, "POST", "/v1/chat/completions", CHAT)
    assert status == 500 and err["type"] == "server_error"
    assert "'mine'" in err["message"] and "broken" in err["message"] and "ZeroDivisionError" in err["message"]
    assert engine.handle(Request("GET", "/v1/models", AUTH)).status == 200  # still serving


def test_a_profile_answer_that_does_not_validate_is_a_named_500():
    profile = Profile()
    profile.chat.completions(choices=[{"finish_reason": "bored"}])
    status, err = error(Engine(profile), "POST", "/v1/chat/completions", CHAT)
    assert status == 500 and "finish_reason" in err["message"] and "chat.completions" in err["message"]


def test_failures_then_success_and_counts():
    profile = Profile()
    profile.chat.completions(failures=2, failure_status=429, retry_after=0.25)
    engine = Engine(profile)
    replies = [engine.handle(Request("POST", "/v1/chat/completions", AUTH, json.dumps(CHAT).encode())) for _ in range(3)]
    assert [r.status for r in replies] == [429, 429, 200]
    assert replies[0].headers["retry-after-ms"] == "250"
    assert "simulated failure 1 of 2" in json.loads(replies[0].body)["error"]["message"]
    assert engine.state.call_count("chat.completions") == 3
    assert engine.state.call_count("chat.completions.create") == 3


def test_default_failures_are_500s():
    profile = Profile()
    profile.models(failures=1)
    engine = Engine(profile)
    assert [call(engine, "GET", "/v1/models")[0] for _ in range(2)] == [500, 200]


def test_latency_is_reported_not_slept():
    profile = Profile(latency=0.5)
    profile.embeddings(latency=2)
    engine = Engine(profile)
    assert call(engine, "GET", "/v1/models")[2].delay == 0.5
    assert call(engine, "POST", "/v1/embeddings", {"model": "m", "input": "x"})[2].delay == 2


def test_embeddings_are_unit_vectors_per_text_in_float_and_base64():
    engine = Engine()
    body = {"model": "text-embedding-3-small", "input": ["a", "b", "a"], "encoding_format": "float"}
    data = call(engine, "POST", "/v1/embeddings", body)[1]["data"]
    CreateEmbeddingResponse.model_validate({"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 1, "total_tokens": 1}})
    vectors = [d["embedding"] for d in data]
    assert len(vectors[0]) == 1536 and vectors[0] == vectors[2] != vectors[1]
    assert abs(sum(v * v for v in vectors[0]) - 1) < 1e-6
    b64 = call(engine, "POST", "/v1/embeddings", {**body, "encoding_format": "base64"})[1]["data"][0]["embedding"]
    decoded = struct.unpack("<1536f", base64.b64decode(b64))
    assert max(abs(a - b) for a, b in zip(decoded, vectors[0])) < 1e-6


@pytest.mark.parametrize("model, dimensions, size", [("text-embedding-3-large", None, 3072), ("text-embedding-3-small", 256, 256), ("text-embedding-ada-002", None, 1536)])
def test_embedding_sizes(model, dimensions, size):
    body = {"model": model, "input": "x", "encoding_format": "float", **({"dimensions": dimensions} if dimensions else {})}
    assert len(call(Engine(), "POST", "/v1/embeddings", body)[1]["data"][0]["embedding"]) == size


def test_fixed_embedding_from_the_profile():
    profile = Profile()
    profile.embeddings(embedding=[0.1, 0.2, 0.3])
    body = {"model": "text-embedding-3-small", "input": ["x", "y"], "encoding_format": "float"}
    assert [d["embedding"] for d in call(Engine(profile), "POST", "/v1/embeddings", body)[1]["data"]] == [[0.1, 0.2, 0.3]] * 2


def test_models_list_retrieve_and_profile_catalogue():
    profile = Profile()
    profile.models(models=["my-model", {"id": "ft:gpt-4o:acme", "owned_by": "acme"}])
    engine = Engine(profile)
    listed = call(engine, "GET", "/v1/models")[1]
    assert [m["id"] for m in listed["data"]] == ["my-model", "ft:gpt-4o:acme"]
    assert call(engine, "GET", "/v1/models/ft:gpt-4o:acme")[1]["owned_by"] == "acme"
    assert call(engine, "GET", "/v1/models/gpt-4o")[0] == 404


def test_listed_model_ids_make_valid_models_and_a_bad_partial_is_a_named_500():
    """Model ids are not checked against the SDK's type per call (they are valid as built); partial dicts are."""
    from openai.types import Model

    for model in call(Engine(), "GET", "/v1/models")[1]["data"] + [call(Engine(), "GET", "/v1/models/gpt-4o")[1]]:
        Model.model_validate(model)
    profile = Profile()
    profile.models(models=[{"id": "broken", "created": "yesterday"}])
    status, body, _ = call(Engine(profile), "GET", "/v1/models")
    assert status == 500 and "does not validate" in body["error"]["message"]


def test_moderations_flag_what_the_profile_says():
    assert call(Engine(), "POST", "/v1/moderations", {"input": ["a", "b"]})[1]["results"][1]["flagged"] is False
    profile = Profile()
    profile.moderations(flagged=["violence"])
    result = call(Engine(profile), "POST", "/v1/moderations", {"input": "x"})[1]["results"][0]
    assert result["flagged"] and result["categories"]["violence"] and not result["categories"]["hate"]


def test_legacy_completions_one_choice_per_prompt_and_n():
    _, body, _ = call(Engine(), "POST", "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"], "n": 2})
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    profile = Profile()
    profile.completions(choices=[{"text": "fixed"}])
    assert call(Engine(profile), "POST", "/v1/completions", {"model": "m", "prompt": "p"})[1]["choices"][0]["text"] == "fixed"
