"""Containers that behave: the real SDK makes containers, puts files in them (uploaded, or copied from an uploaded
file by id), reads them back byte for byte, lists and deletes them, and sees a container expire on the fake's
clock, through both faces."""

from __future__ import annotations

import io
import os
import time

import openai
import pytest

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request
from proxy_addon.codec import to_json


@pytest.fixture(params=["proxy", "base-url"])
def sdk(request):
    """The SDK client of each face."""
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


def _status(call) -> tuple[int, dict]:
    with pytest.raises(openai.APIStatusError) as raised:
        call()
    return raised.value.status_code, (raised.value.body or {})


def test_files_uploaded_and_copied_by_id_come_back_byte_for_byte(sdk, use_profile):
    use_profile(Profile())
    data = os.urandom(3000) + b"\x00\xff end"  # bytes no text codec would keep
    csv = b"a,b\n1,2\n"
    uploaded = sdk.files.create(file=("table.csv", io.BytesIO(csv)), purpose="user_data")
    container = sdk.containers.create(name="analysis", file_ids=[uploaded.id], memory_limit="4g")
    assert (container.status, container.memory_limit, container.name) == ("running", "4g", "analysis")
    assert container.expires_after.model_dump() == {"anchor": "last_active_at", "minutes": 20}
    assert container.id.startswith("cntr_") and container.last_active_at >= container.created_at

    raw = sdk.containers.files.create(container.id, file=("blob.bin", io.BytesIO(data)))
    copied = sdk.containers.files.create(container.id, file_id=uploaded.id)
    for made, name, size in ((raw, "blob.bin", len(data)), (copied, "table.csv", len(csv))):
        assert made.object == "container.file" and made.id.startswith("cfile_") and made.container_id == container.id
        assert made.source == "user" and made.bytes == size
        assert made.path.startswith("/mnt/data/") and made.path.endswith("-" + name)

    listed = sdk.containers.files.list(container.id)
    # newest first: the copy, the upload, and the file container.create copied in
    assert [f.id for f in listed.data][:2] == [copied.id, raw.id] and len(listed.data) == 3
    assert listed.has_more is False
    at_create = listed.data[2]
    assert at_create.path.endswith("-table.csv") and at_create.bytes == len(csv)

    assert sdk.containers.files.retrieve(raw.id, container_id=container.id).path == raw.path
    body = sdk.containers.files.content.with_raw_response.retrieve(raw.id, container_id=container.id)
    assert body.content == data and body.headers["content-type"] == "application/octet-stream"
    table = sdk.containers.files.content.with_raw_response.retrieve(copied.id, container_id=container.id)
    assert table.content == csv and table.headers["content-type"] == "text/csv"
    assert sdk.containers.files.content.retrieve(at_create.id, container_id=container.id).read() == csv

    sdk.containers.files.delete(raw.id, container_id=container.id)
    assert [f.id for f in sdk.containers.files.list(container.id)] == [copied.id, at_create.id]
    status, body = _status(lambda: sdk.containers.files.retrieve(raw.id, container_id=container.id))
    assert status == 404 and body["type"] == "invalid_request_error"

    assert [c.id for c in sdk.containers.list(name="analysis")] == [container.id]
    assert list(sdk.containers.list(name="other")) == []
    sdk.containers.delete(container.id)
    status, _ = _status(lambda: sdk.containers.retrieve(container.id))
    assert status == 404
    assert sdk.containers.list().data == []


def test_a_container_expires_on_the_fakes_clock_and_any_use_keeps_it_alive(sdk, use_profile):
    profile = Profile()
    profile.containers(time_scale=1200)  # 20 minutes in 1 s: under load a call through the proxy can take 0.15 s
    use_profile(profile)
    container = sdk.containers.create(name="short-lived", expires_after={"anchor": "last_active_at", "minutes": 20})
    sdk.containers.files.create(container.id, file=("a.txt", io.BytesIO(b"kept")))
    uploaded = sdk.files.create(file=("b.txt", io.BytesIO(b"b")), purpose="user_data")

    first = sdk.containers.retrieve(container.id).last_active_at
    for _ in range(6):  # 6 x 0.05 s: 6 minutes in all, each call well inside 20 minutes (1 s) of the last
        time.sleep(0.05)
        assert sdk.containers.files.list(container.id).data[0].bytes == 4
    alive = sdk.containers.retrieve(container.id)
    assert alive.status == "running"
    assert alive.last_active_at - first >= 6 * 0.05 * 1200  # its clock ran at the fake's pace

    time.sleep(1.3)  # 26 minutes on the fake's clock
    expired = sdk.containers.retrieve(container.id)
    assert expired.status == "expired" and expired.last_active_at == alive.last_active_at
    assert [c.status for c in sdk.containers.list()] == ["expired"]
    for use in (lambda: sdk.containers.files.list(container.id),
                lambda: sdk.containers.files.create(container.id, file=("c.txt", io.BytesIO(b"c"))),
                lambda: sdk.containers.files.create(container.id, file_id=uploaded.id)):
        status, body = _status(use)
        assert (status, body["message"], body["type"]) == (400, "Container is expired.", "invalid_request_error")
    sdk.containers.delete(container.id)  # an expired container can still be deleted
    assert _status(lambda: sdk.containers.retrieve(container.id))[0] == 404


def test_a_container_nobody_touches_is_not_kept_alive_by_listing(base_client, use_profile):
    profile = Profile()
    profile.containers(time_scale=60_000)  # a minute in 1 ms
    use_profile(profile)
    container = base_client.containers.create(name="idle", expires_after={"anchor": "last_active_at", "minutes": 1})
    for _ in range(3):
        time.sleep(0.05)
        base_client.containers.list()
    assert base_client.containers.retrieve(container.id).status == "expired"


@pytest.mark.parametrize("body, param, code", [
    ({}, "name", "missing_required_parameter"),
    ({"name": 5}, "name", "invalid_type"),
    ({"name": "x", "memory_limit": "2g"}, "memory_limit", "invalid_value"),
    ({"name": "x", "expires_after": {"anchor": "created_at", "minutes": 5}}, "expires_after.anchor", "invalid_value"),
    ({"name": "x", "expires_after": {"anchor": "last_active_at"}}, "expires_after.minutes", "missing_required_parameter"),
    ({"name": "x", "expires_after": {"anchor": "last_active_at", "minutes": "5"}}, "expires_after.minutes", "invalid_type"),
    ({"name": "x", "expires_after": {"anchor": "last_active_at", "minutes": 0}}, "expires_after.minutes", "invalid_value"),
    ({"name": "x", "file_ids": "file-1"}, "file_ids", "invalid_type"),
    ({"name": "x", "flavour": "big"}, "flavour", "unknown_parameter"),
])
def test_a_bad_container_body_is_the_apis_400(base_client, use_profile, body, param, code):
    use_profile(Profile())
    status, error = _status(lambda: base_client.post("/containers", body=body, cast_to=object))
    assert (status, error["param"], error["code"], error["type"]) == (400, param, code, "invalid_request_error")
    assert base_client.containers.list().data == []  # nothing was made


def test_unknown_files_and_bad_file_bodies(base_client, use_profile):
    use_profile(Profile())
    status, error = _status(lambda: base_client.containers.create(name="x", file_ids=["file-nope"]))
    assert (status, error["param"]) == (404, "file_ids[0]") and "file-nope" in error["message"]
    assert base_client.containers.list().data == []
    container = base_client.containers.create(name="x")
    status, error = _status(lambda: base_client.containers.files.create(container.id, file_id="file-nope"))
    assert (status, error["param"]) == (404, "file_id")
    status, error = _status(lambda: base_client.containers.files.create(container.id))
    assert (status, error["param"], error["code"]) == (400, "file", "missing_required_parameter")
    status, error = _status(lambda: base_client.containers.files.list("cntr_nope"))
    assert status == 404 and "cntr_nope" in error["message"]


def test_the_engine_keeps_bytes_no_json_could_carry():
    """Without sockets: an upload's bytes, every value 0-255, come back as they went, and its name types them."""
    engine = Engine(Profile())
    headers = {"authorization": "Bearer sk-test", "content-type": "application/json"}
    made = engine.handle(Request("POST", "/v1/containers", headers, to_json({"name": "n"}))).payload
    data = bytes(range(256)) * 4
    boundary = "b0undary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chart.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    upload = engine.handle(Request("POST", f"/v1/containers/{made['id']}/files",
                                   {**headers, "content-type": f"multipart/form-data; boundary={boundary}"}, form))
    assert upload.status == 200, upload.body
    back = engine.handle(Request("GET", f"/v1/containers/{made['id']}/files/{upload.payload['id']}/content", headers))
    assert back.body == data and back.headers["content-type"] == "image/png"
