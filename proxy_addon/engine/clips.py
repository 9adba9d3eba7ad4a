"""Small, real media for the videos a fake Sora makes: an H.264 MP4 of the asked size and length, a WebP
thumbnail and a JPEG spritesheet, as the API's `GET /v1/videos/{id}/content?variant=...` answers them.

The MP4 is encoded with PyAV (FFmpeg's libraries, bundled in its wheels: libx264 here) from frames drawn with
Pillow: a colour and a moving block derived from the prompt, the prompt's words written on it, and the video's
reference image under them when it had one. It is short on purpose: 2 frames a second, 4 distinct pictures
cycled, the fastest x264 preset at a low quality, no audio track: a 12 s 1792x1024 clip takes 0.1-0.3 s and
some 25-40 kB, and decodes anywhere H.264 does. Each clip is made once per (prompt, size, seconds, reference)
and kept (`render` is cached), so polling clients that download the same video again pay nothing.

PyAV and Pillow are imported on first use: a fake that never serves a video never imports them.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math

FPS = 2  # frames a second: enough for a player to show motion, few enough to encode fast
DISTINCT = 4  # distinct pictures, cycled: converting a frame to YUV costs more than encoding it
THUMBNAIL_TYPE = "image/webp"
SPRITESHEET_TYPE = "image/jpeg"
VIDEO_TYPE = "video/mp4"
_TILE_WIDTH = 160  # a spritesheet tile's width; its height keeps the video's aspect
_COLUMNS = 4


def _palette(prompt: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.blake2b(prompt.encode(), digest_size=6).digest()
    background = tuple(40 + b % 120 for b in digest[:3])
    block = tuple(135 + b % 120 for b in digest[3:])
    return background, block  # type: ignore[return-value]


@functools.lru_cache(maxsize=4)
def _pictures(prompt: str, width: int, height: int, reference: bytes | None) -> tuple:
    """The distinct pictures of a clip, as Pillow images of the video's size (kept for the clip's other variants)."""
    from PIL import Image, ImageDraw, ImageFont

    background, block = _palette(prompt)
    base = Image.new("RGB", (width, height), background)
    if reference:
        try:
            with Image.open(io.BytesIO(reference)) as image:
                base = image.convert("RGB").resize((width, height))
        except (OSError, ValueError):  # not an image (`validate_requests=False` let it through): the plain picture
            pass
    size = max(12, min(width, height) // 20)
    try:
        font = ImageFont.load_default(size=size)
    except (OSError, TypeError):  # a Pillow built without FreeType has only its fixed bitmap font
        font = ImageFont.load_default()
    words = " ".join(prompt.split())[:60]
    side = max(16, min(width, height) // 6)
    out = []
    for i in range(DISTINCT):
        picture = base.copy()
        draw = ImageDraw.Draw(picture)
        x = int((width - side) * i / max(1, DISTINCT - 1))
        y = int((height - side) * (0.5 + 0.3 * math.sin(i * math.pi / 2)))
        draw.rectangle([x, y, x + side, y + side], fill=block)
        draw.text((size, size), words, fill=(255, 255, 255), font=font)
        out.append(picture)
    return tuple(out)


def _mp4(pictures: tuple, width: int, height: int, seconds: int) -> bytes:
    import av

    frames = []
    for picture in pictures:
        frames.append(av.VideoFrame.from_image(picture).reformat(format="yuv420p"))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "40"}  # zerolatency: no lookahead, half the time
        for n in range(seconds * FPS):
            frame = frames[(n // FPS) % len(frames)]  # one picture a second
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _spritesheet(pictures: tuple, width: int, height: int, seconds: int) -> bytes:
    from PIL import Image

    tile_w, tile_h = _TILE_WIDTH, max(1, round(_TILE_WIDTH * height / width))
    tiles = [picture.resize((tile_w, tile_h), Image.Resampling.BILINEAR) for picture in pictures]
    columns = min(_COLUMNS, seconds)
    sheet = Image.new("RGB", (tile_w * columns, tile_h * math.ceil(seconds / columns)))
    for s in range(seconds):  # one tile a second, as the video shows them
        sheet.paste(tiles[s % len(tiles)], ((s % columns) * tile_w, (s // columns) * tile_h))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def _thumbnail(pictures: tuple) -> bytes:
    buffer = io.BytesIO()
    pictures[0].save(buffer, "WEBP", quality=60, method=0)  # method 0: libwebp's fastest
    return buffer.getvalue()


VARIANTS = {"video": VIDEO_TYPE, "thumbnail": THUMBNAIL_TYPE, "spritesheet": SPRITESHEET_TYPE}


@functools.lru_cache(maxsize=64)
def render(prompt: str, size: str, seconds: int, variant: str = "video", reference: bytes | None = None) -> bytes:
    """One asset of a clip (`variant`: `video`, an MP4 of `size` ("1280x720") and `seconds`; `thumbnail`;
    `spritesheet`), made once and cached. `reference`: an image the video starts from (any size; it is fitted)."""
    width, height = (int(part) for part in size.split("x"))
    pictures = _pictures(prompt, width, height, reference)
    if variant == "thumbnail":
        return _thumbnail(pictures)
    if variant == "spritesheet":
        return _spritesheet(pictures, width, height, seconds)
    return _mp4(pictures, width, height, seconds)


def image_info(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) of an image Pillow can read ("PNG", "JPEG", "WEBP", ...), or None when it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.format, image.size[0], image.size[1]
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def probe(data: bytes) -> tuple[int, int, float] | None:
    """(width, height, seconds) of a video file PyAV can read, or None when it is not one."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            if container.duration is not None:
                duration = container.duration / 1_000_000
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = 0.0
            return stream.width, stream.height, duration
    except (av.error.FFmpegError, IndexError, ValueError):
        return None
