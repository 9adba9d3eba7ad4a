"""The record/replay library (proxy_addon/cassettes), by table: no sockets, the engine's own Request and Reply."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from proxy_addon import Profile
from proxy_addon.cassettes import (DEFAULT_IGNORE, FORMAT, MISS_CODE, Cassette, Exchange, Matching, Miss, Recorded, Recorder,
                                   clear, has_exchanges, paced, read, to_profile)
from proxy_addon.engine import Engine, Request
from proxy_addon.engine.streams import StreamReply, schedule
from proxy_addon.journal import redact
from proxy_addon.profile import load

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-proj-" + "Zq8rT2vLw9XcB4nM7pK1sD6fG3hJ0aYe5uQ"
SESSION_KEY = "sess-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv"
ORG, PROJECT, COOKIE = "org-9uZKpRvTq1Xw", "proj_4LmNbVcXzAsD", "__cf_bm=Xy12Qw34Er56Ty78"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about whales"}]}
JSON = {"content-type": "application/json"}
CHAT_ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Whales are big."},
                            "finish_reason": "stop", "logprobs": None}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}


def chat(body=CHAT, headers=None, query=None, path="/v1/chat/completions") -> Request:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Request("POST", path, {"authorization": f"Bearer {KEY}", **JSON, **(headers or {})}, raw, query or {})


def answer_of(n: int) -> dict:
    return {**CHAT_ANSWER, "id": f"chatcmpl-{n}"}


def multipart(fields: dict[str, str], file: bytes, filename="data.jsonl", boundary="b0undary") -> tuple[dict, bytes]:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/jsonl\r\n\r\n".encode() + file + b"\r\n")
    return {"content-type": f"multipart/form-data; boundary={boundary}"}, b"".join(parts) + f"--{boundary}--\r\n".encode()


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- the format -------------------------------------------------------------------------------------------


def test_an_exchange_is_one_readable_file_named_after_its_endpoint_and_read_back_the_same(tmp_path):
    recorder = Recorder(tmp_path)
    path = recorder.record(chat(headers={"openai-beta": "assistants=v2", "x-stainless-os": "Linux"}), 200,
                           {**JSON, "x-request-id": "req_1", "set-cookie": COOKIE, "content-length": "99"},
                           json.dumps(CHAT_ANSWER).encode(), latency=0.25)
    assert re.fullmatch(r"chat\.completions\.create-[0-9a-f]{6}-01\.json", path.name)
    text = path.read_text()
    assert text.startswith('{\n  "format": 1,\n') and text.endswith("}\n")  # indented, keys sorted
    data = json.loads(text)
    assert data["format"] == FORMAT and data["route"] == "chat.completions.create"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", data["recorded_at"])
    assert data["request"] == {"method": "POST", "path": "/v1/chat/completions", "query": {},
                               "headers": {"content-type": "application/json", "openai-beta": "assistants=v2"},
                               "json": CHAT}
    assert data["response"] == {"status": 200, "headers": {"content-type": "application/json", "x-request-id": "req_1"},
                                "json": CHAT_ANSWER, "latency": 0.25}

    found = Cassette.load(tmp_path).answer(chat())
    assert isinstance(found, Recorded) and found.name == path.name
    assert (found.status, found.headers["x-request-id"], found.latency) == (200, "req_1", 0.25)
    assert json.loads(found.body()) == CHAT_ANSWER and found.reply().payload == CHAT_ANSWER
    assert not found.is_stream and found.chunks == []


def test_the_headers_the_sdks_read_are_kept_and_replayed(tmp_path):
    read_by_the_sdks = {"x-request-id": "req_1", "retry-after-ms": "20", "x-should-retry": "true",
                        "x-ratelimit-remaining-requests": "9", "openai-poll-after-ms": "250"}  # create_and_poll's wait
    run = Request("GET", "/v1/threads/thread_1/runs/run_1", {}, b"")
    Recorder(tmp_path).record(run, 200, {**JSON, **read_by_the_sdks, "openai-processing-ms": "12", "server": "x"},
                              b'{"id": "run_1", "status": "in_progress"}')
    found = Cassette.load(tmp_path).answer(run)
    assert found.headers == {**JSON, **read_by_the_sdks}
    assert found.reply().headers["openai-poll-after-ms"] == "250"


@pytest.mark.parametrize("method, path, query, name", [
    ("GET", "/v1/models", {}, "models.list"),
    ("GET", "/v1/threads/thread_abc/runs/run_1", {}, "beta.threads.runs.retrieve"),
    ("POST", "/v1/embeddings", {}, "embeddings.create"),
    ("GET", "/v1/files", {"limit": "2"}, "files.list"),
    ("GET", "/v1/no/such/route", {}, "get.v1.no.such.route"),  # a path the table lacks: named by itself
])
def test_files_are_named_by_the_route_table(tmp_path, method, path, query, name):
    written = Recorder(tmp_path).record(Request(method, path, {}, b"", query), 200, JSON, b"{}")
    assert written.name.startswith(name + "-") and written.name.endswith("-01.json")


def test_repeats_are_numbered_and_never_overwrite_even_from_two_recorders(tmp_path):
    first, second = Recorder(tmp_path), Recorder(tmp_path)  # as two processes would: neither knows the other's numbers
    names = [first.record(chat(), 200, JSON, b'{"n": 1}').name, second.record(chat(), 200, JSON, b'{"n": 2}').name,
             first.record(chat(), 200, JSON, b'{"n": 3}').name]
    assert [n[-8:] for n in names] == ["-01.json", "-02.json", "-03.json"] and len({n[:-8] for n in names}) == 1
    assert [json.loads(Path(tmp_path, n).read_text())["response"]["json"]["n"] for n in names] == [1, 2, 3]
    assert Recorder(tmp_path).record(chat(), 200, JSON, b"{}").name.endswith("-04.json")  # a later run goes on


def test_clear_removes_a_recordings_files_and_nothing_else(tmp_path):
    Recorder(tmp_path).record(chat(), 200, {"content-type": "audio/mpeg"}, b"ID3\x00")
    (tmp_path / ".partial-x.tmp").write_bytes(b"{")
    (tmp_path / "README.md").write_text("mine")
    assert clear(tmp_path) == 3 and files(tmp_path) == ["README.md"]
    assert clear(tmp_path / "nowhere") == 0


def test_clear_before_a_time_keeps_what_was_recorded_since(tmp_path):
    """What pytest-xdist workers recording into one directory in one run need: each clears the earlier runs'."""
    recorder = Recorder(tmp_path)
    old = recorder.record(chat(), 200, {"content-type": "audio/mpeg"}, b"ID3\x00", started=time.time() - 3600)
    (tmp_path / ".partial-old.tmp").write_bytes(b"{")
    os.utime(tmp_path / ".partial-old.tmp", (time.time() - 3600,) * 2)
    run_started = time.time() - 60
    new = recorder.record(chat(), 200, {"content-type": "audio/mpeg"}, b"ID3\x01")
    (tmp_path / ".partial-new.tmp").write_bytes(b"{")  # another worker's write in progress
    assert clear(tmp_path, before=run_started) == 3  # the old exchange, its side file, the old leftover
    assert files(tmp_path) == sorted([".partial-new.tmp", new.name, new.name.replace(".json", ".response.bin")])
    assert not old.exists() and has_exchanges(tmp_path) and not has_exchanges(tmp_path / "nowhere")


# -- redaction ------------------------------------------------------------------------------------------


def test_no_key_reaches_any_written_file(tmp_path):
    """A key in every place a request or an answer can carry one; then every written byte is searched."""
    everywhere = {"authorization": f"Bearer {KEY}", "api-key": KEY, "x-api-key": KEY, "openai-organization": ORG,
                  "openai-project": PROJECT, "cookie": COOKIE, "accept": f"application/json; note={KEY}"}
    for recorder in (Recorder(tmp_path), Recorder(tmp_path, request_headers=[*everywhere, "content-type"],
                                                  response_headers=["content-type", "set-cookie", "openai-organization",
                                                                    "openai-project", "x-echo"])):
        query = {"api_key": KEY, "api-key": KEY, "key": KEY, "token": SESSION_KEY, "limit": "2", "note": f"k={KEY}"}
        body = {**CHAT, "messages": [{"role": "user", "content": f"my key is {KEY}, and {SESSION_KEY}"}],
                "metadata": {KEY: "as a name"}, "tools": [{"type": "function", "function": {"name": "f", "description": KEY}}]}
        reply_headers = {**JSON, "set-cookie": COOKIE, "openai-organization": ORG, "openai-project": PROJECT, "x-echo": KEY}
        kept_headers = recorder.record(Request("POST", "/v1/chat/completions", {**everywhere, **JSON}, json.dumps(body).encode(),
                                               query), 200, reply_headers, json.dumps({**CHAT_ANSWER, "echo": KEY}).encode())
        recorder.record(Request("POST", f"/v1/chat/completions/{KEY}", {**everywhere, "content-type": "text/plain"},
                                f"plain {KEY}".encode()), 400, {"content-type": "text/plain"}, f"no {KEY}".encode())
        form_headers, form = multipart({"purpose": f"batch {KEY}"}, f'{{"key": "{KEY}"}}\n'.encode())
        recorder.record(Request("POST", "/v1/files", {**everywhere, **form_headers}, form), 200,
                        {"content-type": "application/octet-stream"}, f"raw {KEY} bytes".encode())
        recorder.record(chat({**CHAT, "stream": True}, headers=everywhere), 200, {"content-type": "text/event-stream"},
                        chunks=[(0.01, f'data: {{"echo": "{KEY}"}}\n\n'.encode()), (0.02, b"data: [DONE]\n\n")])
        session = recorder.realtime(Request("GET", "/v1/realtime", everywhere, b"", {"model": "gpt-realtime", "api_key": KEY}))
        session.client({"type": "session.update", "session": {"instructions": KEY}})
        session.server(json.dumps({"type": "error", "error": {"message": f"bad {SESSION_KEY}"}}))
        session.finish()

    written = files(tmp_path)
    assert len([n for n in written if n.endswith(".json")]) == 10
    assert any(n.endswith(".request.bin") for n in written) and any(n.endswith(".response.bin") for n in written)
    everything = b"".join((tmp_path / n).read_bytes() for n in written)
    for secret in (KEY, SESSION_KEY, ORG, PROJECT, COOKIE, KEY[8:], SESSION_KEY[5:], "Xy12Qw34Er56Ty78"):
        assert secret.encode() not in everything, secret
    assert redact(KEY).encode() in everything and redact(SESSION_KEY).encode() in everything  # the journal's mask
    masked = json.loads(kept_headers.read_text())  # the second recorder's, which keeps the credential headers
    assert masked["request"]["headers"]["authorization"] == "sk-...e5uQ"
    assert masked["request"]["headers"]["openai-organization"] == "<redacted>"
    assert masked["request"]["query"]["api_key"] == "sk-...e5uQ" and masked["request"]["query"]["limit"] == "2"
    assert masked["response"]["headers"]["set-cookie"] == "<redacted>"


def test_the_accounts_ids_the_client_sent_are_taken_out_of_the_request_and_the_answer_too(tmp_path):
    """The API repeats the caller's organization in some answers (a fine-tuning job's `organization_id`): the
    ids the client's headers name reach the disk nowhere, in a body, a stream or a side file, and the request
    that repeats one still matches."""
    headers = {"authorization": f"Bearer {KEY}", "openai-organization": ORG, "openai-project": PROJECT, **JSON}
    job = Request("POST", "/v1/fine_tuning/jobs", headers,
                  json.dumps({"model": "gpt-4o-mini", "training_file": "file-1", "suffix": PROJECT}).encode())
    recorder = Recorder(tmp_path)
    recorder.record(job, 200, JSON,
                    json.dumps({"id": "ftjob-1", "organization_id": ORG, "note": f"{PROJECT} and {ORG}"}).encode())
    recorder.record(Request("GET", "/v1/files/file-1/content", headers, b""), 200,
                    {"content-type": "application/octet-stream"}, f"\x00{ORG}\xff".encode("latin-1"))
    form_headers, form = multipart({"purpose": ORG}, f"{PROJECT}\n".encode())
    recorder.record(Request("POST", "/v1/files", {**headers, **form_headers}, form), 200, JSON, b"{}")
    recorder.record(chat({**CHAT, "stream": True}, headers={"openai-project": PROJECT}), 200,
                    {"content-type": "text/event-stream"}, chunks=[(0.01, f'data: {{"p": "{PROJECT}"}}\n\n'.encode())])
    session = recorder.realtime(Request("GET", "/v1/realtime", headers, b"", {"model": "gpt-realtime"}))
    session.server({"type": "session.created", "session": {"organization": ORG}})
    session.finish()
    for path in tmp_path.iterdir():
        assert ORG.encode() not in path.read_bytes() and PROJECT.encode() not in path.read_bytes(), path
    cassette = Cassette.load(tmp_path)
    answered = cassette.answer(job)
    assert answered.exchange.request["json"]["suffix"] == "<redacted>"
    assert answered.reply().payload == {"id": "ftjob-1", "organization_id": "<redacted>", "note": "<redacted> and <redacted>"}
    assert isinstance(cassette.answer(Request("POST", "/v1/files", {**headers, **form_headers}, form)), Recorded)
    assert cassette.answer(Request("GET", "/v1/files/file-1/content", {}, b"")).body() == b"\x00<redacted>\xff"
    assert Recorder(tmp_path / "short").record(  # a short value is no id: words are left alone
        Request("GET", "/v1/models", {"openai-project": "default"}, b""), 200, JSON, b'{"owned_by": "default"}'
    ).read_text().count('"default"') == 1


def test_a_request_with_a_key_in_its_body_still_matches_its_recording(tmp_path):
    """Keys are masked the same way when recording and when answering, so the masked bodies compare equal;
    key-carrying query parameters are not compared at all (another key replays the same recording)."""
    body = {**CHAT, "messages": [{"role": "user", "content": f"use {KEY}"}]}
    Recorder(tmp_path).record(chat(body, query={"api_key": KEY}), 200, JSON, json.dumps(answer_of(1)).encode())
    cassette = Cassette.load(tmp_path)
    assert isinstance(cassette.answer(chat(body, query={"api_key": "sk-another-key-altogether-123456"})), Recorded)


# -- matching -------------------------------------------------------------------------------------------

BASE = {"model": "gpt-4o", "temperature": 0.5, "messages": [{"role": "user", "content": "Hi", "name": "ann"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]}


@pytest.mark.parametrize("requested, matching, matches", [
    (dict(reversed(list(BASE.items()))), None, True),  # key order
    ({**BASE, "messages": [dict(reversed(list(BASE["messages"][0].items())))]}, None, True),  # nested key order
    ({**BASE, "stream_options": {"include_usage": True}, "user": "u1", "metadata": {"a": "b"}, "store": True,
      "safety_identifier": "s", "prompt_cache_key": "p"}, None, True),  # the fields ignored by default
    ({**BASE, "temperature": 0.7}, None, False),
    ({**BASE, "temperature": 0.7}, Matching(ignore={"temperature"}), True),
    ({**BASE, "store": True}, Matching(keep={"store"}), False),
    ({**BASE, "messages": [{**BASE["messages"][0], "name": "bob"}]}, None, False),
    ({**BASE, "messages": [{**BASE["messages"][0], "name": "bob"}]}, Matching(ignore={"messages.*.name"}), True),
    ({**BASE, "messages": [{**BASE["messages"][0], "name": "bob"}]}, Matching(ignore={"messages.0.name"}), True),
    ({**BASE, "temperature": 0.9, "top_p": 1}, Matching(only={"model", "messages"}), True),
    ({**BASE, "model": "gpt-4.1"}, Matching(only={"model", "messages"}), False),
    ({**BASE, "temperature": 0.9}, Matching(routes={"chat.completions.create": Matching(ignore={"temperature"})}), True),
    ({**BASE, "temperature": 0.9}, Matching(routes={"beta.chat.completions.create": Matching(ignore={"temperature"})}), True),
    ({**BASE, "temperature": 0.9}, Matching(routes={"embeddings.create": Matching(ignore={"temperature"})}), False),
    ({**BASE, "tools": [{"type": "function", "function": {**BASE["tools"][0]["function"], "strict": True}}]},
     Matching(ignore={"tools.*.function.strict"}), True),
])
def test_matching_is_semantic(tmp_path, requested, matching, matches):
    Recorder(tmp_path).record(chat(BASE), 200, JSON, b"{}")
    assert isinstance(Cassette.load(tmp_path, matching).answer(chat(requested)), Recorded) is matches


def test_numbers_compare_as_json_does_and_paths_ignore_a_trailing_slash(tmp_path):
    Recorder(tmp_path).record(chat({**BASE, "temperature": 1, "n": 2}), 200, JSON, b"{}")
    cassette = Cassette.load(tmp_path)
    assert isinstance(cassette.answer(chat({**BASE, "temperature": 1.0, "n": 2}, path="/v1/chat/completions/")), Recorded)
    assert isinstance(cassette.answer(chat({**BASE, "temperature": True, "n": 2})), Miss)  # true is not 1


def test_the_query_is_compared_and_its_fields_can_be_ignored(tmp_path):
    Recorder(tmp_path).record(Request("GET", "/v1/files", {}, b"", {"limit": "2", "order": "desc"}), 200, JSON, b"{}")
    listing = lambda **q: Request("GET", "/v1/files", {}, b"", q)  # noqa: E731
    assert isinstance(Cassette.load(tmp_path).answer(listing(order="desc", limit="2")), Recorded)
    assert isinstance(Cassette.load(tmp_path).answer(listing(limit="3", order="desc")), Miss)
    assert isinstance(Cassette.load(tmp_path, Matching(ignore={"?limit"})).answer(listing(limit="3", order="desc")), Recorded)


@pytest.mark.parametrize("bad, error", [
    (dict(ignore="temperature"), TypeError),  # a string is not a set of paths
    (dict(routes={"chat.completion.create": Matching()}), ValueError),
    (dict(routes={"chat.completions.create": Matching(routes={"embeddings.create": Matching()})}), TypeError),
])
def test_matching_refuses_what_it_cannot_mean(bad, error):
    with pytest.raises(error):
        Matching(**bad)


def test_the_ignored_fields_are_documented():
    page = (ROOT / "docs" / "guide" / "record-replay.md").read_text()
    assert all(f"`{name}`" in page for name in DEFAULT_IGNORE)


# -- order ----------------------------------------------------------------------------------------------


def test_answers_to_one_request_are_given_in_recorded_order_then_the_last_is_held(tmp_path):
    recorder, started = Recorder(tmp_path), time.time()
    for n in (1, 2, 3):
        recorder.record(chat(), 200, JSON, json.dumps(answer_of(n)).encode(), started=started + n)
    recorder.record(chat({**CHAT, "model": "gpt-4.1"}), 200, JSON, json.dumps(answer_of(9)).encode(), started=started)
    cassette = Cassette.load(tmp_path)
    ids = [json.loads(cassette.answer(chat()).body())["id"] for _ in range(5)]
    assert ids == ["chatcmpl-1", "chatcmpl-2", "chatcmpl-3", "chatcmpl-3", "chatcmpl-3"]
    assert json.loads(cassette.answer(chat({**CHAT, "model": "gpt-4.1"})).body())["id"] == "chatcmpl-9"  # its own order
    cassette.rewind()
    assert json.loads(cassette.answer(chat()).body())["id"] == "chatcmpl-1"


def test_recorded_order_is_by_time_across_files_a_looser_matching_joins(tmp_path):
    recorder, started = Recorder(tmp_path), time.time()
    recorder.record(chat({**CHAT, "temperature": 0.2}), 200, JSON, json.dumps(answer_of(2)).encode(), started=started + 2)
    recorder.record(chat({**CHAT, "temperature": 0.9}), 200, JSON, json.dumps(answer_of(1)).encode(), started=started + 1)
    cassette = Cassette.load(tmp_path, Matching(ignore={"temperature"}))
    assert [json.loads(cassette.answer(chat()).body())["id"] for _ in range(2)] == ["chatcmpl-1", "chatcmpl-2"]


# -- misses ---------------------------------------------------------------------------------------------


def test_a_miss_names_the_nearest_recorded_request_and_what_differs(tmp_path):
    recorder = Recorder(tmp_path)
    near = recorder.record(chat({**CHAT, "temperature": 0.2}), 200, JSON, b"{}")
    recorder.record(chat({"model": "gpt-3.5", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]}),
                    200, JSON, b"{}")
    recorder.record(Request("POST", "/v1/embeddings", JSON, json.dumps(CHAT).encode()), 200, JSON, b"{}")  # closer body, other path
    asked = {**CHAT, "messages": [{"role": "user", "content": "Tell me about dolphins"}], "temperature": 0.2, "seed": 7}
    miss = Cassette.load(tmp_path).answer(chat(asked))
    assert isinstance(miss, Miss) and miss.nearest.name == near.name and miss.count == 2
    assert [str(d) for d in miss.differences] == [
        'messages.0.content: recorded "Tell me about whales", requested "Tell me about dolphins"',
        "seed: recorded (absent), requested 7",
    ]
    error = miss.error()
    assert (error.status, error.type, error.code, error.param) == (404, "invalid_request_error", MISS_CODE, "messages.0.content")
    assert error.headers["x-should-retry"] == "false"
    payload = json.loads(error.reply().body)["error"]
    assert payload["message"] == miss.message and near.name in payload["message"] and str(tmp_path) in payload["message"]
    assert "POST /v1/chat/completions" in payload["message"] and "dolphins" in payload["message"]


def test_a_miss_prefers_the_same_endpoint_then_the_same_method_and_says_when_nothing_was_recorded(tmp_path):
    recorder = Recorder(tmp_path)
    run = recorder.record(Request("GET", "/v1/threads/thread_a/runs/run_1", {}, b""), 200, JSON, b"{}")
    recorder.record(Request("GET", "/v1/models", {}, b""), 200, JSON, b"{}")
    recorder.record(chat(), 200, JSON, b"{}")
    miss = Cassette.load(tmp_path).answer(Request("GET", "/v1/threads/thread_b/runs/run_1", {}, b""))
    assert miss.nearest.name == run.name and [d.path for d in miss.differences] == ["path"]
    assert "recorded \"/v1/threads/thread_a/runs/run_1\"" in miss.message
    long_diff = Cassette.load(tmp_path).answer(chat({**CHAT, **{f"f{i:02}": i for i in range(20)}}))
    assert len(long_diff.differences) == 8 and long_diff.message.endswith("f07: recorded (absent), requested 7 (and 12 more).")
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = Cassette.load(empty).answer(chat())
    assert nothing.nearest is None and nothing.message.endswith("the recording is empty.") and nothing.error().status == 404


def test_loading_a_directory_that_is_not_there_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no recording at"):
        Cassette.load(tmp_path / "missing")


# -- uploads and binary bodies ----------------------------------------------------------------------------


def test_multipart_bodies_match_on_their_fields_and_file_hashes(tmp_path):
    headers, body = multipart({"purpose": "batch"}, b'{"custom_id": "1"}\n', boundary="first")
    Recorder(tmp_path).record(Request("POST", "/v1/files", headers, body), 200, JSON, b'{"id": "file-1"}')
    data = json.loads(next(tmp_path.glob("files.create-*.json")).read_text())["request"]
    assert data["form"] == [{"name": "purpose", "value": "batch"},
                            {"name": "file", "filename": "data.jsonl", "content_type": "application/jsonl",
                             "sha256": hashlib.sha256(b'{"custom_id": "1"}\n').hexdigest(), "size": 19}]
    cassette = Cassette.load(tmp_path)
    same = multipart({"purpose": "batch"}, b'{"custom_id": "1"}\n', boundary="another-boundary")
    assert isinstance(cassette.answer(Request("POST", "/v1/files", *same)), Recorded)
    other_file = cassette.answer(Request("POST", "/v1/files", *multipart({"purpose": "batch"}, b'{"custom_id": "2"}\n')))
    assert isinstance(other_file, Miss) and [d.path for d in other_file.differences] == ["file.sha256"]
    other_field = cassette.answer(Request("POST", "/v1/files", *multipart({"purpose": "fine-tune"}, b'{"custom_id": "1"}\n')))
    assert [str(d) for d in other_field.differences] == ['purpose: recorded "batch", requested "fine-tune"']
    renamed = Request("POST", "/v1/files", *multipart({"purpose": "batch"}, b'{"custom_id": "1"}\n', filename="b.jsonl"))
    assert isinstance(cassette.answer(renamed), Miss)
    assert isinstance(Cassette.load(tmp_path, Matching(ignore={"file.filename"})).answer(renamed), Recorded)


@pytest.mark.parametrize("keep_uploads", [True, False])
def test_uploads_are_kept_as_side_files_or_as_their_hash_by_choice(tmp_path, keep_uploads):
    headers, body = multipart({"purpose": "assistants"}, bytes(range(256)) * 4)
    written = Recorder(tmp_path, keep_uploads=keep_uploads).record(Request("POST", "/v1/files", headers, body), 200, JSON, b"{}")
    side = written.with_name(written.name[:-5] + ".request.bin")
    assert side.exists() is keep_uploads
    exchange = read(tmp_path).exchanges[0]
    assert exchange.request["raw"]["size"] == len(body) and ("file" in exchange.request["raw"]) is keep_uploads
    if keep_uploads:
        assert exchange.side("request") == body
    else:
        with pytest.raises(FileNotFoundError, match="not kept"):
            exchange.side("request")
    assert isinstance(Cassette.load(tmp_path).answer(Request("POST", "/v1/files", headers, body)), Recorded)  # the hash is enough


def test_binary_answers_are_side_files_read_only_when_answered(tmp_path):
    speech = {"model": "gpt-4o-mini-tts", "input": "Hello", "voice": "alloy"}
    audio = b"ID3\x04\x00" + bytes(range(256)) * 8
    written = Recorder(tmp_path).record(Request("POST", "/v1/audio/speech", JSON, json.dumps(speech).encode()), 200,
                                        {"content-type": "audio/mpeg"}, audio)
    side = tmp_path / (written.name[:-5] + ".response.bin")
    assert side.read_bytes() == audio
    data = json.loads(written.read_text())["response"]
    assert data["raw"] == {"file": side.name, "sha256": data["raw"]["sha256"], "size": len(audio)}
    cassette = Cassette.load(tmp_path)
    found = cassette.answer(Request("POST", "/v1/audio/speech", JSON, json.dumps(speech).encode()))
    assert found.body() == audio and found.reply().body == audio and found.headers["content-type"] == "audio/mpeg"
    side.unlink()  # loading and matching never needed it: only the body does
    found = cassette.answer(Request("POST", "/v1/audio/speech", JSON, json.dumps(speech).encode()))
    with pytest.raises(FileNotFoundError):
        found.body()


@pytest.mark.parametrize("content_type, body, kind", [
    ("application/json", b'{"a": 1}', "json"),
    ("application/json", b"{not json", "text"),
    ("text/plain; charset=utf-8", "h\u00e9".encode(), "text"),
    ("application/octet-stream", b"\x00\x01", "raw"),
    ("image/png", b"\x89PNG\r\n", "raw"),
])
def test_response_bodies_are_kept_as_what_they_are(tmp_path, content_type, body, kind):
    written = Recorder(tmp_path).record(chat(), 200, {"content-type": content_type}, body)
    response = json.loads(written.read_text())["response"]
    assert kind in response
    assert Cassette.load(tmp_path).answer(chat()).body() == (body if kind != "json" else b'{"a":1}')


# -- streams -------------------------------------------------------------------------------------------


def test_a_stream_is_kept_event_by_event_with_its_timing_and_replayed_at_a_scaled_pace(tmp_path):
    events = [b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b"data: [DONE]\n\n"]
    stream = Recorder(tmp_path).stream(chat({**CHAT, "stream": True}), 200, {"content-type": "text/event-stream"}, latency=0.1)
    wire = b"".join(events)
    stream.feed(wire[:5], at=0.2)  # pieces that cut events apart, as the network does
    stream.feed(wire[5:20], at=0.3)
    stream.feed(wire[20:40], at=0.7)
    stream.feed(wire[40:], at=0.75)
    written = stream.finish()
    assert stream.finish() == written and len(list(tmp_path.glob("*.json"))) == 1  # written once
    chunks = json.loads(written.read_text())["response"]["chunks"]
    assert chunks == [{"at": 0.3, "data": events[0].decode()}, {"at": 0.7, "data": events[1].decode()},
                      {"at": 0.75, "data": events[2].decode()}]

    found = Cassette.load(tmp_path).answer(chat({**CHAT, "stream": True}))
    assert found.is_stream and found.latency == 0.1 and found.body() == wire
    assert [c.data for c in found.chunks] == events
    for speed, waits in [(1.0, [0.3, 0.4, 0.05]), (2.0, [0.15, 0.2, 0.025]), (0.5, [0.6, 0.8, 0.1]),
                         (0, [0, 0, 0]), (float("inf"), [0, 0, 0])]:
        got = found.paced(speed)
        assert [d for _, d in got] == events
        assert [w for w, _ in got] == pytest.approx(waits), speed
    reply = found.stream_reply(speed=2.0)  # what every face sends: the engine's stream, with the recorded waits
    assert isinstance(reply, StreamReply) and reply.headers["content-type"] == "text/event-stream"
    assert [(w, d) for w, d, _ in schedule(reply)] == [(pytest.approx(w), d) for w, d in found.paced(2.0)]
    assert paced([(0.5, b"a"), (0.4, b"b")]) == [(0.5, b"a"), (0.0, b"b")]  # a clock that went back
    for bad in (-1, float("nan"), "fast", True):
        with pytest.raises(ValueError):
            paced([], bad)


def test_a_stream_that_is_not_server_sent_events_is_kept_whole(tmp_path):
    stream = Recorder(tmp_path).stream(Request("POST", "/v1/audio/speech", JSON, b'{"input": "hi"}'), 200,
                                       {"content-type": "audio/mpeg"})
    stream.feed(b"ID3")
    stream.feed(b"\x00\x01")
    written = stream.finish()
    assert (tmp_path / (written.name[:-5] + ".response.bin")).read_bytes() == b"ID3\x00\x01"
    assert "chunks" not in json.loads(written.read_text())["response"]


def test_a_realtime_session_is_an_event_log(tmp_path):
    handshake = Request("GET", "/v1/realtime", {"authorization": f"Bearer {KEY}"}, b"", {"model": "gpt-realtime"})
    session = Recorder(tmp_path).realtime(handshake)
    session.server('{"type": "session.created"}', at=0.01)
    session.client({"type": "response.create"}, at=0.5)
    session.server(b'{"type": "response.done"}', at=1.25)
    written = session.finish()
    assert written.name.startswith("realtime.connect-")
    found = Cassette.load(tmp_path).answer(handshake)
    assert found.events == [{"at": 0.01, "direction": "server", "event": {"type": "session.created"}},
                            {"at": 0.5, "direction": "client", "event": {"type": "response.create"}},
                            {"at": 1.25, "direction": "server", "event": {"type": "response.done"}}]
    assert paced([(e["at"], e["event"]["type"]) for e in found.events], 5.0)[1] == (pytest.approx(0.098), "response.create")


# -- crashes --------------------------------------------------------------------------------------------


def test_what_a_crash_leaves_is_skipped_and_reported(tmp_path, caplog):
    recorder = Recorder(tmp_path)
    good = recorder.record(chat(), 200, JSON, json.dumps(answer_of(1)).encode())
    (tmp_path / ".partial-k3j2.tmp").write_bytes(b'{"format": 1, "requ')  # a write that never finished
    (tmp_path / "audio.speech.create-abcdef-01.response.bin").write_bytes(b"ID3")  # its JSON never came
    (tmp_path / "chat.completions.create-abcdef-01.json").write_bytes(b'{"format": 1')  # not ours: a broken hand edit
    cassette = Cassette.load(tmp_path)
    assert [e.name for e in cassette.exchanges] == [good.name]
    assert sorted(p.name for p in cassette.leftovers) == [".partial-k3j2.tmp", "audio.speech.create-abcdef-01.response.bin"]
    assert [p.name for p, _ in cassette.unreadable] == ["chat.completions.create-abcdef-01.json"]
    assert "did not finish" in caplog.text and "not a readable exchange" in caplog.text
    assert json.loads(cassette.answer(chat()).body())["id"] == "chatcmpl-1"
    assert recorder.record(chat(), 200, JSON, b"{}").name.endswith("-02.json")  # recording goes on beside them


@pytest.mark.parametrize("edit, why", [
    (lambda d: d["response"]["raw"].update(file="../../etc/passwd"), "not a file of the recording"),  # never read outside it
    (lambda d: d.update(format=FORMAT + 1), "this openai-fake reads format 1"),
    (lambda d: d["response"].pop("status"), "without a status"),
    (lambda d: d["response"].update(chunks=[{"at": "soon", "data": "x"}]), "chunks that are not"),
    (lambda d: d["request"].pop("path"), "no request method and path"),
    (lambda d: d.pop("response"), "neither a response nor events"),
])
def test_a_file_the_format_does_not_allow_is_skipped_with_the_reason(tmp_path, edit, why):
    written = Recorder(tmp_path).record(chat(), 200, {"content-type": "audio/mpeg"}, b"ID3")
    data = json.loads(written.read_text())
    edit(data)
    written.write_text(json.dumps(data))
    cassette = Cassette.load(tmp_path)
    assert cassette.exchanges == [] and why in cassette.unreadable[0][1]


def test_kill_9_while_recording_leaves_every_written_exchange_readable(tmp_path):
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from proxy_addon.cassettes import Recorder
from proxy_addon.engine import Request
recorder = Recorder(sys.argv[1])
body = json.dumps({{"data": "x" * 200_000}}).encode()
n = 0
while True:
    n += 1
    recorder.record(Request("POST", "/v1/embeddings", {{"content-type": "application/json"}},
                            json.dumps({{"model": "m", "input": str(n)}}).encode()), 200, {{"content-type": "application/json"}}, body)
"""
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.json"))) < 5:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.kill()  # SIGKILL: no cleanup of any kind
        child.wait()
    contents = read(tmp_path)
    assert contents.unreadable == [] and len(contents.exchanges) >= 5
    assert all(e.response["json"]["data"] == "x" * 200_000 for e in contents.exchanges)
    assert all(p.name.startswith(".partial-") for p in contents.leftovers)


# -- profiles from a recording ---------------------------------------------------------------------------


def test_a_recording_becomes_a_profile_that_answers_the_same(tmp_path):
    recording = tmp_path / "recording"
    recorder, started = Recorder(recording), time.time()
    recorder.record(chat(), 200, {**JSON, "x-request-id": "req_a"}, json.dumps(answer_of(1)).encode(), started=started)
    recorder.record(chat({**CHAT, "model": "gpt-4.1"}), 200, JSON, json.dumps(answer_of(2)).encode(), started=started + 1)
    recorder.record(chat(), 429, {**JSON, "retry-after": "1"},
                    json.dumps({"error": {"message": "Slow down", "type": "requests", "param": None,
                                          "code": "rate_limit_exceeded"}}).encode(), started=started + 2)
    stream_events = [b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n',
                     b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": " there"}}]}\n\n', b"data: [DONE]\n\n"]
    recorder.record(chat({**CHAT, "stream": True}), 200, {"content-type": "text/event-stream"},
                    chunks=[(0.1, stream_events[0]), (0.15, stream_events[1]), (0.5, stream_events[2])], started=started + 3)
    speech = json.dumps({"model": "gpt-4o-mini-tts", "input": "Hello", "voice": "alloy"}).encode()
    audio = b"ID3\x04" + bytes(range(200))
    recorder.record(Request("POST", "/v1/audio/speech", JSON, speech), 200, {"content-type": "audio/mpeg"}, audio,
                    started=started + 4)
    recorder.record(Request("GET", "/v1/nope", {}, b""), 404, JSON, b'{"error": {}}', started=started + 5)
    recorder.realtime(Request("GET", "/v1/realtime", {}, b"", {"model": "gpt-realtime"})).finish()

    module = tmp_path / "elsewhere" / "replayed.py"
    module.parent.mkdir()
    source = to_profile(recording, at=module)
    compile(source, str(module), "exec")
    assert "def chat_completions_create(request, state):" in source and "'Tell me about whales'" in source
    assert "RECORDING = Path(__file__).parent / '../recording'" in source
    assert "# - get.v1.nope" in source and "Realtime session" in source
    module.write_text(source)
    profile = load(str(module))
    assert isinstance(profile, Profile)

    engine = Engine(profile)
    auth = {"authorization": "Bearer sk-test-1234567890"}

    def send(request: Request):
        request.headers = {**auth, **request.headers}
        return engine.handle(request)

    # Each request gets what was recorded for it, in order, then the last again: 1 then the 429 for the first,
    # 2 for gpt-4.1, the stream for the stream (asked for out of the recorded order).
    replies = [send(chat({**CHAT, "stream": True})), send(chat()), send(chat({**CHAT, "model": "gpt-4.1"})),
               send(chat()), send(chat()), send(chat({**CHAT, "stream": True}))]
    assert [json.loads(r.body)["id"] for r in replies[1:3]] == ["chatcmpl-1", "chatcmpl-2"]
    assert json.loads(replies[1].body) == answer_of(1)
    for refused in replies[3:5]:
        assert refused.status == 429 and json.loads(refused.body)["error"]["code"] == "rate_limit_exceeded"
        assert refused.headers["retry-after"] == "1"
    # A request nothing recorded: the route's answers of its kind, in recorded order.
    unrecorded = {**CHAT, "messages": [{"role": "user", "content": "Something else"}]}
    assert json.loads(send(chat(unrecorded)).body)["id"] == "chatcmpl-1"
    assert json.loads(send(chat(unrecorded)).body)["id"] == "chatcmpl-2"
    assert isinstance(send(chat({**unrecorded, "stream": True})), StreamReply)
    for stream in (replies[0], replies[5]):
        assert isinstance(stream, StreamReply) and [e.data for e in stream.events] == stream_events
        assert [wait for wait, _, _ in schedule(stream)] == pytest.approx([0.1, 0.05, 0.35])  # the recorded pace
    spoken = send(Request("POST", "/v1/audio/speech", JSON, speech))
    assert (spoken.status, spoken.body, spoken.headers["content-type"]) == (200, audio, "audio/mpeg")
    assert send(Request("GET", "/v1/nope", {}, b"")).status == 404  # left out: the fake's own answer


@pytest.mark.parametrize("method, path, host, query, name", [
    ("POST", "/v1/chat/completions", "api.openai.com", {}, "chat.completions.create"),
    ("GET", "/v1/files/file-1", "api.openai.com", {}, "files.retrieve"),
    # Azure's classic paths need their api-version to be routed at all
    ("POST", "/openai/deployments/gpt4o/chat/completions", "res.openai.azure.com", {"api-version": "2024-10-21"},
     "chat.completions.create"),
    ("POST", "/openai/deployments/gpt4o/chat/completions", "res.openai.azure.com", {}, None),
    ("GET", "/v1/nowhere", "api.openai.com", {}, None),
])
def test_an_exchange_is_named_by_the_route_the_fake_would_answer(method, path, host, query, name):
    from proxy_addon.cassettes.matching import endpoint_of

    assert endpoint_of(method, path, host, query) == name


def test_an_azure_exchange_is_recorded_under_its_route(tmp_path):
    recorder = Recorder(tmp_path)
    request = Request("POST", "/openai/deployments/gpt4o/chat/completions", {"content-type": "application/json"},
                      b'{"messages": []}', query={"api-version": "2024-10-21"}, host="res.openai.azure.com")
    written = recorder.record(request, 200, {"content-type": "application/json"}, b'{"id": "x"}')
    assert Path(written).name.startswith("chat.completions.create-")


# -- fresh ids ------------------------------------------------------------------------------------------


def test_minted_ids_are_the_answers_ids_not_the_ones_a_client_chose(tmp_path):
    from proxy_addon.cassettes.ids import minted_ids

    exchanges = [
        Exchange(tmp_path / "a.json", {"request": {"method": "POST", "path": "/v1/batches", "json": {
            "custom_id": "task_abcdefghij", "input_file_id": "file-uploadedBefore1"}},
            "response": {"status": 200, "json": {"id": "batch_0123456789abcdef", "input_file_id": "file-uploadedBefore1",
                                                  "custom_id": "task_abcdefghij", "file_ids": ["file-Zz9Yy8Xx7Ww6"],
                                                  "model": "gpt-4o-2024-08-06", "note": "resp_notAnIdKey12"}}}),
        Exchange(tmp_path / "b.json", {"request": {"method": "GET", "path": "/v1/batches/batch_0123456789abcdef"},
                                       "response": {"status": 200, "chunks": [{"at": 0, "data": 'event: x\ndata: {"response": '
                                                                               '{"id": "resp_aaaaaaaaaaaa"}, "item_id": "msg_bbbbbbbbbbbb"}\n\n'}]}}),
    ]
    assert minted_ids(exchanges) == {"batch_0123456789abcdef", "file-Zz9Yy8Xx7Ww6", "resp_aaaaaaaaaaaa", "msg_bbbbbbbbbbbb"}


def test_an_id_map_answers_fresh_ids_of_the_same_shape_and_maps_them_back():
    from proxy_addon.cassettes.ids import IdMap

    ids = IdMap(frozenset({"chatcmpl-AbC123xyz789", "resp_67ab0c12ffee", "call_aB3dEf6hI9"}))
    out = ids.outgoing(b'{"id":"chatcmpl-AbC123xyz789","x":"/v1/responses/resp_67ab0c12ffee","call":"call_aB3dEf6hI9",'
                       b'"other":"file-notMinted12345"}')
    answered = orjson.loads(out)
    fresh = answered["id"]
    assert fresh.startswith("chatcmpl-") and len(fresh) == len("chatcmpl-AbC123xyz789") and fresh != "chatcmpl-AbC123xyz789"
    resp = answered["x"].rsplit("/", 1)[1]
    assert re.fullmatch(r"resp_[0-9a-f]{12}", resp) and resp != "resp_67ab0c12ffee"  # hex stays hex
    assert answered["other"] == "file-notMinted12345"
    assert ids.outgoing(b"chatcmpl-AbC123xyz789") == fresh.encode()  # the same fresh id every time
    assert ids.incoming(out) == (b'{"id":"chatcmpl-AbC123xyz789","x":"/v1/responses/resp_67ab0c12ffee","call":'
                                 b'"call_aB3dEf6hI9","other":"file-notMinted12345"}')
    ids.forget()
    assert ids.incoming(fresh.encode()) == fresh.encode()  # after a reset, the old fresh ids stand for nothing
    assert ids.outgoing(b"chatcmpl-AbC123xyz789") != fresh.encode()
