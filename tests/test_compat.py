"""The openai-responses compatibility layer (`openai_fake.compat`), beyond the seed's own examples
(`tests/seed_examples/`): what each `.response` form does on the wire, respx's call counts, the
state store, the seed's defaults (and that the native fixture keeps its own), and names that are
not routes. Real SDK clients, through the session's real fake."""

from __future__ import annotations

import json
import os

import httpx2
import openai
import pytest
from openai.types.beta.assistant_stream_event import ThreadMessageCreated, ThreadRunCompleted, ThreadRunCreated
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import openai_fake.compat as openai_responses
from openai_fake.compat import OpenAIMock
from openai_fake.compat.ext.httpx import Request, Response
from openai_fake.compat.helpers.builders.messages import build_message
from openai_fake.compat.helpers.builders.runs import run_from_create_request
from openai_fake.compat.stores import StateStore
from openai_fake.compat.streaming import AsyncEventStream
from proxy_addon.engine import Engine, Reply, Request as EngineRequest
from proxy_addon.profile import Profile

MESSAGES = [{"role": "user", "content": "Hello!"}]
KEY = {"authorization": "Bearer sk-test", "content-type": "application/json"}


@pytest.fixture
def client(openai_fake):
    with openai.OpenAI(api_key="sk-fake123", max_retries=0) as c:
        yield c


def _chunk(n: int, delta: dict, finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


# -- names ------------------------------------------------------------------------------------


def test_an_unknown_name_raises_with_the_closest_names(openai_mock):
    with pytest.raises(AttributeError, match="did you mean chat.completions.create"):
        openai_mock.chat.completions.creat.response = {"choices": []}
    with pytest.raises(AttributeError, match="did you mean"):
        openai_mock.chat.completion


def test_a_group_has_no_response(openai_mock):
    with pytest.raises(AttributeError, match="not an SDK method.*chat.completions.create"):
        openai_mock.chat.completions.response = {}
    with pytest.raises(AttributeError, match="cannot be set"):
        openai_mock.chat.completions.create.reply = {}


def test_the_native_fixture_refuses_the_seed_spelling(openai_fake):
    with pytest.raises(AttributeError, match="openai_mock fixture"):
        openai_fake.chat.completions.create.response = {"choices": []}


def test_a_response_of_the_wrong_kind_is_refused(openai_mock):
    with pytest.raises(TypeError, match="takes a partial dict"):
        openai_mock.chat.completions.create.response = "Hi"
    with pytest.raises(TypeError, match="does not stream"):
        openai_mock.embeddings.create.response = [{"data": []}]


# -- raw answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("response", [Response(418, text="short and stout", headers={"x-teapot": "1"}),
                                      Response(200, json={"choices": []})])
def test_a_raw_response_goes_out_as_it_is(openai_mock, openai_fake, response):
    openai_mock.chat.completions.create.response = response
    raw = httpx2.post(f"{openai_fake.base_url}/chat/completions", headers=KEY,
                      json={"model": "gpt-4o", "messages": MESSAGES})
    assert raw.status_code == response.status_code
    assert raw.content == response.content
    assert raw.headers.get("x-teapot") == response.headers.get("x-teapot")


def test_a_raw_answer_replaces_the_route_and_changes_nothing(openai_mock, client):
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread.id, assistant_id="asst_1")
    openai_mock.beta.threads.runs.retrieve.response = Response(200, json=run.model_dump(mode="json"))
    for _ in range(3):
        assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "queued"
    assert openai_mock.state.beta.threads.runs.get(run.id).status == "queued"  # the run never moved on
    assert client.beta.threads.messages.list(thread.id).data == []


# -- functions --------------------------------------------------------------------------------


def test_a_function_sees_the_count_of_earlier_calls(openai_mock, openai_fake):
    seen = []

    def answer(request: Request, route) -> Response:
        seen.append(route.call_count)
        return Response(500) if route.call_count < 2 else Response(200, json={"n": route.call_count})

    openai_mock.embeddings.create.response = answer
    client = openai.OpenAI(api_key="sk-fake123", max_retries=3)
    client.with_options(timeout=5).embeddings.with_raw_response.create(model="text-embedding-3-small", input="x")
    assert seen == [0, 1, 2]
    calls = openai_mock.embeddings.create.route.calls
    assert calls.call_count == 3 and [c.response.status_code for c in calls] == [500, 500, 200]
    assert json.loads(calls.last.request.content)["input"] == "x"
    assert calls.last.request.url.path == "/v1/embeddings"


def test_a_function_gets_the_state_and_the_path_parameters(openai_mock, client):
    got = {}

    def answer(request, *, state_store: StateStore, thread_id: str, message_id: str):
        got.update(thread_id=thread_id, message_id=message_id, text=state_store.beta.threads.messages.get(message_id))
        return None  # the default answer

    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread.id, role="user", content="Hi")
    openai_mock.beta.threads.messages.retrieve.response = answer
    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread.id).id == message.id
    assert got["thread_id"] == thread.id and got["message_id"] == message.id
    assert got["text"].content[0].text.value == "Hi"


def test_a_function_that_raises_is_a_500_naming_it(openai_mock, client):
    def broken(request):
        raise KeyError("oops")

    openai_mock.chat.completions.create.response = broken
    with pytest.raises(openai.InternalServerError, match="broken.*KeyError"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


# -- partials and models ----------------------------------------------------------------------


def test_a_model_and_a_partial(openai_mock, client):
    openai_mock.chat.completions.create.response = ChatCompletion.model_validate({
        "id": "chatcmpl-123", "object": "chat.completion", "created": 1, "model": "gpt-x",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Model"}}]})
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert (completion.id, completion.choices[0].message.content) == ("chatcmpl-123", "Model")
    openai_mock.beta.assistants.create.response = {"name": "From the partial"}
    made = client.beta.assistants.create(model="gpt-4o", name="Asked")
    assert made.name == "From the partial"
    assert client.beta.assistants.retrieve(made.id).name == "From the partial"  # stored as answered


def test_a_partial_run_is_stored(openai_mock, client):
    thread = client.beta.threads.create()
    openai_mock.beta.threads.runs.create.response = {"status": "in_progress", "metadata": {"k": "v"}}
    run = client.beta.threads.runs.create(thread.id, assistant_id="asst_1")
    assert run.status == "in_progress" and run.metadata == {"k": "v"}
    assert client.beta.threads.runs.list(thread.id).data[0].metadata == {"k": "v"}
    openai_mock.beta.threads.runs.create.response = None  # back to the default answer
    assert client.beta.threads.runs.create(thread.id, assistant_id="asst_1").status == "queued"


# -- hand-built streams -----------------------------------------------------------------------


def test_a_chat_stream_of_chunks(openai_mock, client):
    openai_mock.chat.completions.create.response = [
        _chunk(0, {"role": "assistant", "content": ""}), {**_chunk(1, {"content": "Hel"}).model_dump()},
        _chunk(2, {"content": "lo"}), _chunk(3, {}, "stop")]
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello"
    assert openai_mock.chat.completions.create.route.call_count == 1


def test_a_completions_stream(openai_mock, client):
    chunk = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct"}
    openai_mock.completions.create.response = [
        {**chunk, "choices": [{"index": 0, "text": "Hi", "logprobs": None, "finish_reason": "stop"}]}]
    texts = [c.choices[0].text for c in client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True)]
    assert texts == ["Hi"]


def test_a_responses_stream(openai_mock, client):
    response = {"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o", "status": "in_progress",
                "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    done = {**response, "status": "completed", "output": [{
        "type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "Streamed", "annotations": []}]}]}
    item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}
    openai_mock.responses.create.response = [  # as strict as the SDK's stream helper: every event it needs
        {"type": "response.created", "response": response},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "part": {"type": "output_text", "text": "", "annotations": []}},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "delta": "Streamed", "logprobs": []},
        {"type": "response.completed", "response": done}]
    with client.responses.stream(model="gpt-4o", input="Hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Streamed"] and final.output_text == "Streamed"


def test_an_assistants_stream(openai_mock, client):
    thread = client.beta.threads.create()

    def stream(request, *, thread_id, state_store):
        run = run_from_create_request(thread_id, request, extra={"model": "gpt-4o"})
        state_store.beta.threads.runs.put(run)
        message = build_message({"thread_id": thread_id, "run_id": run.id, "role": "assistant", "status": "completed",
                                 "content": [{"type": "text", "text": {"value": "Done", "annotations": []}}]})
        state_store.beta.threads.messages.put(message)
        return [ThreadRunCreated(event="thread.run.created", data=run),
                ThreadMessageCreated(event="thread.message.created", data=message),
                ThreadRunCompleted(event="thread.run.completed", data=run.model_copy(update={"status": "completed"}))]

    openai_mock.beta.threads.runs.create.response = stream
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_1") as events:
        events.until_done()
        assert events.current_run.status == "completed"
    assert [m.role for m in client.beta.threads.messages.list(thread.id).data] == ["assistant"]


class _Chunks(AsyncEventStream[ChatCompletionChunk]):
    def __init__(self, wait: float = 0) -> None:
        self.wait = wait

    async def agenerate(self):
        import asyncio

        await asyncio.sleep(self.wait)  # a real wait: the fake reads the stream on a loop of its own
        yield _chunk(0, {"role": "assistant", "content": "Async"})
        yield _chunk(1, {}, "stop")


@pytest.mark.parametrize("wait", [0, 0.05])
def test_an_async_event_stream(openai_mock, client, wait):
    openai_mock.chat.completions.create.response = lambda request: Response(200, content=_Chunks(wait))
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert chunks[0].choices[0].delta.content == "Async"


# -- state ------------------------------------------------------------------------------------


def test_state_put_get_and_a_store_swapped_in(openai_mock, client):
    shared = StateStore()
    shared.beta.assistants.put({"id": "asst_kept", "object": "assistant", "created_at": 1, "model": "gpt-4o", "tools": []})
    before = client.beta.assistants.create(model="gpt-4o")
    openai_mock.state = shared
    assert [a.id for a in client.beta.assistants.list().data] == ["asst_kept"]
    made = client.beta.assistants.create(model="gpt-4o", name="In the shared store")
    assert shared.beta.assistants.get(made.id).name == "In the shared store"
    assert [a.name for a in openai_mock.state.beta.assistants.list()] == ["In the shared store", None]
    assert before.name is None
    assert openai_mock.beta.assistants.create.route.call_count == 2  # this test's calls, whatever the store
    with pytest.raises(TypeError, match="StateStore"):
        openai_mock.state = {}


def test_a_put_object_is_checked_against_its_type(openai_mock):
    with pytest.raises(Exception, match="validation error"):
        openai_mock.state.beta.threads.runs.put({"id": "run_1", "status": "bogus"})
    with pytest.raises(ValueError, match="needs thread_id"):
        openai_mock.state.beta.threads.messages.put(build_message({"role": "user", "content": []}))


_DECORATED_STATE = StateStore()


@openai_responses.mock(state=_DECORATED_STATE)
def test_the_decorator_takes_a_state(openai_mock: OpenAIMock):
    assert openai_mock.state is _DECORATED_STATE
    thread = openai.OpenAI(api_key="sk-fake123").beta.threads.create(metadata={"via": "decorator"})
    assert _DECORATED_STATE.beta.threads.get(thread.id).metadata == {"via": "decorator"}


@openai_responses.mock()
def test_the_decorator_without_the_fixture_argument():
    assert openai.OpenAI(api_key="sk-fake123").models.list().data


def test_a_mock_outside_the_fixture_leaves_the_fake_as_it_was(openai_fake):
    native = openai.OpenAI(api_key="sk-fake123", max_retries=0)
    kept = native.beta.assistants.create(model="gpt-4o")
    own = OpenAIMock()
    own.chat.completions.create.response = {"choices": [{"index": 0, "finish_reason": "stop",
                                                          "message": {"role": "assistant", "content": "Inner"}}]}
    with own.router:
        inner = openai.OpenAI(api_key="sk-fake123", max_retries=0)
        assert inner.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content == "Inner"
        assert inner.beta.assistants.list().data == []  # the mock's own state
        assert own.chat.completions.create.route.call_count == 1
    assert native.beta.assistants.retrieve(kept.id).id == kept.id
    assert native.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices[0].message.content != "Inner"


# -- the seed's defaults, only here -----------------------------------------------------------


def test_moderations_seed_defaults_and_native(openai_mock, client):
    compat = client.moderations.create(input="Test input")
    assert (compat.model, compat.results) == ("text-moderation-007", [])
    openai_mock.moderations.create.response = {"results": [{"flagged": True, "categories": {"hate": True}}]}
    result = client.moderations.create(input=["a", "b"]).results
    assert len(result) == 1 and result[0].categories.hate and result[0].category_scores.violence == 0.0
    assert result[0].category_applied_input_types.violence == []


def test_moderations_native_defaults(openai_fake, client):
    native = client.moderations.create(input=["a", "b"])
    assert native.model == "omni-moderation-latest" and len(native.results) == 2
    assert native.results[0].category_scores.violence > 0 and native.results[0].category_applied_input_types.hate == ["text"]


def _batch(client):
    store = client.vector_stores.create(name="s")
    file = client.files.create(file=("a.txt", b"some text"), purpose="assistants")
    return store, client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[file.id])


def test_file_batches_seed_defaults(openai_mock, client):
    store, batch = _batch(client)
    assert batch.status == "completed" and batch.file_counts.completed == 1
    assert client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id).status == "cancelled"


def test_file_batches_native_defaults(openai_fake, client):
    store, batch = _batch(client)
    assert batch.status == "in_progress"
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id).status == "completed"
    with pytest.raises(openai.BadRequestError, match="Cannot cancel"):
        client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)


def test_an_immediate_cancel_cancels_files_in_progress(openai_fake, client):
    openai_fake.vector_stores(batch_cancel="immediate")
    store, batch = _batch(client)
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled" and cancelled.file_counts.cancelled == 1
    files = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id).data
    assert [f.status for f in files] == ["cancelled"]


# -- vector stores from tool_resources (the native engine: the real API's behaviour) -------------


def test_tool_resources_vector_stores_are_made(openai_fake, client):
    file = client.files.create(file=("a.txt", b"text"), purpose="assistants")
    spec = {"file_search": {"vector_stores": [{"file_ids": [file.id], "metadata": {"k": "v"}}]}}
    assistant = client.beta.assistants.create(model="gpt-4o", tool_resources=spec)
    thread = client.beta.threads.create(tool_resources=spec)
    run = client.beta.threads.create_and_run(assistant_id=assistant.id, thread={"tool_resources": spec})
    made = [assistant.tool_resources.file_search.vector_store_ids,
            thread.tool_resources.file_search.vector_store_ids,
            client.beta.threads.retrieve(run.thread_id).tool_resources.file_search.vector_store_ids]
    ids = [m[0] for m in made]
    assert all(len(m) == 1 for m in made) and len(set(ids)) == 3
    for vs_id in ids:
        assert client.vector_stores.retrieve(vs_id).metadata == {"k": "v"}
        assert [f.id for f in client.vector_stores.files.list(vs_id).data] == [file.id]
    assert client.beta.assistants.retrieve(assistant.id).tool_resources.file_search.vector_store_ids == ids[:1]


def test_tool_resources_errors(openai_fake, client):
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.create(model="gpt-4o", tool_resources={
            "file_search": {"vector_stores": [{"file_ids": ["file-missing"]}]}})
    with pytest.raises(openai.BadRequestError, match="mutually exclusive") as e:
        client.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": ["vs_1"], "vector_stores": [{}]}})
    assert e.value.body["param"] == "tool_resources.file_search"
    assert client.vector_stores.list().data == [] and client.beta.assistants.list().data == []


# -- the engine's knobs under the layer ---------------------------------------------------------


def test_handler_first_answers_before_the_route_works():
    profile = Profile()
    asked = []

    @profile.beta.threads.runs.retrieve
    def hold(request, state):
        asked.append(state.get(f"threads/{request.params['thread_id']}/runs", request.params["run_id"])["status"])
        return Reply(200, b'{"held": true}')

    engine = Engine(profile)
    thread = json.loads(engine.handle(EngineRequest("POST", "/v1/threads", KEY, b"{}")).body)
    run = json.loads(engine.handle(EngineRequest("POST", f"/v1/threads/{thread['id']}/runs", KEY,
                                                 b'{"assistant_id": "asst_1"}')).body)
    path = f"/v1/threads/{thread['id']}/runs/{run['id']}"
    engine.handle(EngineRequest("GET", path, KEY))
    profile.beta.threads.runs.retrieve(handler_first=True)
    engine.handle(EngineRequest("GET", path, KEY))
    engine.handle(EngineRequest("GET", path, KEY))
    assert asked == ["in_progress", "in_progress", "in_progress"]  # moved on once, by the first retrieve only


def test_a_beta_chat_alias_is_the_same_route(openai_fake, client):
    openai_fake.beta.chat.completions.create(failures=1, failure_status=503)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert openai_fake.beta.chat.completions.create.route.calls.call_count == 2


def test_an_httpx_response_too(openai_mock, client):
    httpx = pytest.importorskip("httpx")  # openai 3 uses httpx2; httpx comes with langchain-openai
    openai_mock.models.list.response = httpx.Response(503, json={"error": {"message": "down", "type": "x"}})
    with pytest.raises(openai.InternalServerError, match="down"):
        client.models.list()


def test_a_mock_left_bound_is_released_by_the_next_fixture():
    from proxy_addon import process

    runner = process.runner()
    session_state, proxy = runner.engine.state, os.environ.get("HTTPS_PROXY")
    left = OpenAIMock()
    left.router.__enter__()  # never left, as `router.handler` leaves it
    assert runner.engine.state is left.state._state and os.environ["HTTPS_PROXY"] == runner.proxy_url
    process.release_strays()  # what the next `openai_fake` fixture does first
    assert runner.engine.state is session_state and os.environ.get("HTTPS_PROXY") == proxy and not process.bound
