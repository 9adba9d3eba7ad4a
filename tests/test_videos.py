"""Videos that render: the real SDK makes a Sora job, polls it to completed, downloads a real MP4 that PyAV
decodes to the asked size and length, a WebP thumbnail and a JPEG spritesheet that Pillow opens; remixes it,
fails it on purpose, deletes it, and meets the API's 400s for bad bodies, through both faces."""

from __future__ import annotations

import base64
import io
import time

import av
import openai
import pytest
import requests
from PIL import Image

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request, lifecycle

from conftest import API_KEY

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning")


@pytest.fixture(params=["proxy", "base-url"])
def sdk(request):
    """The SDK client of each face."""
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


@pytest.fixture
def emitted(monkeypatch) -> list[tuple[str, str]]:
    """The webhook events the videos announce (`lifecycle.emit`), as (type, id)."""
    seen: list[tuple[str, str]] = []
    original = lifecycle.emit

    def record(call, event_type, object_id):
        seen.append((event_type, object_id))
        original(call, event_type, object_id)

    monkeypatch.setattr(lifecycle, "emit", record)
    return seen


def _status(call) -> tuple[int, dict]:
    with pytest.raises(openai.APIStatusError) as raised:
        call()
    return raised.value.status_code, (raised.value.body or {})


def _poll(sdk, video_id: str, reads: int = 10) -> list:
    seen = []
    for _ in range(reads):
        video = sdk.videos.retrieve(video_id)
        seen.append(video)
        if video.status in ("completed", "failed"):
            return seen
    raise AssertionError(f"video {video_id} never ended: {[v.status for v in seen]}")


def _decoded(data: bytes) -> tuple[int, int, float, str, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return stream.width, stream.height, container.duration / 1_000_000, stream.codec_context.name, frames


def test_a_video_is_polled_to_completed_and_its_mp4_decodes_to_the_asked_size_and_length(sdk, use_profile, emitted):
    use_profile(Profile())
    video = sdk.videos.create(prompt="A calico cat playing a piano on stage", model="sora-2-pro", size="1280x720",
                              seconds="8")
    assert (video.status, video.progress, video.object, video.model) == ("queued", 0, "video", "sora-2-pro")
    assert (video.size, video.seconds, video.completed_at, video.error) == ("1280x720", "8", None, None)
    assert video.id.startswith("video_")
    seen = _poll(sdk, video.id)
    assert [(v.status, v.progress) for v in seen] == [("in_progress", 25), ("in_progress", 50), ("in_progress", 75),
                                                     ("completed", 100)]
    done = seen[-1]
    assert done.completed_at >= done.created_at and done.expires_at == done.completed_at + 3600
    assert emitted == [("video.completed", video.id)]

    mp4 = sdk.videos.with_raw_response.download_content(video.id)
    assert mp4.headers["content-type"] == "video/mp4"
    width, height, seconds, codec, frames = _decoded(mp4.content)
    assert (width, height, codec) == (1280, 720, "h264") and abs(seconds - 8) <= 0.25 and frames >= 8
    assert len(mp4.content) < 200_000  # short and light
    again = sdk.videos.download_content(video.id).read()
    assert again == mp4.content  # made once, the same bytes

    thumbnail = sdk.videos.with_raw_response.download_content(video.id, variant="thumbnail")
    assert thumbnail.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert (image.format, image.size) == ("WEBP", (1280, 720))
    sprites = sdk.videos.with_raw_response.download_content(video.id, variant="spritesheet")
    assert sprites.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(sprites.content)) as image:
        assert image.format == "JPEG" and image.width > image.height > 0


def test_create_and_poll_and_the_defaults(base_client, use_profile):
    use_profile(Profile())
    started = time.monotonic()
    video = base_client.videos.create_and_poll(prompt="Waves at dusk")
    assert time.monotonic() - started < 3  # the poll header says 10 ms, not the SDK's 1 s
    assert (video.status, video.model, video.size, video.seconds) == ("completed", "sora-2", "720x1280", "4")
    width, height, seconds, _, _ = _decoded(base_client.videos.download_content(video.id).read())
    assert (width, height) == (720, 1280) and abs(seconds - 4) <= 0.25


def test_a_remix_is_a_new_video_from_a_completed_one(sdk, use_profile):
    use_profile(Profile())
    source = sdk.videos.create(prompt="A lighthouse", size="720x1280", seconds="4")
    status, error = _status(lambda: sdk.videos.remix(source.id, prompt="In the rain"))
    assert status == 400 and "completed" in error["message"]  # not yet
    _poll(sdk, source.id)
    remix = sdk.videos.remix(source.id, prompt="In the rain")
    assert (remix.status, remix.remixed_from_video_id, remix.prompt) == ("queued", source.id, "In the rain")
    assert (remix.size, remix.seconds, remix.model) == ("720x1280", "4", "sora-2")
    assert _poll(sdk, remix.id)[-1].status == "completed"
    original = sdk.videos.download_content(source.id).read()
    remixed = sdk.videos.download_content(remix.id).read()
    assert remixed != original and _decoded(remixed)[:2] == (720, 1280)
    assert [v.id for v in sdk.videos.list()] == [remix.id, source.id]
    assert _status(lambda: sdk.videos.remix("video_nope", prompt="x"))[0] == 404


def test_fail_at_fails_the_video_with_an_error_and_its_webhook(sdk, use_profile, emitted):
    profile = Profile()
    profile.videos(fail_at="completed", fail_message="The model could not render it.", in_progress_steps=1)
    use_profile(profile)
    video = sdk.videos.create(prompt="Something impossible")
    seen = _poll(sdk, video.id)
    assert [v.status for v in seen] == ["in_progress", "failed"]
    failed = seen[-1]
    assert failed.error.code == "video_generation_failed" and failed.error.message == "The model could not render it."
    assert failed.completed_at is None and failed.progress == 50
    assert emitted == [("video.failed", video.id)]
    status, error = _status(lambda: sdk.videos.download_content(video.id))
    assert status == 400 and "failed" in error["message"]
    deleted = sdk.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    assert _status(lambda: sdk.videos.retrieve(video.id))[0] == 404


def test_by_time_a_video_nobody_polls_completes_and_is_announced(base_client, use_profile, emitted, fake):
    profile = Profile()
    profile.videos(progress=0.02, time_scale=100)
    use_profile(profile)
    video = base_client.videos.create(prompt="Left alone")
    deadline = time.monotonic() + 5
    while ("video.completed", video.id) not in emitted and time.monotonic() < deadline:
        time.sleep(0.05)  # the running fake's tick moves it
    assert ("video.completed", video.id) in emitted
    done = base_client.videos.retrieve(video.id)
    assert done.status == "completed"
    assert done.completed_at - done.created_at >= 4 * 0.02 * 100 * 0.9  # the fake's clock ran faster


def test_a_running_video_cannot_be_deleted_or_downloaded(base_client, use_profile):
    use_profile(Profile())
    video = base_client.videos.create(prompt="Still going")
    for call in (lambda: base_client.videos.delete(video.id), lambda: base_client.videos.download_content(video.id)):
        status, error = _status(call)
        assert (status, error["type"]) == (400, "invalid_request_error") and "queued" in error["message"]


def test_the_profiles_bytes_are_the_content(sdk, use_profile):
    profile = Profile()
    profile.videos(content=b"not really an mp4", thumbnail=b"RIFF-thumb", in_progress_steps=1)
    use_profile(profile)
    video = sdk.videos.create(prompt="Anything")
    _poll(sdk, video.id)
    assert sdk.videos.download_content(video.id).read() == b"not really an mp4"
    assert sdk.videos.download_content(video.id, variant="thumbnail").read() == b"RIFF-thumb"
    with Image.open(io.BytesIO(sdk.videos.download_content(video.id, variant="spritesheet").read())) as image:
        assert image.format == "JPEG"  # the variant the profile left alone is made as usual


def _png(width: int, height: int, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_input_reference_starts_the_video_and_must_be_its_size(sdk, use_profile):
    profile = Profile()
    profile.videos(in_progress_steps=1)
    use_profile(profile)
    red = _png(1280, 720)
    video = sdk.videos.create(prompt="From this frame", size="1280x720", input_reference=("frame.png", red, "image/png"))
    _poll(sdk, video.id)
    with Image.open(io.BytesIO(sdk.videos.download_content(video.id, variant="thumbnail").read())) as image:
        r, g, b = image.convert("RGB").getpixel((image.width - 5, image.height - 5))
    assert r > 150 and g < 80 and b < 80  # the reference shows through

    status, error = _status(lambda: sdk.videos.create(prompt="x", size="720x1280",
                                                      input_reference=("frame.png", red, "image/png")))
    assert (status, error["message"]) == (400, "Inpaint image must match the requested width and height")
    status, error = _status(lambda: sdk.videos.create(prompt="x", input_reference=("f.png", b"not an image", "image/png")))
    assert (status, error["param"]) == (400, "input_reference")

    # A reference by file id or URL travels in a JSON body (the SDK's create uploads files only).
    uploaded = sdk.files.create(file=("frame.png", io.BytesIO(red)), purpose="vision")
    by_file = sdk.post("/videos", body={"prompt": "By file", "size": "1280x720", "input_reference": {"file_id": uploaded.id}},
                       cast_to=object)
    assert by_file["status"] == "queued"
    data_url = "data:image/png;base64," + base64.b64encode(_png(720, 1280)).decode()
    assert sdk.post("/videos", body={"prompt": "By URL", "input_reference": {"image_url": data_url}}, cast_to=object)["status"] == "queued"
    status, error = _status(lambda: sdk.post("/videos", body={"prompt": "x", "input_reference": {"file_id": "file-nope"}},
                                             cast_to=object))
    assert (status, error["param"]) == (404, "input_reference.file_id")
    status, error = _status(lambda: sdk.post("/videos", body={"prompt": "x", "size": "720x1280",
                                                              "input_reference": {"file_id": uploaded.id}}, cast_to=object))
    assert (status, error["message"]) == (400, "Inpaint image must match the requested width and height")


@pytest.mark.parametrize("fields, param, code", [
    ({"model": "sora-2"}, "prompt", "missing_required_parameter"),
    ({"prompt": ""}, "prompt", "invalid_value"),
    ({"prompt": "x", "seconds": "5"}, "seconds", "invalid_value"),
    ({"prompt": "x", "size": "1920x1080"}, "size", "invalid_value"),
    ({"prompt": "x", "model": "gpt-4o"}, "model", "invalid_value"),
    ({"prompt": "x", "fps": "30"}, "fps", "unknown_parameter"),
])
def test_a_bad_video_body_is_the_apis_400(base_client, use_profile, fake, fields, param, code):
    use_profile(Profile())
    # a form as the SDK sends one (multipart/form-data), with what the SDK's types would not let through
    answer = requests.post(f"{fake.base_url}/videos", files={k: (None, v) for k, v in fields.items()},
                           headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    error = answer.json()["error"]
    assert (answer.status_code, error["param"], error["code"], error["type"]) == (400, param, code, "invalid_request_error")
    assert base_client.videos.list().data == []


def test_a_json_body_says_a_number_of_seconds_is_the_wrong_type(base_client, use_profile):
    use_profile(Profile())
    status, error = _status(lambda: base_client.post("/videos", body={"prompt": "x", "seconds": 8}, cast_to=object))
    assert (status, error["param"], error["code"]) == (400, "seconds", "invalid_type")
    assert error["message"] == "Invalid type for 'seconds': expected one of '4', '8', or '12', but got an integer instead."
    made = base_client.post("/videos", body={"prompt": "As JSON", "seconds": "12"}, cast_to=object)
    assert made["seconds"] == "12" and made["status"] == "queued"


def test_edit_and_extend_start_from_a_completed_video(base_client, use_profile):
    profile = Profile()
    profile.videos(in_progress_steps=1)
    use_profile(profile)
    source = base_client.videos.create(prompt="A road", size="1280x720", seconds="4")
    _poll(base_client, source.id)
    # A video by id travels in a JSON body (the SDK's edit and extend upload files only).
    edited = base_client.post("/videos/edits", body={"prompt": "At night", "video": {"id": source.id}}, cast_to=object)
    extended = base_client.post("/videos/extensions", body={"prompt": "And on", "seconds": "8", "video": {"id": source.id}},
                                cast_to=object)
    assert (edited["size"], edited["seconds"], edited["prompt"]) == ("1280x720", "4", "At night")
    assert (extended["size"], extended["seconds"]) == ("1280x720", "12")  # the stitched total
    _poll(base_client, extended["id"])
    assert abs(_decoded(base_client.videos.download_content(extended["id"]).read())[2] - 12) <= 0.25
    upload = base_client.videos.download_content(source.id).read()
    from_file = base_client.videos.edit(prompt="From a file", video=("clip.mp4", upload, "video/mp4"))
    assert (from_file.size, from_file.seconds) == ("1280x720", "4")
    longer = base_client.videos.extend(prompt="More", seconds="4", video=("clip.mp4", upload, "video/mp4"))
    assert longer.seconds == "8"
    status, error = _status(lambda: base_client.post("/videos/extensions", body={"prompt": "x", "video": {"id": source.id}},
                                                     cast_to=object))
    assert (status, error["param"]) == (400, "seconds")
    status, error = _status(lambda: base_client.videos.edit(prompt="x", video=("clip.mp4", b"junk", "video/mp4")))
    assert (status, error["param"]) == (400, "video")


def test_without_sockets_an_engine_renders_once_per_prompt_size_and_length():
    from proxy_addon.engine import clips

    engine = Engine(Profile())
    headers = {"authorization": "Bearer sk-test", "content-type": "application/json"}
    made = engine.handle(Request("POST", "/v1/videos", headers, b'{"prompt": "once", "size": "1792x1024", "seconds": "12"}'))
    assert made.status == 200, made.body
    for _ in range(4):
        engine.handle(Request("GET", f"/v1/videos/{made.payload['id']}", headers))
    before = clips.render.cache_info().misses
    first = engine.handle(Request("GET", f"/v1/videos/{made.payload['id']}/content", headers))
    started = time.monotonic()
    second = engine.handle(Request("GET", f"/v1/videos/{made.payload['id']}/content", headers))
    assert time.monotonic() - started < 0.1 and second.body == first.body
    assert clips.render.cache_info().misses == before + 1
    width, height, seconds, _, _ = _decoded(first.body)
    assert (width, height) == (1792, 1024) and abs(seconds - 12) <= 0.25
