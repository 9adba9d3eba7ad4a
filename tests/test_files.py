"""Files and uploads through the real SDK, and runs through the base-URL face."""

from __future__ import annotations

import hashlib

import openai
import pytest

from proxy_addon import Profile


@pytest.fixture
def fresh(client, use_profile):
    use_profile(Profile())
    return client


def test_files_keep_exact_bytes_and_list_by_purpose(fresh):
    blob = bytes(range(256)) * 40 + b"\r\n--boundary-like--\r\n"
    made = [fresh.files.create(file=(f"f{i}.bin", blob + bytes([i])), purpose="assistants" if i % 2 else "batch")
            for i in range(6)]
    assert made[0].bytes == len(blob) + 1 and made[0].status == "processed"
    assert fresh.files.content(made[3].id).content == blob + bytes([3])
    assistants_files = fresh.files.list(purpose="assistants")
    assert [f.filename for f in assistants_files] == ["f5.bin", "f3.bin", "f1.bin"]
    page = fresh.files.list(limit=2, order="asc")
    assert [f.filename for f in page.data] == ["f0.bin", "f1.bin"] and page.has_more
    assert len(list(fresh.files.list(limit=2))) == 6  # auto-pagination
    assert fresh.files.retrieve(made[2].id).filename == "f2.bin"
    assert fresh.files.delete(made[2].id).deleted
    with pytest.raises(openai.NotFoundError, match=f"No such File object: {made[2].id}"):
        fresh.files.content(made[2].id)
    with pytest.raises(openai.BadRequestError, match="purpose"):
        fresh.files.create(file=("x.txt", b"x"), purpose="nonsense")


def test_upload_parts_complete_in_the_order_given(fresh):
    parts = [b"first-", b"second-", b"third"]
    upload = fresh.uploads.create(bytes=sum(map(len, parts)), filename="joined.txt", mime_type="text/plain", purpose="assistants")
    assert upload.status == "pending"
    ids = [fresh.uploads.parts.create(upload.id, data=p).id for p in parts]
    done = fresh.uploads.complete(upload.id, part_ids=[ids[2], ids[0], ids[1]], md5=hashlib.md5(b"third" + b"first-" + b"second-").hexdigest())
    assert done.status == "completed" and done.file.filename == "joined.txt"
    assert fresh.files.content(done.file.id).content == b"third" + b"first-" + b"second-"
    with pytest.raises(openai.BadRequestError, match="status 'completed'"):
        fresh.uploads.cancel(upload.id)


def test_upload_errors_and_cancel(fresh):
    upload = fresh.uploads.create(bytes=10, filename="x.txt", mime_type="text/plain", purpose="assistants")
    part = fresh.uploads.parts.create(upload.id, data=b"short")
    with pytest.raises(openai.BadRequestError, match="5 bytes"):
        fresh.uploads.complete(upload.id, part_ids=[part.id])
    with pytest.raises(openai.BadRequestError, match="No such part"):
        fresh.uploads.complete(upload.id, part_ids=["part_nope"])
    assert fresh.uploads.cancel(upload.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        fresh.uploads.parts.create(upload.id, data=b"late")
    with pytest.raises(openai.NotFoundError):
        fresh.uploads.cancel("upload_nope")


def test_the_sdk_chunked_upload_helper(fresh, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 100)
    upload = fresh.uploads.upload_file_chunked(file=path, mime_type="application/octet-stream", purpose="assistants", part_size=3000)
    assert upload.status == "completed"
    assert fresh.files.content(upload.file.id).content == path.read_bytes()


def test_runs_through_the_base_url_face(base_client, use_profile):
    use_profile(Profile())
    thread = base_client.beta.threads.create(messages=[{"role": "user", "content": "via base url"}])
    run = base_client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="asst_x")
    assert run.status == "completed"
    assert "via base url" in base_client.beta.threads.messages.list(thread.id).data[0].content[0].text.value
