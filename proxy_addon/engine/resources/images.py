"""Images: `images.generate`, `images.edit`, `images.create_variation`, and the URLs they hand out.

Every image is real: PNG, JPEG, WebP, GIF or SVG bytes that Pillow (or a browser) decodes, of the size
asked for, drawn by `engine/pictures.py` from a hash of the prompt: the same prompt, size and format give
the same bytes, and image i of `n` is the prompt's i-th. An edit starts from the client's image (drawn into
where the mask is transparent, else tinted); a variation tints and mirrors it.

Models, as the API has them:
- GPT image models (`gpt-image-*`, `chatgpt-image-latest`) answer `b64_json` (`response_format` is refused),
  in `output_format`, with `background`, `quality`, `size` and `usage`; they stream (`stream=true`, with
  `partial_images` 0-3: coarser renditions of the image before it).
- `dall-e-2` and `dall-e-3` answer a `url` by default (`response_format="b64_json"` for the bytes), PNG
  only, and nothing else; `dall-e-3` adds `revised_prompt`. Variations take `dall-e-2` only.

A URL is the fake's own, `GET /v1/images/blobs/{image_id}` (an extra row of `routes.py`: no API key, as the
real API's signed blob URLs need none), on the scheme and host the request came to: through the proxy
`https://api.openai.com/...`, which the proxy answers; on the base-URL face that face's own address. Its
bytes are kept in the state, named by their content (the same picture, the same URL).

Knobs: `image` (bytes, or the path of an image file, read and checked when the profile loads): what every
image is, as it is; `stream`. A handler may answer bytes (the image), or a partial dict: `image` (bytes or
a path), `b64_json` / `url` / `revised_prompt` laid over every image, and any other field of the answer
(`data`, `usage`, ...) merged over it, or over each `*.completed` event of a stream.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, NamedTuple

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from .. import errors, forms, knobs, params, pictures, sdk, tokens
from ..bodies import check, merge, reply
from ..errors import OpenAIError
from ..instances import resolve
from ..streams import Event, sse
from ..wire import Reply
from . import files

RULE = "images"


def _image_source(value: bytes | Path | str) -> bytes:
    """A knob's image as bytes, checked when the profile loads: a path is read, and either must be an image."""
    if isinstance(value, (str, Path)):
        path = Path(value).expanduser()
        try:
            data = path.read_bytes()
        except OSError as e:
            raise PydanticCustomError("image", "an image's bytes or the path of an image file (cannot read {path}: {why})",
                                      {"path": str(path), "why": e.strerror or str(e)}) from None
    else:
        data = bytes(value)
    if pictures.open_image(data) is None:
        raise PydanticCustomError("image", "an image's bytes or the path of an image file (Pillow cannot open it as an image)")
    return data


#: An image a profile supplies: its bytes, or the path of a file (relative to the fake's working directory).
ImageSource = Annotated[bytes | Path | str, AfterValidator(_image_source)]

KNOBS = {"image": ImageSource, "stream": object}
DOCS = {
    "image": knobs.Doc("a picture drawn from a hash of the prompt, of the size and format asked for",
                       "The bytes every image is, sent as they are: bytes, or the path of an image file (read and "
                       'checked with Pillow when the profile loads), e.g. `Path(__file__).parent / "cat.png"`. The '
                       "answer's `size` and `output_format` then say what that image is."),
    "stream": knobs.stream_doc("`stream: true` images (GPT image models)",
                               "every event: each `partial_image` one, and the `completed` one"),
}

_DALL_E_2, _DALL_E_3, _GPT = "dall-e-2", "dall-e-3", "gpt"
_GPT_NAME = re.compile(r"^(gpt-image-|chatgpt-image-)[\w.\-]+$")
_STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")  # every GPT image model's
_DALL_E_SIZES = {_DALL_E_2: ("256x256", "512x512", "1024x1024"), _DALL_E_3: ("1024x1024", "1792x1024", "1024x1792")}
_PROMPT_LIMIT = {_DALL_E_2: 1000, _DALL_E_3: 4000, _GPT: 32000}
_FORMATS = ("png", "jpeg", "webp", "gif", "svg")
#: Output tokens of one 1024x1024 image by quality (gpt-image-1's published counts), scaled by area for others.
_OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
#: What the API adds to the output tokens for each partial image of a stream.
_PARTIAL_TOKENS = 100
#: Parameters only the GPT image models take (a DALL-E request with one is refused; one without `model`
#: makes `images.generate` pick a GPT image model, as the API's default does).
_GPT_ONLY = ("background", "moderation", "output_compression", "output_format", "partial_images", "complexity",
             "input_fidelity", "frame_count", "frame_duration_ms", "svg")
_DEFAULT_GPT = "gpt-image-1.5"
#: The fields of a JSON edit (`images` by reference instead of uploads), as the API's description has them.
_JSON_EDIT_FIELDS = frozenset({"model", "images", "mask", "prompt", "n", "quality", "input_fidelity", "size", "user",
                               "output_format", "output_compression", "moderation", "background", "stream",
                               "partial_images", "safety_identifier"})
_INT_FIELDS = frozenset({"n", "partial_images", "output_compression", "frame_count", "frame_duration_ms"})
_BLOBS = "~images/"  # state blob keys of the pictures a URL serves
BLOB_PATH = "/v1/images/blobs/"
_MAX_MB = {_DALL_E_2: 4, _GPT: 50}
_GIF_SIDE = 1536  # the API says a model has GIF size limits, without saying them: this is the fake's


# -- reading the request ----------------------------------------------------------------------------


@dataclass
class _Ask:
    """What one request asks for, checked and resolved."""

    op: str  # "generate", "edit", "variation"
    model: str
    family: str  # dall-e-2, dall-e-3, gpt
    prompt: str
    n: int
    size: tuple[int, int] | None  # None: `auto` on an edit, resolved from its image
    quality: str
    background: str  # "opaque" or "transparent"
    output_format: str
    compression: int
    response_format: str  # "b64_json" or "url"
    stream: bool
    partial_images: int
    frames: int
    frame_ms: int
    safety: str | None
    svg_model: str | None

    @property
    def gpt(self) -> bool:
        return self.family == _GPT

    @property
    def label(self) -> str:
        w, h = self.size or (1024, 1024)
        return f"{w}x{h}"


def _choice(body: dict, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = params.choice(body.get(name), name, allowed)
    return default if value is None else value


def _unsupported(name: str) -> OpenAIError:
    return OpenAIError(400, f"Unsupported parameter: '{name}' is not supported with this model.", param=name,
                       code="unsupported_parameter")


@functools.lru_cache(maxsize=None)
def _models() -> tuple[str, ...]:
    from openai.types.image_model import ImageModel

    return typing.get_args(ImageModel)


@functools.lru_cache(maxsize=None)
def _fields(params_type: str) -> frozenset[str]:
    """The fields of an SDK params type: what a request may send."""
    return frozenset(typing.get_type_hints(resolve(params_type)))


def _known(call, names: typing.Iterable[str], allowed: frozenset[str]) -> None:
    """The API's 400 for a field it does not take (unless the profile lets odd bodies through)."""
    if not call.profile.validate_requests:
        return
    for name in names:
        if name not in allowed:
            raise OpenAIError(400, f"Unrecognized request argument supplied: {name}", param=name, code="unknown_parameter")


def _model(body: dict, op: str) -> tuple[str, str]:
    """(model, family); an unknown model, or one the operation does not take, is the API's 400."""
    model = body.get("model")
    if model is None:
        model = _DALL_E_2 if op == "variation" else _DEFAULT_GPT if op == "edit" or _asks_gpt(body) else _DALL_E_2
    if not isinstance(model, str):
        raise errors.invalid_type("model", "a string", model)
    allowed = {"variation": (_DALL_E_2,), "edit": tuple(m for m in _models() if m != _DALL_E_3)}.get(op, _models())
    family = _DALL_E_2 if model == _DALL_E_2 else _DALL_E_3 if model == _DALL_E_3 else _GPT if _GPT_NAME.match(model) else None
    if family is None or (model not in allowed and (op == "variation" or family != _GPT)):
        raise errors.invalid_value("model", f"Invalid value: '{model}'. Supported values are: {params.listed(allowed)}.")
    return model, family


def _asks_gpt(body: dict) -> bool:
    """Whether a request without `model` uses a parameter only the GPT image models take."""
    return any(body.get(k) is not None for k in _GPT_ONLY) or body.get("stream") is True \
        or body.get("quality") in _OUTPUT_TOKENS or body.get("size") in ("1536x1024", "1024x1536", "auto")


def _size(body: dict, model: str, family: str, op: str) -> tuple[int, int] | None:
    """The size asked for, checked against what the model makes; None for `auto`."""
    value = body.get("size")
    if value is not None and not isinstance(value, str):
        raise errors.invalid_type("size", "a string", value)
    if family != _GPT:
        allowed = _DALL_E_SIZES[family]
        value = value or "1024x1024"
    elif model.startswith("gpt-image-2"):  # any WIDTHxHEIGHT within the model's limits
        value = value or "auto"
        if value == "auto":
            return None if op == "edit" else (1024, 1024)
        return _free_size(value)
    else:
        allowed = (*_STANDARD_SIZES, "auto")
        value = value or "auto"
    if value not in allowed:
        raise errors.invalid_value("size", f"Invalid value: '{value}'. Supported values are: {params.listed(allowed)}.")
    if value == "auto":
        return None if op == "edit" else (1024, 1024)
    w, h = value.split("x")
    return int(w), int(h)


def _free_size(value: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT` as `gpt-image-2` and later take it: both divisible by 16, the aspect ratio between 1:3 and
    3:1, at most 3840x2160."""
    found = re.fullmatch(r"(\d{1,5})x(\d{1,5})", value)
    if not found:
        raise errors.invalid_value("size", f"Invalid value: '{value}'. Expected 'auto' or a size as WIDTHxHEIGHT, for example '1536x864'.")
    w, h = int(found[1]), int(found[2])
    if not w or not h or w % 16 or h % 16:
        raise errors.invalid_value("size", f"Invalid value: '{value}'. Width and height must both be divisible by 16.")
    if max(w, h) > 3 * min(w, h):
        raise errors.invalid_value("size", f"Invalid value: '{value}'. The aspect ratio must be between 1:3 and 3:1.")
    if max(w, h) > 3840 or min(w, h) > 2160:
        raise errors.invalid_value("size", f"Invalid value: '{value}'. The maximum supported resolution is 3840x2160.")
    return w, h


def _quality(body: dict, model: str, family: str) -> str:
    if family == _DALL_E_2:
        allowed: tuple[str, ...] = ("standard", "auto")
    elif family == _DALL_E_3:
        allowed = ("standard", "hd", "auto")
    elif model.startswith(("gpt-image-2.5", "gpt-image-2.6")):
        allowed = ("low", "medium", "high", "xhigh", "max", "auto")
    else:
        allowed = ("low", "medium", "high", "auto")
    quality = _choice(body, "quality", allowed, "auto")
    if quality == "auto":
        return "high" if family == _GPT else "standard"
    return quality


def _ask(body: dict, op: str) -> _Ask:
    """The request's parameters, checked as the API checks them (its 400s naming `param`), and resolved."""
    prompt = "" if op == "variation" else params.require(body, "prompt", str)
    model, family = _model(body, op)
    gpt = family == _GPT
    if op != "variation":
        params.text(prompt, "prompt", _PROMPT_LIMIT[family])
        if not prompt:
            raise errors.invalid_value("prompt", "Invalid 'prompt': empty string. Expected a string with minimum length 1, "
                                                 "but got an empty string instead.")
    n = params.integer(body, "n", 1, 10, default=1)
    if family == _DALL_E_3 and n != 1:
        raise errors.invalid_value("n", "You must provide n=1 for this model.")
    response_format = _choice(body, "response_format", ("url", "b64_json"))
    if gpt and response_format is not None:
        raise OpenAIError(400, "Unknown parameter: 'response_format'.", param="response_format", code="unknown_parameter")
    stream = bool(params.optional(body, "stream", bool, False))
    if not gpt:
        for name in _GPT_ONLY:
            if body.get(name) is not None:
                raise _unsupported(name)
        if stream:
            raise _unsupported("stream")
    style = _choice(body, "style", ("vivid", "natural"))
    if style is not None and family != _DALL_E_3:
        raise _unsupported("style")
    output_format = _choice(body, "output_format", _FORMATS, "png")
    background = _choice(body, "background", ("transparent", "opaque", "auto"), "auto")
    if background == "transparent" and output_format == "jpeg":
        raise errors.invalid_value("background", "Transparent backgrounds are not supported with the 'jpeg' output format; "
                                                 "use 'png' or 'webp'.")
    compression = params.integer(body, "output_compression", 0, 100, default=100)
    _choice(body, "moderation", ("low", "auto"))
    _choice(body, "complexity", ("low", "medium", "high"))
    fidelity = _choice(body, "input_fidelity", ("high", "low"))
    if fidelity is not None and model.startswith("gpt-image-2"):  # "for gpt-image-2, omit this parameter"
        raise _unsupported("input_fidelity")
    if fidelity == "high" and model == "gpt-image-1-mini":
        raise errors.invalid_value("input_fidelity", "Invalid value: 'high'. Supported values are: 'low'.")
    partial_images = params.integer(body, "partial_images", 0, 3, default=0)
    frames = params.integer(body, "frame_count", 2, 16)
    frame_ms = params.integer(body, "frame_duration_ms", 0, 655_350)
    for name in ("frame_count", "frame_duration_ms"):
        if body.get(name) is not None and output_format != "gif":
            raise errors.invalid_value(name, f"'{name}' is only supported with output_format='gif'.")
    svg_model = _svg(body, output_format)
    if output_format in ("gif", "svg"):
        for name, given in (("stream", stream), ("partial_images", body.get("partial_images") is not None),
                            ("output_compression", body.get("output_compression") is not None)):
            if given:
                raise errors.invalid_value(name, f"'{name}' is not supported with output_format='{output_format}'.")
        if output_format == "svg" and n != 1:
            raise errors.invalid_value("n", "SVG output supports only n=1.")
    size = _size(body, model, family, op)
    if output_format == "gif" and size is not None and max(size) > _GIF_SIDE:  # 16 frames at 4K take seconds to encode
        raise errors.invalid_value("size", f"Invalid value: '{size[0]}x{size[1]}'. GIF output supports at most "
                                           f"{_GIF_SIDE} pixels a side.")
    safety = params.text(body.get("safety_identifier"), "safety_identifier") or params.text(body.get("user"), "user")
    return _Ask(op, model, family, prompt, n, size, _quality(body, model, family),
                "transparent" if background == "transparent" else "opaque", output_format, compression,
                response_format or ("b64_json" if gpt else "url"), stream, partial_images,
                frames or 9, 200 if frame_ms is None else max(10, round(frame_ms, -1)), safety or None, svg_model)


def _svg(body: dict, output_format: str) -> str | None:
    """`svg` (the SVG author's model and reasoning), which only `output_format=svg` takes: its model, if any."""
    svg = params.obj(body.get("svg"), "svg")
    if svg is None:
        return None
    if output_format != "svg":
        raise errors.invalid_value("svg", "'svg' is only supported with output_format='svg'.")
    model = params.text(svg.get("model"), "svg.model")
    reasoning = params.obj(svg.get("reasoning"), "svg.reasoning")
    if reasoning is not None:
        _choice({"svg.reasoning.effort": reasoning.get("effort")}, "svg.reasoning.effort",
                ("none", "minimal", "low", "medium", "high", "xhigh", "max"))
    return model


# -- uploads: multipart forms and JSON references -----------------------------------------------------


class _Source(NamedTuple):
    """One input image: its bytes (or, for a URL the fake does not fetch, a seed to draw it from)."""

    data: bytes | None
    param: str
    declared: str | None = None  # the upload's content type
    seed: str | None = None


def _form(call, allowed: frozenset[str]) -> tuple[dict, list[_Source], dict[str, _Source]]:
    """A multipart request: (its text fields, typed as the JSON body would be; its images in order; mask/markup)."""
    values: dict[str, Any] = {}
    images: list[_Source] = []
    extra: dict[str, _Source] = {}
    for name, part in forms.parts(call.request):
        base = name.split("[", 1)[0]
        _known(call, (base,), allowed)
        if base == "image":
            images.append(_Source(part.value, "image", part.content_type))
        elif base in ("mask", "markup"):
            extra[base] = _Source(part.value, base, part.content_type)
        elif base == "svg":  # svg[model], svg[reasoning][effort]
            keys = re.findall(r"\[([^\]]*)\]", name)
            node = values.setdefault("svg", {})
            for key in keys[:-1]:
                node = node.setdefault(key, {}) if isinstance(node, dict) else {}
            if keys and isinstance(node, dict):
                node[keys[-1]] = part.text
        else:
            values[base] = _typed(base, part.text)
    return values, images, extra


def _typed(name: str, text: str) -> Any:
    """A form field's text as the JSON value it stands for (`"2"` for `n` is 2; `"true"` for `stream`); text that
    is not one stays text, so that the check says what it should be."""
    if name in _INT_FIELDS and re.fullmatch(r"-?\d{1,9}", text.strip()):
        return int(text)
    if name == "stream" and text.strip().lower() in ("true", "false", "1", "0"):
        return text.strip().lower() in ("true", "1")
    return text


def _reference(call, ref: Any, where: str) -> _Source:
    """An image of a JSON edit: `{"image_url": URL or data URL}` or `{"file_id": ...}`, exactly one."""
    params.obj(ref, where)
    if ref is None:
        raise errors.missing_param(where)
    _known(call, (f"{where}.{k}" for k in ref), frozenset({f"{where}.image_url", f"{where}.file_id"}))
    url, file_id = ref.get("image_url"), ref.get("file_id")
    if (url is None) == (file_id is None):
        raise errors.invalid_value(where, f"Invalid '{where}': provide exactly one of 'image_url' or 'file_id'.")
    if file_id is not None:
        params.text(file_id, f"{where}.file_id")
        files.get(call.state, file_id)
        return _Source(call.state.blob(file_id) or b"", f"{where}.file_id")
    params.text(url, f"{where}.image_url")
    if url.startswith("data:"):
        head, _, payload = url.partition(",")
        if ";base64" not in head:
            raise errors.invalid_value(f"{where}.image_url", f"Invalid '{where}.image_url': a data URL must be base64-encoded.")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise errors.invalid_value(f"{where}.image_url", f"Invalid '{where}.image_url': the data URL is not valid base64.") from None
        return _Source(data, f"{where}.image_url", head[5:].split(";")[0] or None)
    if not re.match(r"^https?://[^/\s]+", url):
        raise errors.invalid_value(f"{where}.image_url", f"Invalid '{where}.image_url': expected a fully qualified URL or a "
                                                         "base64-encoded data URL.")
    return _Source(None, f"{where}.image_url", seed=url)  # never fetched: the fake reaches nothing outside


def _decoded(source: _Source, index: int, family: str, square: bool = False):
    """An input image decoded and checked as the model takes it: the API's 400 naming `param` otherwise."""
    if source.data is None:
        return pictures.picture(source.seed or "", 1024, 1024)
    image = pictures.open_image(source.data)
    if image is None:
        declared = (source.declared or "").split(";")[0].strip().lower()
        if declared and not declared.startswith("image/") and declared != "application/octet-stream":
            raise OpenAIError(400, f"Invalid file '{source.param}': unsupported mimetype ('{declared}'). Supported file "
                                   "formats are 'image/jpeg', 'image/png', and 'image/webp'.",
                              param=source.param, code="unsupported_file_mimetype")
        raise OpenAIError(400, f"Invalid image file or mode for image {index + 1}, please check your image file.",
                          param=source.param, code="invalid_image_file")
    kind = pictures.format_of(image)
    limit = _MAX_MB[_DALL_E_2 if family == _DALL_E_2 else _GPT]
    if family == _DALL_E_2:
        if kind != "png" or len(source.data) >= limit << 20:
            raise errors.invalid_value(source.param, "Uploaded image must be a PNG and less than 4 MB.")
        if square and image.width != image.height:
            raise errors.invalid_value(source.param, "Uploaded image must be square.")
    elif kind not in ("png", "jpeg", "webp"):
        media = pictures.MEDIA_TYPES.get(kind or "", f"image/{(image.format or 'unknown').lower()}")
        raise OpenAIError(400, f"Invalid file '{source.param}': unsupported mimetype ('{media}'). Supported file formats "
                               "are 'image/jpeg', 'image/png', and 'image/webp'.",
                          param=source.param, code="unsupported_file_mimetype")
    elif len(source.data) >= limit << 20:
        raise errors.invalid_value(source.param, f"Invalid '{source.param}': the image must be less than {limit} MB.")
    return image


def _image_tokens(image) -> int:
    """Input tokens of an image, as vision counts them: 85, and 170 per 512-pixel tile once it is scaled to fit
    2048 and its short side to 768."""
    w, h = image.size
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h))
    return 85 + 170 * math.ceil(w * scale / 512) * math.ceil(h * scale / 512)


def _auto_size(image) -> tuple[int, int]:
    """`auto` for an edit: the standard size nearest the image's shape."""
    w, h = image.size
    return (1536, 1024) if w > h * 1.2 else (1024, 1536) if h > w * 1.2 else (1024, 1024)


# -- answering ------------------------------------------------------------------------------------


def _usage(ask: _Ask, image_tokens: int, images: int, partials: int = 0, details: bool = True) -> dict:
    w, h = ask.size or (1024, 1024)
    text = tokens.count(ask.prompt)
    output = (round(_OUTPUT_TOKENS[ask.quality] * w * h / 1048576) + _PARTIAL_TOKENS * partials) * images
    usage = {"input_tokens": text + image_tokens, "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text},
             "output_tokens": output, "total_tokens": text + image_tokens + output}
    if details:
        usage["output_tokens_details"] = {"image_tokens": output, "text_tokens": 0}
    return usage


class _Supplied(NamedTuple):
    """What the profile gives instead of the fake's own pictures."""

    image: bytes | None  # every image is these bytes
    each: dict  # laid over every image's item (b64_json, url, revised_prompt)
    rest: dict  # merged over the whole answer (or each completed event)


def _supplied(call) -> _Supplied:
    image = call.knob("image")
    custom = call.custom()
    if custom is None:
        return _Supplied(image, {}, {})
    if isinstance(custom, (bytes, bytearray)):
        return _Supplied(_handler_image(call, bytes(custom)), {}, {})
    if not isinstance(custom, dict):
        raise call.unfit(custom)
    rest = dict(custom)
    if "image" in rest:
        image = _handler_image(call, rest.pop("image"))
    each = {k: rest.pop(k) for k in ("b64_json", "url", "revised_prompt") if k in rest}
    return _Supplied(image, each, rest)


def _handler_image(call, value: Any) -> bytes:
    try:
        return _image_source(value)
    except PydanticCustomError as e:
        raise OpenAIError(500, f"openai-fake: {call.where}: the handler's image should be {e.message()}",
                          type="server_error", headers={"x-should-retry": "false"}) from None


def _url(call, data: bytes, fmt: str) -> str:
    """A URL of the fake's that serves `data`, on the scheme and host this request came to."""
    name = f"img-{pictures.digest(data, size=12).hex()}.{fmt}"
    key = _BLOBS + name
    if call.state.blob(key) is None:
        call.state.put_blob(key, data)
    return f"{call.request.origin}{BLOB_PATH}{name}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _answer(call, ask: _Ask, make: Callable[[int], bytes], image_tokens: int = 0) -> Reply:
    """The reply for `ask`, whole or streamed; `make(i)` gives image i's bytes unless the profile supplies them."""
    supplied = _supplied(call)
    size, fmt = ask.label, ask.output_format
    if supplied.image is not None:  # say what the profile's image is
        own = pictures.open_image(supplied.image)
        size, fmt = f"{own.width}x{own.height}", pictures.format_of(own) or fmt
    made = [supplied.image if supplied.image is not None else make(i) for i in range(ask.n)] \
        if ask.stream or not ({"b64_json", "url"} & set(supplied.each) or "data" in supplied.rest) else []
    if ask.stream:
        return _stream(call, ask, made, supplied, size, fmt, image_tokens)
    data = []
    for i in range(ask.n):
        item = {} if not made else {"b64_json": _b64(made[i])} if ask.response_format == "b64_json" \
            else {"url": _url(call, made[i], fmt)}
        if ask.family == _DALL_E_3:
            item["revised_prompt"] = ask.prompt
        data.append({**item, **supplied.each})
    body: dict[str, Any] = {"created": int(time.time()), "data": data}
    if ask.gpt:
        body.update(background=ask.background, output_format=fmt, quality=ask.quality, size=size,
                    usage=_usage(ask, image_tokens, ask.n))
        if ask.svg_model:
            authored = sum(len(p) for p in made) // 4 or 256
            body["svg_usage"] = {"input_tokens": tokens.count(ask.prompt) + 256, "model": ask.svg_model,
                                 "output_tokens": authored, "reasoning_tokens": 0,
                                 "total_tokens": tokens.count(ask.prompt) + 256 + authored}
    if ask.safety:
        body["safety_identifier"] = ask.safety
    return reply(sdk.ImagesResponse, merge(body, supplied.rest), call.where)


def _stream(call, ask: _Ask, made: list[bytes], supplied: _Supplied, size: str, fmt: str, image_tokens: int) -> Reply:
    """`image_generation.*` (`image_edit.*` for an edit) events: per image, its partial images (coarsest first),
    then its completed event with the usage; each is a delta the pace spaces out."""
    prefix = "image_edit" if ask.op == "edit" else "image_generation"
    partial_type = sdk.ImageEditPartialImageEvent if ask.op == "edit" else sdk.ImageGenPartialImageEvent
    done_type = sdk.ImageEditCompletedEvent if ask.op == "edit" else sdk.ImageGenCompletedEvent
    common = {"background": ask.background, "created_at": int(time.time()), "output_format": fmt,
              "quality": ask.quality, "size": size}
    usage = _usage(ask, image_tokens, 1, ask.partial_images, details=False)
    events: list[Event] = []
    for i, picture in enumerate(made):
        if ask.partial_images:
            decoded = pictures.open_image(picture)
            for k in range(ask.partial_images):
                coarse = pictures.cached(("partial", pictures.digest(picture), k, ask.partial_images, fmt, ask.compression),
                                         lambda: pictures.encode(pictures.partial(decoded, k, ask.partial_images), fmt,
                                                                 ask.compression))
                event = {"type": f"{prefix}.partial_image", "b64_json": _b64(coarse), **common, "partial_image_index": k}
                check(partial_type, event, call.where)
                events.append(Event(sse(event, event["type"]), True))
        done = {"type": f"{prefix}.completed", "b64_json": supplied.each.get("b64_json") or _b64(picture), **common,
                "usage": usage}
        if ask.safety:
            done["safety_identifier"] = ask.safety
        done = merge(done, supplied.rest)
        check(done_type, done, call.where)
        said = f"{ask.n} image{'s' if ask.n > 1 else ''} {size} {fmt}" if i == 0 else None
        events.append(Event(sse(done, done["type"]), True, said))
    return call.stream(events, _error_event)


def _error_event(error: OpenAIError, sequence: int) -> bytes:
    """An image stream's error: `event: error` with the error object, which the SDKs raise as `APIError`."""
    return sse({"type": "error", "error": error.payload()["error"]}, event="error")


# -- the endpoints --------------------------------------------------------------------------------


def generate(call) -> Reply:
    """POST /v1/images/generations: `n` pictures of the prompt."""
    body = params.json_body(call.request)
    _known(call, body, _fields("openai.types.image_generate_params:ImageGenerateParamsStreaming"))
    ask = _ask(body, "generate")
    w, h = ask.size
    words = pictures.words_of(ask.prompt)

    def make(i: int) -> bytes:
        seed = ask.prompt if i == 0 else f"{ask.prompt}\n#{i}"
        return pictures.drawn(seed, w, h, ask.output_format, transparent=ask.background == "transparent",
                              compression=ask.compression, words=words, frames=ask.frames, frame_ms=ask.frame_ms)

    return _answer(call, ask, make)


def edit(call) -> Reply:
    """POST /v1/images/edits: the client's image edited, from a multipart upload (`image`, `image[]`, `mask`,
    `markup`) or a JSON body that names its images (`images: [{"image_url"} | {"file_id"}]`, `mask`)."""
    multipart = call.request.headers.get("content-type", "").lower().startswith("multipart/")
    if multipart:
        body, sources, extra = _form(call, _fields("openai.types.image_edit_params:ImageEditParamsStreaming"))
    else:
        body = params.json_body(call.request)
        _known(call, body, _JSON_EDIT_FIELDS)
        refs = params.array(body.get("images"), "images", 1, 16)
        if refs is None:
            raise errors.missing_param("images")
        sources = [_reference(call, ref, f"images[{i}]") for i, ref in enumerate(refs)]
        extra = {"mask": _reference(call, body["mask"], "mask")} if body.get("mask") is not None else {}
        body = {k: v for k, v in body.items() if k not in ("images", "mask")}
    if not sources:
        if "prompt" not in body:
            raise errors.missing_param("prompt")
        raise errors.missing_param("image")
    ask = _ask(body, "edit")
    if ask.family == _DALL_E_2 and not multipart:
        raise errors.invalid_value("model", "JSON edits take the GPT image models only; a dall-e-2 edit is a multipart upload.")
    most = 1 if ask.family == _DALL_E_2 else 16
    if len(sources) > most:
        raise errors.invalid_value("image", f"Invalid 'image': array too long. Expected an array with maximum length {most}, "
                                            f"but got an array with length {len(sources)} instead.")
    images = [_decoded(s, i, ask.family, square=True) for i, s in enumerate(sources)]
    mask = _mask(extra.get("mask"), images[0], ask)
    markup = _markup(extra.get("markup"), images[0], ask, mask is not None)
    if mask is None and ask.family == _DALL_E_2 and not pictures.has_alpha(images[0]) and images[0].mode != "L":
        raise errors.invalid_value("image", f"Invalid input image - format must be in ['RGBA', 'LA', 'L'], got {images[0].mode}.")
    if ask.size is None:
        ask.size = _auto_size(images[0])
    w, h = ask.size
    inputs = pictures.digest(*(s.data if s.data is not None else (s.seed or "") for s in sources),
                             *(s.data or b"" for s in extra.values()))
    transparent = ask.background == "transparent"

    def make(i: int) -> bytes:
        seed = ask.prompt if i == 0 else f"{ask.prompt}\n#{i}"

        def draw() -> bytes:
            out = pictures.edited(images, mask, markup, seed, w, h, transparent=transparent, own_alpha=ask.family == _DALL_E_2)
            return _encoded(out, ask)

        return pictures.cached(("edit", inputs, seed, w, h, ask.output_format, transparent, ask.compression, ask.frames,
                                ask.frame_ms), draw)

    return _answer(call, ask, make, sum(_image_tokens(image) for image in images))


def _mask(source: _Source | None, image, ask: _Ask):
    """The mask, checked: a PNG with an alpha channel (or grey), the size of the first image."""
    if source is None:
        return None
    if ask.output_format == "gif":
        raise errors.invalid_value("mask", "'mask' is not supported with output_format='gif'.")
    mask = pictures.open_image(source.data) if source.data is not None else None
    if source.data is not None and mask is None:
        raise OpenAIError(400, "Invalid image file or mode for the mask, please check your image file.", param=source.param,
                          code="invalid_image_file")
    if mask is None:
        return None  # a URL the fake does not fetch: nothing to mask with
    if pictures.format_of(mask) != "png":
        raise errors.invalid_value(source.param, f"Invalid '{source.param}': the mask must be a PNG image.")
    if mask.size != image.size:
        raise errors.invalid_value(source.param, f"Invalid '{source.param}': the mask ({mask.width}x{mask.height}) must have the "
                                                 f"same dimensions as the image ({image.width}x{image.height}).")
    if not pictures.has_alpha(mask) and mask.mode != "L":
        raise errors.invalid_value(source.param, f"Invalid mask image - format must be in ['RGBA', 'LA', 'L'], got {mask.mode}.")
    return mask


def _markup(source: _Source | None, image, ask: _Ask, masked: bool):
    """`markup`, a transparent PNG laid over the first image (GPT Image 2.5 and later; never with a mask)."""
    if source is None:
        return None
    if not ask.model.startswith(("gpt-image-2.5", "gpt-image-2.6")):
        raise _unsupported("markup")
    if masked:
        raise errors.invalid_value("markup", "'markup' cannot be combined with 'mask'.")
    markup = pictures.open_image(source.data or b"")
    if markup is None or pictures.format_of(markup) != "png":
        raise errors.invalid_value("markup", "Invalid 'markup': it must be a PNG image.")
    if markup.size != image.size:
        raise errors.invalid_value("markup", f"Invalid 'markup': it ({markup.width}x{markup.height}) must have the same "
                                             f"dimensions as the image ({image.width}x{image.height}).")
    if not pictures.has_alpha(markup) or markup.convert("RGBA").getchannel("A").getextrema()[0] > 0:
        raise errors.invalid_value("markup", "Invalid 'markup': it must contain transparent pixels.")
    return markup


def _encoded(image, ask: _Ask) -> bytes:
    """An edit's or a variation's image in the asked format (a GIF repeats it `frames` times; an SVG wraps a PNG)."""
    if ask.output_format == "svg":
        w, h = image.size
        png = _b64(pictures.encode(image, "png"))
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
                f'<image width="{w}" height="{h}" href="data:image/png;base64,{png}"/></svg>').encode()
    if ask.output_format == "gif":
        still = image.convert("RGB").quantize(64)
        return pictures.encode(still, "gif", frames=[still] * (ask.frames - 1), frame_ms=ask.frame_ms)
    return pictures.encode(image, ask.output_format, ask.compression)


def create_variation(call) -> Reply:
    """POST /v1/images/variations (dall-e-2): `n` variations of one square PNG."""
    body, sources, extra = _form(call, _fields("openai.types.image_create_variation_params:ImageCreateVariationParams"))
    if not sources:
        raise errors.missing_param("image")
    ask = _ask(body, "variation")
    if len(sources) > 1:
        raise errors.invalid_value("image", "Invalid 'image': a variation takes one image.")
    image = _decoded(sources[0], 0, ask.family, square=True)
    w, h = ask.size
    seed = pictures.digest(sources[0].data)

    def make(i: int) -> bytes:
        return pictures.cached(("vary", seed, i, w, h),
                               lambda: pictures.encode(pictures.varied(image, seed, i, w, h), "png"))

    return _answer(call, ask, make, _image_tokens(image))


def blob(call) -> Reply:
    """GET /v1/images/blobs/{image_id}: the bytes of an image a `url` answer named; no key needed."""
    name = call.request.params["image_id"]
    data = call.state.blob(_BLOBS + name)
    if data is None:
        raise OpenAIError(404, f"No image found with id '{name}'.", param="image_id")
    media = pictures.MEDIA_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")
    return Reply(200, data, {"content-type": media, "cache-control": "private, max-age=3600"})


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "images.generate": generate,
    "images.edit": edit,
    "images.create_variation": create_variation,
    "images.blob": blob,
}
