"""Videos (Sora) that render: a job moves `queued` → `in_progress` → `completed` on the one lifecycle, and its
content is a real MP4 of the asked size and length, with a WebP thumbnail and a JPEG spritesheet.

- `POST /v1/videos` (multipart, as the SDK sends it, or JSON): `prompt` (required, 1-32000 characters),
  `model` (`sora-2` by default; `sora-2-pro` and the dated snapshots), `size` (`720x1280` by default,
  `1280x720`, `1024x1792`, `1792x1024`), `seconds` (`"4"` by default, `"8"`, `"12"`: strings; a number is the
  API's `invalid_type`), `input_reference` (an uploaded JPEG, PNG or WebP image, or `{"file_id"}` /
  `{"image_url"}`; it must be the video's size exactly: else the API's 400 `Inpaint image must match the
  requested width and height`). The reference image is the picture the video starts from.
- Progress (`engine/lifecycle.py`): `queued` (progress 0), then `in_progress_steps` steps `in_progress` with
  `progress` rising (25, 50, 75 for the default 3), then `completed` (100, `completed_at`, and `expires_at` an
  hour later, on the fake's clock: the API keeps the assets about an hour). A step per read by default, or
  by time (`progress=<seconds>`); `fail_at="in_progress"` or `"completed"` makes the video `failed` there, with
  `error: {code: fail_code ("video_generation_failed"), message: fail_message}`. Webhooks: `video.completed`,
  `video.failed`. Retrieves send `openai-poll-after-ms` (`poll_after_ms`, 10) so `create_and_poll` is quick.
- `GET /v1/videos/{id}/content?variant=video|thumbnail|spritesheet`: `video/mp4`, `image/webp`, `image/jpeg`
  (`engine/clips.py` makes them, once per prompt, size, length and reference), or the profile's bytes
  (`videos(content=b"...", thumbnail=b"...", spritesheet=b"...")`). Before completion: 400; past
  `expires_at`: 404.
- `remix` (a completed video, a new prompt: same model, size and length, `remixed_from_video_id`), `edit`
  (a completed video by `{"id"}`, or an uploaded video file, a new prompt) and `extend` (the same, plus
  `seconds` more: the new video's `seconds` is the stitched total) make new jobs on the same lifecycle.
  `delete` takes a completed or failed video (the API deletes no job still running: 400). `list` is newest
  first; a listed video moves on as a read of it would.

Characters (`create_character`, `get_character`) stay with the generic resource: consistent objects.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Annotated, Any

from annotated_types import Ge

from .. import clips, errors, forms, knobs, lifecycle, pages, params, stores, table, validation
from ..bodies import check, merge
from ..errors import OpenAIError
from ..wire import Reply
from .. import sdk
from . import files

RULE = "videos"
KNOBS = {**lifecycle.KNOBS, "in_progress_steps": Annotated[int, Ge(1)], "poll_after_ms": knobs.Count,
         "fail_code": str, "content": bytes, "thumbnail": bytes, "spritesheet": bytes}

COLLECTION = stores.VIDEOS.path
PROGRESS = stores.VIDEO_PROGRESS
MODELS = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
SECONDS = ("4", "8", "12")
ASSETS_FOR = 3600  # seconds the API keeps a video's assets after it completes
_TERMINAL = {"completed", "failed"}
_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
_ROWS = {row.name: row for row in table.ROWS if row.name.startswith("videos.")}
_VARIANT_KNOB = {"video": "content", "thumbnail": "thumbnail", "spritesheet": "spritesheet"}

DOCS = {
    **lifecycle.DOCS,
    "time_scale": knobs.Doc("`1` (real time)", "How much faster than real time a video's clock runs, for its "
                            "`completed_at` and its `expires_at`, an hour later (a download after it is a 404)."),
    "fail_at": knobs.Doc("none: the video completes", '`"in_progress"` (the first step) or `"completed"`: the video is '
                         '`failed` there, with `error: {"code": fail_code, "message": fail_message}`.'),
    "fail_message": knobs.Doc('`"The video could not be generated."`', "The `error.message` of a `fail_at` failure."),
    "in_progress_steps": knobs.Doc("`3`", "How many steps a video is `in_progress` before `completed`, its `progress` "
                                   "rising evenly (25, 50, 75 for 3)."),
    "poll_after_ms": knobs.Doc("`10`", "The `openai-poll-after-ms` header on retrieves of a video still running, "
                               "which `create_and_poll` waits between polls."),
    "fail_code": knobs.Doc('`"video_generation_failed"`', "The `error.code` of a `fail_at` failure."),
    "content": knobs.Doc("a real MP4 (H.264) of the video's prompt, size and length",
                         "The bytes `download_content` answers, as they are (`video/mp4`), e.g. "
                         '`Path("clip.mp4").read_bytes()`.'),
    "thumbnail": knobs.Doc("a WebP image of the video's size",
                           'The bytes `download_content(variant="thumbnail")` answers, as they are (`image/webp`).'),
    "spritesheet": knobs.Doc("a JPEG grid of one 160 px wide tile a second",
                             'The bytes `download_content(variant="spritesheet")` answers, as they are (`image/jpeg`).'),
}


def not_found(video_id: str) -> OpenAIError:
    return OpenAIError(404, f"Video with id '{video_id}' not found.", param="video_id")


def _listed(values) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1] if len(quoted) > 2 else " and ".join(quoted)


# -- reading a body: multipart (as the SDK sends it) or JSON --------------------------------


def _body(call, route: str) -> dict[str, Any]:
    """The request's fields: a multipart form's as text (an upload as its `forms.Field`, `a[b]` as {"a": {"b"}}),
    or the JSON object; a field the SDK's params type lacks is the API's `unknown_parameter`."""
    if call.request.headers.get("content-type", "").lower().startswith("multipart/"):
        body: dict[str, Any] = {}
        for name, field in forms.parse(call.request).items():
            if "[" in name:
                outer, inner = name.split("[", 1)
                nested = body.setdefault(outer, {})
                if isinstance(nested, dict):
                    nested[inner.rstrip("]")] = field.text
            else:
                body[name] = field if field.filename is not None else field.text
    else:
        body = params.json_body(call.request)
    if call.profile.validate_requests:
        validation.unknown_fields(_ROWS[route], body)
    return body


def _prompt(body: dict) -> str:
    prompt = body.get("prompt")
    if prompt is None:
        raise errors.missing_param("prompt")
    prompt = params.text(prompt, "prompt", max_length=32000)
    if not prompt:
        raise errors.invalid_value("prompt", "Invalid 'prompt': string too short. Expected a string with minimum length 1, "
                                             "but got an empty string instead.")
    return prompt


def _choice(body: dict, name: str, allowed: tuple[str, ...], default: str, *, strict: bool) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not strict:
        return value if value in allowed else default
    if not isinstance(value, str):
        expected = "one of " + ", ".join(f"'{v}'" for v in allowed[:-1]) + f", or '{allowed[-1]}'" if name == "seconds" else "a string"
        raise errors.invalid_type(name, expected, value)
    if value not in allowed:
        raise errors.invalid_value(name, f"Invalid value: '{value}'. Supported values are: {_listed(allowed)}.")
    return value


def _image(data: bytes, param: str, size: str) -> bytes:
    """An input image, checked as the API checks it: JPEG, PNG or WebP, of the video's size exactly."""
    found = clips.image_info(data)
    if found is None or found[0] not in _IMAGE_FORMATS:
        raise errors.invalid_value(param, f"Invalid '{param}': expected a JPEG, PNG or WebP image.")
    if f"{found[1]}x{found[2]}" != size:
        raise OpenAIError(400, "Inpaint image must match the requested width and height")
    return data


def _reference(call, value: Any, size: str) -> bytes | None:
    """The bytes of `input_reference` (an upload, a stored file, a data URL), checked; None without one (or for
    an http URL, which the fake does not fetch: nothing leaves the machine)."""
    if value is None:
        return None
    strict = call.profile.validate_requests
    if isinstance(value, forms.Field):
        return _image(value.value, "input_reference", size) if strict else value.value
    if not isinstance(value, dict):
        if strict:
            raise errors.invalid_type("input_reference", "a file or an object", value)
        return None
    if value.get("file_id"):
        stored = call.state.get(files.COLLECTION, str(value["file_id"]))
        if stored is None:
            raise OpenAIError(404, f"No such File object: {value['file_id']}", param="input_reference.file_id")
        data = call.state.blob(stored["id"]) or b""
        return _image(data, "input_reference.file_id", size) if strict else data
    url = value.get("image_url")
    if not url:
        if strict:
            raise OpenAIError(400, "Missing required parameter: 'input_reference.file_id' or 'input_reference.image_url'.",
                              param="input_reference", code="missing_required_parameter")
        return None
    url = params.text(url, "input_reference.image_url")
    if not url.startswith("data:"):
        return None
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error):
        raise errors.invalid_value("input_reference.image_url", "Invalid 'input_reference.image_url': expected a base64 data URL.") from None
    return _image(data, "input_reference.image_url", size) if strict else data


# -- the jobs ------------------------------------------------------------------------------


def _start(call, *, prompt: str, model: str, size: str, seconds: str, remixed_from: str | None = None,
           reference: bytes | None = None) -> Reply:
    """A new job, `queued`, with its lifecycle ahead of it; a handler's partial dict is laid over it."""
    custom = call.custom()
    if custom is not None and not isinstance(custom, dict):
        raise call.unfit(custom)
    video = {"id": call.state.new_id("video_"), "object": "video", "model": model, "status": "queued", "progress": 0,
             "created_at": int(time.time()), "completed_at": None, "expires_at": None, "prompt": prompt, "size": size,
             "seconds": seconds, "remixed_from_video_id": remixed_from, "error": None}
    video = merge(video, custom or {})
    check(sdk.Video, video, call.where)
    planned = call.knob("in_progress_steps", 3)
    steps = [] if video["status"] in _TERMINAL else ["in_progress"] * planned + ["completed"]
    record = lifecycle.start({"id": video["id"], "planned": planned, "in_progress": 0}, steps)
    with call.state.lock:
        call.state.put(COLLECTION, video)
        call.state.put(PROGRESS, record)
        if reference:
            call.state.put_blob(_reference_key(video["id"]), reference)
    return Reply.json(200, video)


def _reference_key(video_id: str) -> str:
    return f"{COLLECTION}/{video_id}/input_reference"  # under the video's path: its delete takes it along


def create(call) -> Any:
    """POST /v1/videos: a job, `queued`."""
    body = _body(call, "videos.create")
    strict = call.profile.validate_requests
    prompt = _prompt(body) if strict else str(body.get("prompt") or "")
    size = _choice(body, "size", SIZES, "720x1280", strict=strict)
    seconds = _choice(body, "seconds", SECONDS, "4", strict=strict)
    model = _choice(body, "model", MODELS, "sora-2", strict=strict)
    reference = _reference(call, body.get("input_reference"), size)
    return _start(call, prompt=prompt, model=model, size=size, seconds=seconds, reference=reference)


def _load(call, video_id: str, polled: bool) -> dict:
    video = call.state.get(COLLECTION, video_id)
    if video is None:
        raise not_found(video_id)
    return catch_up(call, video, polled)


def _completed(call, video_id: str, doing: str) -> dict:
    """The completed video a remix, an edit or an extension starts from, or the API's 404 / 400."""
    video = _load(call, video_id, polled=False)
    if video["status"] != "completed":
        raise OpenAIError(400, f"Video '{video_id}' is not completed (its status is '{video['status']}'): only a "
                               f"completed video can be {doing}.", param="video_id")
    return video


def remix(call) -> Any:
    """POST /v1/videos/{id}/remix: a new job from a completed video and a new prompt."""
    body = _body(call, "videos.remix")
    prompt = _prompt(body) if call.profile.validate_requests else str(body.get("prompt") or "")
    with call.state.lock:
        source = _completed(call, call.request.params["video_id"], "remixed")
        return _start(call, prompt=prompt, model=source["model"], size=source["size"], seconds=source["seconds"],
                      remixed_from=source["id"])


def _source(call, body: dict, doing: str) -> tuple[str, str, int]:
    """(model, size, seconds) of what an edit or an extension starts from: a completed video by
    `{"id"}`, or an uploaded video file (its size the allowed one of its shape, its length rounded)."""
    value = body.get("video")
    if value is None:
        raise errors.missing_param("video")
    if isinstance(value, dict):
        video_id = value.get("id")
        if not isinstance(video_id, str) or not video_id:
            raise errors.missing_param("video.id")
        source = _completed(call, video_id, doing)
        return source["model"], source["size"], int(source["seconds"])
    if not isinstance(value, forms.Field):
        raise errors.invalid_type("video", "a file or an object", value)
    found = clips.probe(value.value)
    if found is None:
        raise errors.invalid_value("video", "Invalid 'video': the file could not be read as a video.")
    width, height, duration = found
    size = f"{width}x{height}"
    if size not in SIZES:
        size = "1280x720" if width > height else "720x1280"
    return "sora-2", size, max(1, round(duration))


def edit(call) -> Any:
    """POST /v1/videos/edits: a new job from a video and a prompt that says how to change it."""
    body = _body(call, "videos.edit")
    prompt = _prompt(body) if call.profile.validate_requests else str(body.get("prompt") or "")
    with call.state.lock:
        model, size, seconds = _source(call, body, "edited")
        return _start(call, prompt=prompt, model=model, size=size, seconds=str(seconds))


def extend(call) -> Any:
    """POST /v1/videos/extensions: a new job, a video and `seconds` more of it (`seconds`: the stitched total)."""
    body = _body(call, "videos.extend")
    strict = call.profile.validate_requests
    prompt = _prompt(body) if strict else str(body.get("prompt") or "")
    if strict and body.get("seconds") is None:
        raise errors.missing_param("seconds")
    more = _choice(body, "seconds", SECONDS, "4", strict=strict)
    with call.state.lock:
        model, size, seconds = _source(call, body, "extended")
        return _start(call, prompt=prompt, model=model, size=size, seconds=str(seconds + int(more)))


def retrieve(call) -> Any:
    """GET /v1/videos/{id}: the job, moved on by this read (or by the time passed)."""
    with call.state.lock:
        video = _load(call, call.request.params["video_id"], polled=True)
    headers = {} if video["status"] in _TERMINAL else {"openai-poll-after-ms": str(call.knob("poll_after_ms", 10))}
    return Reply.json(200, video, headers)


def list_videos(call) -> Any:
    """GET /v1/videos: newest first; every video listed moves on as a read of it would."""
    with call.state.lock:
        for video in call.state.all(COLLECTION):
            catch_up(call, video, polled=True)
        return pages.page(call, COLLECTION, kind="conversation")


def delete(call) -> Any:
    """DELETE /v1/videos/{id}: a completed or failed video and its assets."""
    video_id = call.request.params["video_id"]
    with call.state.lock:
        video = _load(call, video_id, polled=False)
        if video["status"] not in _TERMINAL:
            raise OpenAIError(400, f"Video '{video_id}' is still {video['status']}: only a completed or failed video "
                                   "can be deleted.", param="video_id")
        call.state.delete_tree(COLLECTION, video_id)
        call.state.delete(PROGRESS, video_id)
    return Reply.json(200, {"id": video_id, "object": "video.deleted", "deleted": True})


def download_content(call) -> Any:
    """GET /v1/videos/{id}/content: the MP4 (or its `variant`), once the video is completed."""
    variant = call.request.query.get("variant") or "video"
    if variant not in clips.VARIANTS:
        raise errors.invalid_value("variant", f"Invalid value: '{variant}'. Supported values are: {_listed(clips.VARIANTS)}.")
    video_id = call.request.params["video_id"]
    with call.state.lock:
        video = _load(call, video_id, polled=False)
        if video["status"] != "completed":
            raise OpenAIError(400, f"Video '{video_id}' is not completed (its status is '{video['status']}'): its "
                                   "content can be downloaded once it is.", param="video_id")
        record = call.state.get(PROGRESS, video_id)
        if video.get("expires_at") is not None and lifecycle.fake_time(call, record) >= video["expires_at"]:
            raise OpenAIError(404, f"The content of video '{video_id}' has expired.", param="video_id")
        reference = call.state.blob(_reference_key(video_id))
    given = call.knob(_VARIANT_KNOB[variant])
    data = given if given is not None else clips.render(video["prompt"] or "", video["size"], int(video["seconds"]),
                                                        variant, reference)
    return Reply(200, data, {"content-type": clips.VARIANTS[variant]})


# -- progress ------------------------------------------------------------------------------


def catch_up(call, video: dict, polled: bool) -> dict:
    """The video after the steps that have come due (by this read, or by time), stored. Call under the lock."""
    record = call.state.get(PROGRESS, video["id"])
    if record is None or not record["steps"]:
        return video
    for step in lifecycle.due(call, record, polled):
        video = _apply(call, video, record, step)
        if video["status"] in _TERMINAL:
            break
    call.state.put(COLLECTION, video)
    call.state.put(PROGRESS, record)
    if video["status"] in _TERMINAL:
        lifecycle.emit(call, f"video.{video['status']}", video["id"])
    return video


def _apply(call, video: dict, record: dict, step: str) -> dict:
    if step == "failed":
        return dict(video, status="failed", error={
            "code": call.knob("fail_code") or "video_generation_failed",
            "message": lifecycle.fail_message(call, "The video could not be generated."),
        })
    if step == "in_progress":
        record["in_progress"] += 1
        progress = 100 * record["in_progress"] // (record["planned"] + 1)
        return dict(video, status="in_progress", progress=progress)
    if step == "completed":
        record["steps"] = []
        at = lifecycle.fake_time(call, record)
        return dict(video, status="completed", progress=100, completed_at=at, expires_at=at + ASSETS_FOR)
    raise AssertionError(f"unknown video step {step!r}")


lifecycle.register_collection("videos", store=PROGRESS, collection=COLLECTION, route="videos.retrieve",
                              path=lambda record: f"/v1/videos/{record['id']}", catch_up=catch_up)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "videos.create": create,
    "videos.retrieve": retrieve,
    "videos.list": list_videos,
    "videos.delete": delete,
    "videos.remix": remix,
    "videos.edit": edit,
    "videos.extend": extend,
    "videos.download_content": download_content,
}
