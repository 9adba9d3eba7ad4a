"""The state store: pagination, concurrency, preloads, and `run --state FILE` surviving restarts and kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import random
import stat
import signal
import subprocess
import threading
import time

import openai
import pytest
import requests

from conftest import API_KEY, openai_fake_cmd, run_cli
from proxy_addon import OpenAIError, Profile
from proxy_addon.engine.state import Collection, State
from proxy_addon.state_file import StateFile


def ids(objs):
    return [o["id"] for o in objs]


def test_collection_pages_in_both_orders_around_deletions():
    col = Collection()
    for i in range(10):
        col.add({"id": f"o{i}"})
    col.remove("o5")
    assert ids(col.page(limit=3)[0]) == ["o9", "o8", "o7"] and col.page(limit=3)[1]
    assert ids(col.page(limit=3, after="o7")[0]) == ["o6", "o4", "o3"]
    assert ids(col.page(limit=3, order="asc", after="o3")[0]) == ["o4", "o6", "o7"]
    assert ids(col.page(limit=2, before="o3")[0]) == ["o6", "o4"]
    assert col.page(limit=20, order="asc") == ([{"id": f"o{i}"} for i in range(10) if i != 5], False)
    assert col.page(limit=3, after="o5") == ([], False)  # a vanished cursor never restarts the walk
    for i in range(200):
        col.add({"id": f"x{i}"})
    for i in range(150):
        col.remove(f"x{i}")  # compaction keeps the order
    assert ids(col.page(limit=3, order="asc", after="o9")[0]) == ["x150", "x151", "x152"]


def test_snapshot_round_trip_and_bad_snapshots():
    state = State()
    state.put("assistants", {"id": "asst_1", "name": "a"})
    state.put_blob("file-1", b"\x00\xffbytes")
    copy = State()
    copy.restore(json.loads(json.dumps(state.snapshot())))
    assert copy.get("assistants", "asst_1") == {"id": "asst_1", "name": "a"} and copy.blob("file-1") == b"\x00\xffbytes"
    assert copy.new_id("x_") == state.new_id("x_")  # the id sequence continues where it was
    for bad in ({}, {"version": 1}, {"version": 1, "seq": 0, "collections": {"a": [{"no": "id"}]}, "blobs": {}}):
        with pytest.raises(ValueError):
            State().restore(bad)


def test_auto_pagination_walks_ten_thousand_objects(client, use_profile):
    profile = Profile()
    for i in range(10_000):
        profile.state.put("assistants", {"id": f"asst_{i:05d}", "model": "gpt-4o"})
    use_profile(profile)
    walked = [a.id for a in client.beta.assistants.list(limit=100, order="asc")]
    assert walked == [f"asst_{i:05d}" for i in range(10_000)]


def test_pagination_params_are_checked(client, use_profile):
    use_profile(Profile())
    with pytest.raises(openai.BadRequestError, match="limit"):
        client.beta.assistants.list(limit=101)
    with pytest.raises(openai.BadRequestError, match="order"):
        client.beta.assistants.list(order="sideways")


async def test_concurrent_creates_never_lose_or_duplicate(proxy_env, use_profile):
    use_profile(Profile())
    async with openai.AsyncOpenAI(api_key=API_KEY, max_retries=0) as client:
        made = await asyncio.gather(*[client.beta.assistants.create(model="gpt-4o", name=f"n{i}") for i in range(100)])
        files = await asyncio.gather(*[client.files.create(file=(f"f{i}.txt", f"content {i}".encode()), purpose="assistants") for i in range(30)])
        listed = [a async for a in client.beta.assistants.list(limit=100)]
        listed_files = (await client.files.list()).data
    assert len({a.id for a in made}) == 100 and {a.id for a in listed} == {a.id for a in made}
    assert sorted(a.name for a in listed) == sorted(f"n{i}" for i in range(100))
    assert {f.id for f in listed_files} == {f.id for f in files}


def test_concurrent_creates_from_many_threads(proxy_env, use_profile, fake):
    use_profile(Profile())
    thread_id = openai.OpenAI(api_key=API_KEY, max_retries=0).beta.threads.create().id
    errors = []

    def worker(n):
        try:
            with openai.OpenAI(api_key=API_KEY, max_retries=0) as c:
                for i in range(10):
                    c.beta.threads.messages.create(thread_id, role="user", content=f"{n}-{i}")
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with openai.OpenAI(api_key=API_KEY, max_retries=0) as c:
        texts = [m.content[0].text.value for m in c.beta.threads.messages.list(thread_id, limit=100)]
    assert sorted(texts) == sorted(f"{n}-{i}" for n in range(8) for i in range(10))


def test_malformed_multipart_is_a_400(fake, use_profile):
    use_profile(Profile())
    url = f"{fake.base_url}/files"
    auth = {"Authorization": f"Bearer {API_KEY}"}
    not_multipart = requests.post(url, headers={**auth, "Content-Type": "application/json"}, data=b"{}")
    assert not_multipart.status_code == 400 and not_multipart.json()["error"]["code"] == "invalid_multipart"
    broken = requests.post(url, headers={**auth, "Content-Type": "multipart/form-data; boundary=XYZ"}, data=b"--XYZ\r\nnonsense")
    assert broken.status_code == 400 and set(broken.json()["error"]) == {"message", "type", "param", "code"}
    no_file = requests.post(url, headers=auth, files={"purpose": (None, "assistants")})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"


# -- run --state FILE -------------------------------------------------------------------


def _start(tmp_path, state_file, *extra):
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--quiet", "--port", "0", "--confdir", str(tmp_path / "conf"),
                             "--state", str(state_file), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "OPENAI_BASE_URL=" in line:
            return proc, line.split("OPENAI_BASE_URL=")[1].strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"run did not start: {proc.stderr.read()}")


def test_state_survives_a_restart(tmp_path):
    state_file = tmp_path / "state.db"
    proc, base_url = _start(tmp_path, state_file)
    try:
        with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as c:
            assistant = c.beta.assistants.create(model="gpt-4o", name="kept")
            file = c.files.create(file=("a.bin", b"\x00\x01kept bytes"), purpose="assistants")
            c.beta.assistants.update(assistant.id, name="renamed")
            gone = c.beta.assistants.create(model="gpt-4o", name="gone")
            c.beta.assistants.delete(gone.id)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    proc, base_url = _start(tmp_path, state_file)
    try:
        with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as c:
            assert c.beta.assistants.retrieve(assistant.id).name == "renamed"
            assert [a.id for a in c.beta.assistants.list()] == [assistant.id]
            assert c.files.content(file.id).content == b"\x00\x01kept bytes"
            assert c.beta.assistants.create(model="gpt-4o").id not in {assistant.id, gone.id}  # ids continue
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


@pytest.mark.parametrize("content", [b'{"version": 1, "collections": {', b"not a state at all", b"SQLite format 3\x00garbage" * 50])
def test_an_unusable_state_file_stops_run_and_is_kept(tmp_path, content):
    state_file = tmp_path / "state.db"
    state_file.write_bytes(content)
    done = run_cli("run", "--port", "0", "--confdir", str(tmp_path / "conf"), "--state", str(state_file), timeout=30)
    assert done.returncode == 2 and str(state_file) in done.stderr and "left as it is" in done.stderr
    assert state_file.read_bytes() == content


def test_another_programs_sqlite_database_is_not_taken_for_a_state(tmp_path):
    import sqlite3

    state_file = tmp_path / "other.db"
    with sqlite3.connect(state_file) as db:
        db.execute("CREATE TABLE t (x)")
    before = state_file.read_bytes()
    done = run_cli("run", "--port", "0", "--confdir", str(tmp_path / "conf"), "--state", str(state_file), timeout=30)
    assert done.returncode == 2 and "not an openai-fake state" in done.stderr
    assert state_file.read_bytes() == before


def test_an_old_json_snapshot_is_converted_in_place(tmp_path):
    state_file = tmp_path / "state.json"
    old = State()
    old.put("assistants", {"id": "asst_old", "object": "assistant", "created_at": 1, "name": "from v1", "model": "gpt-4o",
                           "description": None, "instructions": None, "tools": [], "metadata": {}, "top_p": 1.0,
                           "temperature": 1.0, "response_format": "auto", "tool_resources": {}, "reasoning_effort": None})
    old._seq = 40
    state_file.write_text(json.dumps(old.snapshot()))
    proc, base_url = _start(tmp_path, state_file)
    try:
        with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0) as c:
            assert c.beta.assistants.retrieve("asst_old").name == "from v1"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert state_file.read_bytes().startswith(b"SQLite format 3\x00")
    assert StateFile.read(state_file)["collections"]["assistants"][0]["id"] == "asst_old"
    assert not list(tmp_path.glob(f".{state_file.name}.*"))


def test_writing_one_change_writes_one_row_and_a_failed_write_changes_nothing(tmp_path):
    """The store is told each change, not the whole state; when it cannot save one, the call is a 500
    and the state in memory is as it was (acknowledged means saved)."""
    state = State()
    store = StateFile(state, tmp_path / "state.db")
    store.load()
    store.start()
    state.put_blob("file-big", b"x" * 1_000_000)
    writes = []
    real_put = store.put
    store.put = lambda collection, obj: (writes.append((collection, obj["id"])), real_put(collection, obj))
    state.put("assistants", {"id": "asst_1"})
    assert writes == [("assistants", "asst_1")]

    def full_disk(*_):
        raise OSError(28, "No space left on device")

    store.put = full_disk
    with pytest.raises(OpenAIError) as failed:
        state.put("assistants", {"id": "asst_2"})
    assert failed.value.status == 500 and "No space left" in str(failed.value.message)
    assert state.get("assistants", "asst_2") is None
    store.stop()
    assert [a["id"] for a in StateFile.read(store.path)["collections"]["assistants"]] == ["asst_1"]


def test_kill_9_loses_no_acknowledged_object_and_reuses_no_id(tmp_path):
    state_file = tmp_path / "state.db"
    rng = random.Random(7)
    acknowledged: list[str] = []
    for _round in range(5):
        proc, base_url = _start(tmp_path, state_file)
        stop = threading.Event()
        created: list[str] = []

        def writer():
            with openai.OpenAI(api_key=API_KEY, base_url=base_url, max_retries=0, timeout=5) as c:
                while not stop.is_set():
                    try:
                        created.append(c.beta.assistants.create(model="gpt-4o").id)
                    except openai.APIConnectionError:
                        return

        threads = [threading.Thread(target=writer) for _ in range(4)]  # a concurrent create loop
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(created) < 20 and time.monotonic() < deadline:  # in full swing (the first call warms up)
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        assert len(created) >= 20, "the create loop never got going"
        saved = {a["id"] for a in StateFile.read(state_file)["collections"].get("assistants", [])}
        acknowledged += created
        # Every object whose creation was acknowledged is in the file, up to the kill (issue 12: none lost).
        assert set(created) <= saved
        assert set(acknowledged) <= saved  # earlier rounds were loaded and kept
        assert len(set(acknowledged)) == len(acknowledged)  # no id handed out twice across restarts
        for path in [state_file, *tmp_path.glob(state_file.name + "-*")]:  # -wal and -shm hold the same bytes
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_killed_fakes_leftover_temporary_is_removed_at_start(tmp_path):
    state_file = tmp_path / "state.db"
    leftover = tmp_path / f".{state_file.name}.99999.tmp"
    leftover.write_text("half a conversion")
    state_file.write_bytes(b"")  # an empty file is a new state
    os.chmod(state_file, 0o644)
    proc, base_url = _start(tmp_path, state_file)
    try:
        assert not leftover.exists()
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


# -- every change is saved where it happens ------------------------------------------------------


def _handle(engine, method, path, body=None, query=None):
    from proxy_addon.engine import Request

    raw = json.dumps(body).encode() if body is not None else b""
    reply = engine.handle(Request(method, path, {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
                                  raw, query=query or {}))
    return reply.status, json.loads(reply.body)


def _engine_on(path, profile=None):
    from proxy_addon.engine import Engine

    engine = Engine(profile or Profile())
    store = StateFile(engine.state, path)
    store.load()
    store.start()
    return engine, store


def test_a_background_response_part_way_is_saved_part_way(tmp_path):
    engine, store = _engine_on(tmp_path / "state.db")
    status, created = _handle(engine, "POST", "/v1/responses", {"model": "gpt-4o", "input": "Later", "background": True})
    assert (status, created["status"]) == (200, "queued")
    assert _handle(engine, "GET", f"/v1/responses/{created['id']}")[1]["status"] == "in_progress"
    store.stop()
    engine, store = _engine_on(tmp_path / "state.db")  # a restart: the step taken is not taken again
    assert _handle(engine, "GET", f"/v1/responses/{created['id']}")[1]["status"] == "completed"
    store.stop()


def test_a_refused_cancel_keeps_what_time_did_to_the_run(tmp_path):
    """A run that time completed, then a cancel (400: it is completed): the reply message is made once."""
    profile = Profile()
    profile.beta.threads.runs(progress=0.05)
    engine, store = _engine_on(tmp_path / "state.db", profile)
    assistant = _handle(engine, "POST", "/v1/assistants", {"model": "gpt-4o"})[1]
    run = _handle(engine, "POST", "/v1/threads/runs", {"assistant_id": assistant["id"],
                                                       "thread": {"messages": [{"role": "user", "content": "Hi"}]}})[1]
    time.sleep(0.3)
    path = f"/v1/threads/{run['thread_id']}/runs/{run['id']}"
    status, refused = _handle(engine, "POST", path + "/cancel")
    assert status == 400 and "completed" in refused["error"]["message"]
    assert _handle(engine, "GET", path)[1]["status"] == "completed"
    replies = [m for m in _handle(engine, "GET", f"/v1/threads/{run['thread_id']}/messages")[1]["data"] if m["role"] == "assistant"]
    assert len(replies) == 1
    store.stop()


def test_stores_are_named_by_path_and_a_deleted_thread_takes_its_tree():
    from proxy_addon.engine import stores

    from proxy_addon.engine import Engine

    engine = Engine(Profile())
    assistant = _handle(engine, "POST", "/v1/assistants", {"model": "gpt-4o"})[1]
    run = _handle(engine, "POST", "/v1/threads/runs", {"assistant_id": assistant["id"],
                                                       "thread": {"messages": [{"role": "user", "content": "Hi"}]}})[1]
    thread_id = run["thread_id"]
    _handle(engine, "GET", f"/v1/threads/{thread_id}/runs/{run['id']}")  # the run moves on, making its steps
    state = engine.state
    assert [m["role"] for m in state.messages(thread_id)][:1] == ["user"]
    assert [r["id"] for r in state.runs(thread_id)] == [run["id"]]
    assert state.all(stores.MESSAGES.key(thread_id=thread_id)) == state.messages(thread_id)
    assert state.get(stores.RUN_PROGRESS, run["id"]) is not None
    assert _handle(engine, "DELETE", f"/v1/threads/{thread_id}")[0] == 200
    left = [name for name in state.snapshot()["collections"] if name.startswith(f"threads/{thread_id}")]
    assert left == [] and state.messages(thread_id) == [] and state.get(stores.RUN_PROGRESS, run["id"]) is None
