"""Pictures for the images endpoints: real, decodable images, drawn with Pillow, the same for the same seed.

    pictures.drawn("a cat", 1024, 1024, "png")          # PNG bytes: a pattern chosen by the seed, its first words
    pictures.partial(image, 0, 3)                        # a coarser rendition, for a stream's partial images
    pictures.edited([photo], mask, None, "a hat", 1024, 1024)

A picture is a pattern that a hash of its seed (the prompt) chooses: a palette, a kind (stripes,
rings, checks or diagonal bands), a disc, and a banner with the prompt's first words. It is drawn
in palette mode (seven colours) with Pillow's drawing primitives, never pixel by pixel, so a
1024x1024 PNG takes a few milliseconds; encoded bytes are cached by everything that made them.
Edits and variations start from the client's own image. Nothing here knows about requests; Pillow is
imported on first use, so a fake that draws nothing never loads it.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["warm", "MEDIA_TYPES", "open_image", "format_of", "has_alpha", "words_of", "drawn", "picture", "encode", "partial", "edited", "varied",
           "cached", "digest"]

#: Each output format's media type.
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "svg": "image/svg+xml"}
_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "GIF": "gif"}

# Palette slots: the background, four accents, the banner and its text.
_BACKGROUND, _BANNER, _TEXT = 0, 5, 6


def digest(*parts: bytes | str, size: int = 16) -> bytes:
    """A stable hash of `parts` (str or bytes), for seeds and cache keys."""
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.digest()


# -- a small cache of encoded pictures ------------------------------------------------------------

_CACHE: OrderedDict[tuple, bytes] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_BYTES = 64 << 20  # at most this much held; the oldest go first
_held = 0


def cached(key: tuple, make: Callable[[], bytes]) -> bytes:
    """`make()`, kept by `key`: the same prompt, size and format give the same bytes without drawing again."""
    global _held
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    data = make()
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = data
            _held += len(data)
            while _held > _CACHE_BYTES and len(_CACHE) > 1:
                _held -= len(_CACHE.popitem(last=False)[1])
    return data


def warm() -> None:
    """Import Pillow and its encoders now (the fake does it in a thread once it listens): the first image call
    then does not hold every other call up while they load."""
    for fmt in ("png", "jpeg", "webp", "gif"):
        encode(picture("warm", 16, 16, words="w"), fmt)


# -- reading ------------------------------------------------------------------------------------


def open_image(data: bytes) -> "Image | None":
    """`data` decoded by Pillow (every pixel read, so a truncated file fails here), or None when it is not an image."""
    from PIL import Image as PILImage

    try:
        image = PILImage.open(io.BytesIO(data))
        image.load()
    except Exception:  # not an image, truncated, or a decompression bomb: all "not an image" to the API
        return None
    return image


def format_of(image: "Image") -> str | None:
    """The output-format name of a decoded image (`png`, `jpeg`, `webp`, `gif`), or None for another format."""
    return _PIL_FORMATS.get(image.format or "")


def has_alpha(image: "Image") -> bool:
    """Whether an image has an alpha channel or a transparent palette entry."""
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


# -- drawing --------------------------------------------------------------------------------------


def _colour(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def words_of(text: str, limit: int = 40) -> str:
    """The first words of `text`, at most `limit` characters."""
    out = ""
    for word in text.split():
        if len(out) + len(word) + 1 > limit:
            break
        out = f"{out} {word}" if out else word
    return out or text[:limit]


def _design(seed: str, width: int, height: int, words: str | None, phase: float = 0.0) -> tuple[list, list]:
    """(palette, shapes) of the picture for `seed`: shapes are ("rect" | "ellipse" | "polygon", points, slot)
    and ("text", (x, y, size), words, slot); `phase` (0..1) moves the pattern, for a GIF's frames."""
    d = digest(seed)
    hue = d[0] / 256
    palette = [_colour(hue, 0.18 + d[9] / 1275, 0.97)]  # a pale background
    palette += [_colour(hue + 0.11 * (k + 1) + d[10] / 2550, 0.55 + 0.1 * (k % 2), 0.85 - 0.08 * k) for k in range(4)]
    palette += [_colour(hue + 0.5, 0.45, 0.22), (250, 250, 250)]
    w, h = width, height
    shapes: list = []
    kind = d[1] % 4
    n = 6 + d[2] % 7
    if kind == 0:  # stripes
        vertical = d[3] & 1
        step = (w if vertical else h) / n
        for i in range(-1, n + 1):
            if i % 2:
                a, b = (i + phase) * step, (i + 1 + phase) * step
                box = (a, 0, b, h) if vertical else (0, a, w, b)
                shapes.append(("rect", box, 1 + (i // 2) % 4))
    elif kind == 1:  # rings around a centre the seed places
        cx, cy = w * (0.25 + 0.5 * d[4] / 255), h * (0.25 + 0.5 * d[5] / 255)
        reach = math.hypot(max(cx, w - cx), max(cy, h - cy))
        step = reach / n
        for i in range(n + 1, 0, -1):
            r = (i - phase) * step
            if r > 0:
                shapes.append(("ellipse", (cx - r, cy - r, cx + r, cy + r), 1 + i % 4 if i % 2 else _BACKGROUND))
    elif kind == 2:  # checks
        cell = max(w, h) / n
        for row in range(n + 1):
            for col in range(-1, n + 1):
                if (row + col) % 2:
                    x = (col + phase) * cell
                    shapes.append(("rect", (x, row * cell, x + cell, (row + 1) * cell), 1 + ((row + col) // 2) % 4))
    else:  # diagonal bands
        step = (w + h) / n
        for i in range(-1, n + 1):
            a = (i + phase) * step
            shapes.append(("polygon", ((a, 0), (a + step / 2, 0), (a + step / 2 - h, h), (a - h, h)), 1 + i % 4))
    r = min(w, h) * (0.08 + 0.1 * d[8] / 255)  # a disc the seed places
    x, y = w * (0.15 + 0.7 * d[6] / 255), h * (0.12 + 0.55 * d[7] / 255)
    shapes.append(("ellipse", (x - r, y - r, x + r, y + r), 4))
    if words:
        band = max(12, h // 8)
        shapes.append(("rect", (0, h - band, w, h), _BANNER))
        shapes.append(("text", (w / 2, h - band / 2, max(8, int(band * 0.45))), words, _TEXT))
    return palette, shapes


_FONTS: dict[int, Any] = {}


def _font(size: int):
    """Pillow's own bundled font at `size` (no font file needed), kept per size."""
    font = _FONTS.get(size)
    if font is None:
        from PIL import ImageFont

        font = _FONTS[size] = ImageFont.load_default(size=size)
    return font


def _raster(palette: list, shapes: list, width: int, height: int, transparent: bool) -> "Image":
    from PIL import Image as PILImage, ImageDraw

    image = PILImage.new("P", (width, height), _BACKGROUND)
    image.putpalette([c for rgb in palette for c in rgb])
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        if shape[0] == "rect":
            draw.rectangle(shape[1], fill=shape[2])
        elif shape[0] == "ellipse":
            draw.ellipse(shape[1], fill=shape[2])
        elif shape[0] == "polygon":
            draw.polygon(shape[1], fill=shape[2])
        else:
            x, y, size = shape[1]
            font = _font(size)
            text = shape[2]
            while len(text) > 1 and font.getlength(text) > width * 0.92:  # a narrow picture gets fewer words
                text = text[:-1]
            draw.text((x, y), text, font=font, fill=shape[3], anchor="mm")
    if transparent:
        image.info["transparency"] = _BACKGROUND
    return image


def _svg(palette: list, shapes: list, width: int, height: int, transparent: bool) -> bytes:
    def hex_(slot: int) -> str:
        return "#%02x%02x%02x" % palette[slot]

    def n(v: float) -> str:
        return f"{v:.1f}".rstrip("0").rstrip(".")

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    if not transparent:
        out.append(f'<rect width="100%" height="100%" fill="{hex_(_BACKGROUND)}"/>')
    for shape in shapes:
        if shape[0] == "rect":
            x0, y0, x1, y1 = shape[1]
            out.append(f'<rect x="{n(x0)}" y="{n(y0)}" width="{n(x1 - x0)}" height="{n(y1 - y0)}" fill="{hex_(shape[2])}"/>')
        elif shape[0] == "ellipse":
            x0, y0, x1, y1 = shape[1]
            out.append(f'<ellipse cx="{n((x0 + x1) / 2)}" cy="{n((y0 + y1) / 2)}" rx="{n((x1 - x0) / 2)}" '
                       f'ry="{n((y1 - y0) / 2)}" fill="{hex_(shape[2])}"/>')
        elif shape[0] == "polygon":
            points = " ".join(f"{n(x)},{n(y)}" for x, y in shape[1])
            out.append(f'<polygon points="{points}" fill="{hex_(shape[2])}"/>')
        else:
            x, y, size = shape[1]
            out.append(f'<text x="{n(x)}" y="{n(y)}" font-family="sans-serif" font-size="{size}" text-anchor="middle" '
                       f'dominant-baseline="middle" fill="{hex_(shape[3])}">{escape(shape[2])}</text>')
    out.append("</svg>")
    return "\n".join(out).encode()


def picture(seed: str, width: int, height: int, *, transparent: bool = False, words: str | None = None,
            phase: float = 0.0) -> "Image":
    """The picture for `seed` at `width` x `height`, as a palette image (`words` in its banner; None: no banner)."""
    palette, shapes = _design(seed, width, height, words, phase)
    return _raster(palette, shapes, width, height, transparent)


def encode(image: "Image", fmt: str, compression: int = 100, frames: list | None = None, frame_ms: int = 200) -> bytes:
    """`image` as `fmt` bytes (`png`, `jpeg`, `webp`, `gif`); `compression` (0-100, 100 the best) is the JPEG and
    WebP quality, and WebP at 100 is lossless; a GIF has `frames` after the first, `frame_ms` apart."""
    out = io.BytesIO()
    alpha = has_alpha(image)
    if fmt == "png":
        image.save(out, "PNG", compress_level=1)  # flat colours compress well anyway; level 1 is 5-10 times faster
    elif fmt == "jpeg":
        image.convert("RGB").save(out, "JPEG", quality=max(1, min(95, compression)))
    elif fmt == "webp":
        rgb = image.convert("RGBA" if alpha else "RGB")
        if compression >= 100:
            rgb.save(out, "WEBP", lossless=True, quality=0, method=0)  # quality 0 here is the least effort, not less detail
        else:
            rgb.save(out, "WEBP", quality=max(1, compression), method=0)
    elif fmt == "gif":
        rest = frames or []
        options = {"transparency": image.info["transparency"]} if "transparency" in image.info else {}
        image.save(out, "GIF", save_all=bool(rest), append_images=rest, duration=frame_ms, loop=0, disposal=2, **options)
    else:
        raise ValueError(f"no encoder for {fmt!r}")
    return out.getvalue()


def drawn(seed: str, width: int, height: int, fmt: str, *, transparent: bool = False, compression: int = 100,
          words: str | None = None, frames: int = 9, frame_ms: int = 200) -> bytes:
    """The encoded picture for `seed` (cached): `fmt` is `png`, `jpeg`, `webp`, `gif` (`frames` of a moving
    pattern) or `svg` (the same shapes as vector text); `words` default to the seed's first words."""
    words = words_of(seed) if words is None else words

    def make() -> bytes:
        if fmt == "svg":
            return _svg(*_design(seed, width, height, words), width, height, transparent)
        if fmt == "gif":
            images = [picture(seed, width, height, transparent=transparent, words=words, phase=i / frames)
                      for i in range(frames)]
            return encode(images[0], "gif", frames=images[1:], frame_ms=frame_ms)
        return encode(picture(seed, width, height, transparent=transparent, words=words), fmt, compression)

    return cached(("drawn", seed, width, height, fmt, transparent, compression, words, frames, frame_ms), make)


def partial(image: "Image", index: int, count: int) -> "Image":
    """Partial image `index` of `count` (0 the coarsest): `image` in blocks, each partial finer than the one
    before, as a stream's partial images show the picture coming."""
    from PIL import Image as PILImage

    width, height = image.size
    block = max(2, min(width, height) // (4 * 2 ** (index + max(0, 3 - count))))
    small = image.resize((max(1, width // block), max(1, height // block)), PILImage.Resampling.NEAREST)
    return small.resize((width, height), PILImage.Resampling.NEAREST)


def _fit(image: "Image", width: int, height: int) -> "Image":
    from PIL import ImageOps

    return ImageOps.fit(image.convert("RGBA"), (width, height), method=3)  # 3: bicubic; fills the frame, cropping


def _opaque(image: "Image", colour: tuple[int, int, int]) -> "Image":
    from PIL import Image as PILImage

    return PILImage.alpha_composite(PILImage.new("RGBA", image.size, (*colour, 255)), image).convert("RGB")


def edited(images: list["Image"], mask: "Image | None", markup: "Image | None", seed: str, width: int, height: int,
           *, transparent: bool = False, own_alpha: bool = False) -> "Image":
    """An edit of `images[0]` at `width` x `height`: where `mask` is fully transparent (or, with `own_alpha`,
    where the image itself is: DALL-E 2 without a mask) the picture for `seed` shows through; without a mask
    the whole image is tinted with it. `markup` is laid on first; other images show as thumbnails along the top."""
    from PIL import Image as PILImage

    base = _fit(images[0], width, height)
    if markup is not None:
        base.alpha_composite(_fit(markup, width, height))
    art = picture(seed, width, height).convert("RGBA")  # no banner: its words would smear over the client's image
    if mask is not None:
        keep = _fit(mask, width, height).getchannel("A") if has_alpha(mask) else _fit(mask.convert("L"), width, height).getchannel("R")
        out = PILImage.composite(base, art, keep)
    elif own_alpha and has_alpha(images[0]):
        out = PILImage.composite(base, art, base.getchannel("A").point(lambda a: 255 if a else 0))
    else:
        out = PILImage.blend(base, art, 0.3)
    side = max(16, min(width, height) // 6)
    for k, extra in enumerate(images[1:]):
        x = 8 + k * (side + 8)
        if x + side > width:
            break
        out.paste(_fit(extra, side, side), (x, 8))
    palette = _design(seed, 1, 1, None)[0]
    return out if transparent else _opaque(out, palette[_BACKGROUND])


def varied(image: "Image", seed: bytes, index: int, width: int, height: int) -> "Image":
    """Variation `index` of `image` at `width` x `height`: fitted, mirrored for odd indices, tinted by a colour
    the seed and the index choose."""
    from PIL import Image as PILImage, ImageOps

    base = _fit(image, width, height)
    if index % 2:
        base = ImageOps.mirror(base)
    d = digest(seed, str(index))
    tint = PILImage.new("RGBA", (width, height), (*_colour(d[0] / 256, 0.6, 0.9), 255))
    return _opaque(PILImage.blend(base, tint, 0.18 + 0.04 * (index % 4)), (255, 255, 255))
