"""Vector stores: the real SDK through the real proxy, and the engine by table."""

from __future__ import annotations

import json

import openai
import pytest

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request, tokens
from proxy_addon.engine.resources import files, vector_stores

WHALES = (b"Humpback whales migrate thousands of kilometres every year, from cold feeding waters to warm "
          b"breeding grounds. Whales sing long songs during the migration.")
BREAD = b"Sourdough bread needs a starter, flour, water and salt. Bake the loaf in a hot oven until the crust is dark."
ROCKETS = b"Rockets burn fuel and oxidiser to make thrust. A rocket engine works in the vacuum of space."


def upload(client, name: str, content: bytes) -> str:
    return client.files.create(file=(name, content), purpose="assistants").id


# -- through the proxy --------------------------------------------------------------------


def test_store_crud_and_pagination(client, use_profile):
    use_profile(Profile())
    made = [client.vector_stores.create(name=f"store {i}", metadata={"n": str(i)}) for i in range(5)]
    first = made[0]
    assert first.object == "vector_store" and first.id.startswith("vs_") and first.name == "store 0"
    assert first.status == "completed" and first.file_counts.total == 0 and first.usage_bytes == 0
    assert client.vector_stores.retrieve(first.id).metadata == {"n": "0"}

    updated = client.vector_stores.update(first.id, name="renamed", metadata={"k": "v"},
                                          expires_after={"anchor": "last_active_at", "days": 7})
    assert (updated.name, updated.metadata) == ("renamed", {"k": "v"})
    assert updated.expires_after.days == 7 and updated.expires_at == updated.last_active_at + 7 * 86400

    page = client.vector_stores.list(limit=2)
    assert [s.id for s in page.data] == [made[4].id, made[3].id] and page.has_more is True
    assert [s.id for s in client.vector_stores.list(limit=2)] == [s.id for s in reversed(made)]  # auto-paging
    assert [s.id for s in client.vector_stores.list(order="asc", limit=100)] == [s.id for s in made]
    assert client.vector_stores.list(after=made[1].id).has_more is False

    deleted = client.vector_stores.delete(first.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (first.id, True, "vector_store.deleted")
    with pytest.raises(openai.NotFoundError) as e:
        client.vector_stores.retrieve(first.id)
    assert e.value.body["message"] == f"No vector store found with id '{first.id}'."
    assert len(list(client.vector_stores.list())) == 4


def test_files_upload_and_poll_and_create_and_poll_complete(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create(name="docs")
    done = client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("whales.txt", WHALES))
    assert done.status == "completed" and done.usage_bytes == len(WHALES) and done.vector_store_id == vs.id
    assert done.chunking_strategy.type == "static" and done.chunking_strategy.static.max_chunk_size_tokens == 800

    file_id = upload(client, "bread.txt", BREAD)
    done = client.vector_stores.files.create_and_poll(file_id, vector_store_id=vs.id, attributes={"topic": "food"})
    assert (done.id, done.status, done.attributes) == (file_id, "completed", {"topic": "food"})

    store = client.vector_stores.retrieve(vs.id)
    assert store.status == "completed" and store.usage_bytes == len(WHALES) + len(BREAD)
    assert (store.file_counts.completed, store.file_counts.in_progress, store.file_counts.total) == (2, 0, 2)


def test_a_new_file_is_in_progress_until_the_next_read(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create()
    raw = client.vector_stores.files.with_raw_response.create(vector_store_id=vs.id, file_id=upload(client, "w.txt", WHALES))
    created = raw.parse()
    assert created.status == "in_progress" and created.usage_bytes == 0
    assert raw.headers["openai-poll-after-ms"] == "10"
    assert client.vector_stores.retrieve(vs.id).status == "completed"  # the read completes it
    assert client.vector_stores.files.retrieve(created.id, vector_store_id=vs.id).status == "completed"
    updated = client.vector_stores.files.update(created.id, vector_store_id=vs.id, attributes={"year": 2024})
    assert updated.attributes == {"year": 2024}


def test_store_created_with_file_ids(client, use_profile):
    use_profile(Profile())
    ids = [upload(client, "w.txt", WHALES), upload(client, "b.txt", BREAD)]
    vs = client.vector_stores.create(name="x", file_ids=ids,
                                     chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}})
    assert vs.status == "in_progress" and vs.file_counts.in_progress == 2 and vs.file_counts.total == 2
    listed = client.vector_stores.files.list(vector_store_id=vs.id)
    assert sorted(f.id for f in listed) == sorted(ids) and {f.status for f in listed} == {"completed"}
    assert listed.data[0].chunking_strategy.static.max_chunk_size_tokens == 200
    assert client.vector_stores.retrieve(vs.id).file_counts.completed == 2


def test_batch_upload_and_poll_with_three_files(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create(name="batch")
    batch = client.vector_stores.file_batches.upload_and_poll(
        vs.id, files=[("whales.txt", WHALES), ("bread.txt", BREAD), ("rockets.txt", ROCKETS)])
    assert batch.object == "vector_store.files_batch" and batch.id.startswith("vsfb_")
    assert batch.status == "completed" and batch.file_counts.completed == 3 and batch.file_counts.total == 3

    in_batch = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id)
    names = {client.files.retrieve(f.id).filename for f in in_batch}
    assert names == {"whales.txt", "bread.txt", "rockets.txt"}
    assert len(list(client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id, limit=1))) == 3
    assert client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id, filter="completed").data
    assert client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id, filter="failed").data == []
    assert client.vector_stores.files.list(vector_store_id=vs.id, filter="in_progress").data == []
    assert client.vector_stores.retrieve(vs.id).file_counts.completed == 3


def test_batch_with_per_file_attributes(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create()
    a, b = upload(client, "w.txt", WHALES), upload(client, "b.txt", BREAD)
    batch = client.vector_stores.file_batches.create_and_poll(
        vs.id, files=[{"file_id": a, "attributes": {"kind": "animal"}}, {"file_id": b, "attributes": {"kind": "food"}}])
    assert batch.file_counts.completed == 2
    assert client.vector_stores.files.retrieve(b, vector_store_id=vs.id).attributes == {"kind": "food"}


def test_file_content_is_the_files_text(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create()
    f = client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("rockets.txt", ROCKETS))
    content = client.vector_stores.files.content(f.id, vector_store_id=vs.id)
    assert [(c.type, c.text) for c in content] == [("text", ROCKETS.decode())]


def test_search_ranks_the_matching_file_first_deterministically(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create(name="search")
    assert client.vector_stores.search(vs.id, query="whales").data == []  # an empty store
    client.vector_stores.file_batches.upload_and_poll(
        vs.id, files=[("bread.txt", BREAD), ("whales.txt", WHALES), ("rockets.txt", ROCKETS)])

    first = client.vector_stores.search(vs.id, query="Where do whales migrate?")
    again = client.vector_stores.search(vs.id, query="Where do whales migrate?")
    assert first.data and first.data[0].filename == "whales.txt"
    assert first.data[0].content[0].type == "text" and "Humpback" in first.data[0].content[0].text
    scores = [r.score for r in first.data]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert [r.model_dump() for r in first.data] == [r.model_dump() for r in again.data]

    mixed = client.vector_stores.search(vs.id, query=["rocket engine thrust", "bread"], max_num_results=1)
    assert len(mixed.data) == 1 and mixed.data[0].filename == "rockets.txt"
    assert client.vector_stores.search(vs.id, query="quantum chromodynamics").data == []


def test_search_filters_on_attributes(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create()
    for name, text, year in [("old.txt", WHALES, 1990), ("new.txt", WHALES, 2024)]:
        client.vector_stores.files.create_and_poll(upload(client, name, text), vector_store_id=vs.id, attributes={"year": year})
    hits = client.vector_stores.search(vs.id, query="whales", filters={"type": "gte", "key": "year", "value": 2000})
    assert [h.filename for h in hits] == ["new.txt"] and hits.data[0].attributes == {"year": 2024}
    both = client.vector_stores.search(vs.id, query="whales", filters={"type": "or", "filters": [
        {"type": "eq", "key": "year", "value": 1990}, {"type": "eq", "key": "year", "value": 2024}]})
    assert [h.filename for h in both] == ["old.txt", "new.txt"]  # equal scores: the older file first


def test_unknown_ids_are_openai_shaped_404s(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create()
    calls = [
        lambda: client.vector_stores.retrieve("vs_nope"),
        lambda: client.vector_stores.delete("vs_nope"),
        lambda: client.vector_stores.search("vs_nope", query="x"),
        lambda: client.vector_stores.files.retrieve("file-nope", vector_store_id=vs.id),
        lambda: client.vector_stores.files.delete("file-nope", vector_store_id=vs.id),
        lambda: client.vector_stores.files.content("file-nope", vector_store_id=vs.id),
        lambda: client.vector_stores.files.create(vector_store_id=vs.id, file_id="file-nope"),
        lambda: client.vector_stores.file_batches.retrieve("vsfb_nope", vector_store_id=vs.id),
        lambda: client.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=["file-nope"]),
    ]
    for call in calls:
        with pytest.raises(openai.NotFoundError) as e:
            call()
        assert set(e.value.body) == {"message", "type", "param", "code"} and e.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as e:
        client.vector_stores.files.create(vector_store_id=vs.id, file_id="file-nope")
    assert e.value.body["message"] == "No such File object: file-nope"


def test_cancel_a_batch_in_progress_then_a_finished_one_is_400(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create()
    ids = [upload(client, f"{i}.txt", WHALES) for i in range(2)]
    batch = client.vector_stores.file_batches.create(vs.id, file_ids=ids)
    assert batch.status == "in_progress" and batch.file_counts.in_progress == 2
    assert client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id).status == "in_progress"
    after = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id)
    assert after.status == "cancelled" and after.file_counts.cancelled == 2 and after.file_counts.in_progress == 0
    assert {f.status for f in client.vector_stores.files.list(vector_store_id=vs.id)} == {"cancelled"}
    assert client.vector_stores.retrieve(vs.id).file_counts.cancelled == 2
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)

    done = client.vector_stores.file_batches.create_and_poll(vs.id, file_ids=ids)
    assert done.status == "completed"
    with pytest.raises(openai.BadRequestError) as e:
        client.vector_stores.file_batches.cancel(done.id, vector_store_id=vs.id)
    assert "completed" in e.value.body["message"] and e.value.body["type"] == "invalid_request_error"


def test_deleting_a_vector_store_file_keeps_the_file(client, use_profile):
    use_profile(Profile())
    vs = client.vector_stores.create()
    f = client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("w.txt", WHALES))
    gone = client.vector_stores.files.delete(f.id, vector_store_id=vs.id)
    assert (gone.id, gone.deleted, gone.object) == (f.id, True, "vector_store.file.deleted")
    assert client.files.retrieve(f.id).filename == "w.txt"
    assert client.vector_stores.files.list(vector_store_id=vs.id).data == []
    store = client.vector_stores.retrieve(vs.id)
    assert store.file_counts.total == 0 and store.usage_bytes == 0
    client.vector_stores.delete(vs.id)
    assert client.files.retrieve(f.id).id == f.id


def test_processing_reads_knob_makes_pollers_wait(client, use_profile, fake):
    profile = Profile()
    profile.vector_stores(processing_reads=3, poll_after_ms=0)
    use_profile(profile)
    vs = client.vector_stores.create()
    done = client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("w.txt", WHALES))
    assert done.status == "completed"
    assert fake.engine.state.call_count("vector_stores.files.retrieve") == 3


def test_a_handler_can_fail_files(client, use_profile):
    profile = Profile()

    @profile.vector_stores
    def fail(request, state):
        if request.route == "vector_stores.files.create":
            return {"status": "failed", "last_error": {"code": "unsupported_file", "message": "Not today."}}
        return None

    use_profile(profile)
    vs = client.vector_stores.create()
    done = client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("w.txt", WHALES))
    assert done.status == "failed" and done.last_error.code == "unsupported_file"
    assert client.vector_stores.retrieve(vs.id).file_counts.failed == 1
    assert client.vector_stores.search(vs.id, query="whales").data == []


async def test_async_batch_upload_and_poll(aclient, use_profile):
    use_profile(Profile())
    vs = await aclient.vector_stores.create(name="async")
    batch = await aclient.vector_stores.file_batches.upload_and_poll(vs.id, files=[("w.txt", WHALES), ("b.txt", BREAD)])
    assert batch.file_counts.completed == 2
    hits = await aclient.vector_stores.search(vs.id, query="sourdough starter")
    assert hits.data[0].filename == "b.txt"


def test_base_url_face(base_client, use_profile):
    use_profile(Profile())
    vs = base_client.vector_stores.create(name="plain")
    assert base_client.vector_stores.files.upload_and_poll(vector_store_id=vs.id, file=("r.txt", ROCKETS)).status == "completed"


# -- the engine by table --------------------------------------------------------------------

AUTH = {"authorization": "Bearer sk-test-1234567890", "content-type": "application/json"}


def call(engine: Engine, method: str, path: str, body=None, query=None):
    raw = json.dumps(body).encode() if body is not None else b""
    reply = engine.handle(Request(method, path, AUTH, raw, query=query or {}))
    return reply.status, json.loads(reply.body)


@pytest.mark.parametrize("body, param, code", [
    ({"name": 3}, "name", "invalid_type"),
    ({"file_ids": "file-x"}, "file_ids", "invalid_type"),
    ({"metadata": {"k": 1}}, "metadata.k", "invalid_type"),
    ({"expires_after": {"anchor": "created_at", "days": 3}}, "expires_after.anchor", "invalid_value"),
    ({"expires_after": {"anchor": "last_active_at", "days": 0}}, "expires_after.days", "invalid_value"),
    ({"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}}},
     "chunking_strategy.static.max_chunk_size_tokens", "invalid_value"),
    ({"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}}},
     "chunking_strategy.static.chunk_overlap_tokens", "invalid_value"),
    ({"chunking_strategy": {"type": "magic"}}, "chunking_strategy.type", "invalid_value"),
])
def test_bad_store_create_gets_400s(body, param, code):
    status, payload = call(Engine(), "POST", "/v1/vector_stores", body)
    assert status == 400 and (payload["error"]["param"], payload["error"]["code"]) == (param, code)


def test_bad_search_and_list_parameters_get_400s():
    engine = Engine()
    _, vs = call(engine, "POST", "/v1/vector_stores", {})
    path = f"/v1/vector_stores/{vs['id']}"
    for body, param in [({}, "query"), ({"query": "x", "max_num_results": 51}, "max_num_results"),
                        ({"query": "x", "filters": {"type": "like", "key": "a", "value": 1}}, "filters.type"),
                        ({"query": [1]}, "query[0]")]:
        status, payload = call(engine, "POST", path + "/search", body)
        assert status == 400 and payload["error"]["param"] == param
    assert call(engine, "GET", path + "/files", query={"filter": "done"})[1]["error"]["param"] == "filter"
    assert call(engine, "POST", path + "/file_batches", {})[1]["error"]["param"] == "file_ids"
    assert call(engine, "POST", path + "/file_batches", {"file_ids": []})[1]["error"]["code"] == "invalid_value"


def test_chunks_respect_size_and_overlap():
    text = " ".join(f"w{i}" for i in range(1000))
    pieces = vector_stores.chunks(text, max_tokens=100, overlap=20)
    assert all(tokens.count(p) <= 100 for p in pieces) and len(pieces) > 10
    first, second = pieces[0].split(), pieces[1].split()
    shared = next(n for n in range(len(second), 0, -1) if first[-n:] == second[:n])  # the overlap, in words
    assert 15 <= tokens.count(" ".join(second[:shared])) <= 20
    assert pieces[-1].endswith("w999") and pieces[0].startswith("w0")
    assert vector_stores.chunks("") == [] and vector_stores.chunks("one short text") == ["one short text"]


def test_rank_is_normalised_deterministic_and_ties_keep_order():
    passages = [("a", "cats and dogs"), ("b", "dogs dogs dogs"), ("c", "nothing here"), ("d", "cats and dogs")]
    ranked = vector_stores.rank(vector_stores._terms("dogs"), passages)
    assert [tag for _, _, tag, _ in ranked] == ["b", "a", "d"]  # "c" has no query term; a and d tie in order
    assert all(0 < score <= 1 for score, *_ in ranked)
    assert ranked == vector_stores.rank(vector_stores._terms("dogs"), passages)
    assert vector_stores.rank([], passages) == [] and vector_stores.rank(["x"], []) == []


def test_knobs_and_a_search_handler():
    profile = Profile()
    fixed = {"file_id": "file-x", "filename": "x.txt", "score": 0.9, "attributes": {}, "content": [{"type": "text", "text": "hi"}]}
    profile.vector_stores(processing_reads=0, handler=lambda request, state: [fixed] if request.route == "vector_stores.search" else None)
    engine = Engine(profile)
    file_id = files.store(engine.state, filename="w.txt", purpose="assistants", content=WHALES)["id"]
    _, vs = call(engine, "POST", "/v1/vector_stores", {"file_ids": [file_id]})
    assert vs["status"] == "completed" and vs["file_counts"]["completed"] == 1  # processing_reads=0: done at once
    status, page = call(engine, "POST", f"/v1/vector_stores/{vs['id']}/search", {"query": "whales"})
    assert status == 200 and page["data"] == [fixed] and page["object"] == "vector_store.search_results.page"


def test_pending_work_survives_a_snapshot_and_restore():
    engine = Engine()
    file_id = files.store(engine.state, filename="w.txt", purpose="assistants", content=WHALES)["id"]
    _, vs = call(engine, "POST", "/v1/vector_stores", {})
    _, batch = call(engine, "POST", f"/v1/vector_stores/{vs['id']}/file_batches", {"file_ids": [file_id]})
    assert batch["status"] == "in_progress"
    again = Engine(state=type(engine.state)())
    again.state.restore(json.loads(json.dumps(engine.state.snapshot())))
    _, after = call(again, "GET", f"/v1/vector_stores/{vs['id']}/file_batches/{batch['id']}")
    assert after["status"] == "completed" and after["file_counts"]["completed"] == 1
    assert call(again, "GET", f"/v1/vector_stores/{vs['id']}")[1]["usage_bytes"] == len(WHALES)
