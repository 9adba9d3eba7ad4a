"""Images (issue 14): real, decodable pictures from `images.generate`, `images.edit` and `images.create_variation`,
through the real SDK on both faces; URLs the fake serves itself; streams of partial images; the API's 400s;
a profile's own bytes. Engine tests at the end need no sockets.
"""

from __future__ import annotations

import base64
import io
import json
import time

import httpx2
import openai
import pytest
from PIL import Image

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request, tokens
from proxy_addon.profile import ProfileError, load



@pytest.fixture(params=["base-url", "proxy"])
def face(request):
    """An SDK client on the base-URL face, or through the proxy to https://api.openai.com."""
    c = request.getfixturevalue("base_client" if request.param == "base-url" else "client")
    c.face = request.param
    return c


def png(size=(64, 64), colour=(200, 30, 30, 255), mode="RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour[: len(mode)] if mode != "RGBA" else colour).save(out, "PNG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue()


def decoded(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def fetch(url: str) -> httpx2.Response:
    """GET a URL as any program would: through the proxy the environment names, trusting what it says; no API key."""
    with httpx2.Client(timeout=10) as http:
        return http.get(url)


# -- generate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model, size, output_format, pil", [
    ("gpt-image-1", "1024x1024", "png", "PNG"),
    ("gpt-image-1.5", "1536x1024", "jpeg", "JPEG"),
    ("gpt-image-1-mini", "1024x1536", "webp", "WEBP"),
    ("gpt-image-2", "512x512", "png", "PNG"),
    ("gpt-image-2", "1792x1024", "webp", "WEBP"),
])
def test_generate_answers_a_real_image_at_the_asked_size_and_format(face, use_profile, model, size, output_format, pil):
    use_profile(Profile())
    answer = face.images.generate(model=model, prompt="a lighthouse at dusk", size=size, output_format=output_format)
    image = decoded(answer.data[0].b64_json)
    assert (image.format, f"{image.width}x{image.height}") == (pil, size)
    assert (answer.output_format, answer.size, answer.quality, answer.background) == (output_format, size, "high", "opaque")
    assert answer.data[0].url is None
    usage = answer.usage
    assert usage.input_tokens_details.text_tokens == tokens.count("a lighthouse at dusk") > 0
    assert usage.input_tokens_details.image_tokens == 0
    assert usage.output_tokens > 100 and usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_the_same_prompt_gives_the_same_bytes_and_another_prompt_others(face, use_profile):
    use_profile(Profile())
    first = face.images.generate(model="gpt-image-1", prompt="a red fox in the snow", n=2)
    again = face.images.generate(model="gpt-image-1", prompt="a red fox in the snow")
    other = face.images.generate(model="gpt-image-1", prompt="a blue whale")
    assert len(first.data) == 2 and first.data[0].b64_json != first.data[1].b64_json  # n different pictures
    assert again.data[0].b64_json == first.data[0].b64_json
    assert other.data[0].b64_json != first.data[0].b64_json
    assert decoded(first.data[1].b64_json).size == (1024, 1024)


def test_quality_background_and_usage_follow_the_request(base_client, use_profile):
    use_profile(Profile())
    low = base_client.images.generate(model="gpt-image-1", prompt="a cat", quality="low", background="transparent")
    high = base_client.images.generate(model="gpt-image-1", prompt="a cat", quality="high")
    assert (low.quality, low.background, high.background) == ("low", "transparent", "opaque")
    assert low.usage.output_tokens < high.usage.output_tokens
    alpha = decoded(low.data[0].b64_json).convert("RGBA").getchannel("A").getextrema()
    assert alpha[0] == 0 and alpha[1] == 255  # a transparent background behind an opaque picture
    assert decoded(high.data[0].b64_json).convert("RGBA").getchannel("A").getextrema() == (255, 255)


@pytest.mark.parametrize("model, size", [("dall-e-2", "256x256"), ("dall-e-3", "1792x1024")])
def test_dall_e_answers_a_url_the_fake_serves_on_the_face_it_was_asked_on(face, fake, use_profile, model, size):
    use_profile(Profile())
    answer = face.images.generate(model=model, prompt="a watercolour harbour", size=size)
    url = answer.data[0].url
    assert answer.data[0].b64_json is None and answer.usage is None and answer.output_format is None
    expected = "https://api.openai.com/v1/images/blobs/" if face.face == "proxy" else fake.base_url + "/images/blobs/"
    assert url.startswith(expected), url
    got = fetch(url)  # no key: a signed blob URL needs none
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(got.content))
    assert (image.format, f"{image.width}x{image.height}") == ("PNG", size)
    if model == "dall-e-3":
        assert answer.data[0].revised_prompt == "a watercolour harbour"
    as_bytes = face.images.generate(model=model, prompt="a watercolour harbour", size=size, response_format="b64_json")
    assert base64.b64decode(as_bytes.data[0].b64_json) == got.content


def test_an_unknown_image_url_is_a_404_in_the_apis_shape(face, fake, use_profile):
    use_profile(Profile())
    origin = "https://api.openai.com/v1" if face.face == "proxy" else fake.base_url
    got = fetch(f"{origin}/images/blobs/img-nothing.png")
    assert got.status_code == 404 and set(got.json()["error"]) == {"message", "type", "param", "code"}


# -- edits and variations -------------------------------------------------------------------


def test_an_edit_keeps_the_image_where_the_mask_is_opaque_and_draws_where_it_is_transparent(face, use_profile):
    use_profile(Profile())
    mask = Image.new("RGBA", (256, 256), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 256, 128))  # the top half is to be edited
    out = io.BytesIO()
    mask.save(out, "PNG")
    answer = face.images.edit(model="gpt-image-1", image=("photo.png", png((256, 256), (10, 200, 10, 255)), "image/png"),
                              mask=("mask.png", out.getvalue(), "image/png"), prompt="a hat", size="1024x1024")
    image = decoded(answer.data[0].b64_json).convert("RGB")
    assert image.size == (1024, 1024) and answer.usage.input_tokens_details.image_tokens > 0
    kept, drawn = image.getpixel((512, 900)), image.getpixel((512, 100))
    assert all(abs(a - b) <= 3 for a, b in zip(kept, (10, 200, 10))), kept
    assert max(abs(a - b) for a, b in zip(drawn, (10, 200, 10))) > 20, drawn


def test_an_edit_takes_several_images_and_auto_follows_the_first_ones_shape(base_client, use_profile):
    use_profile(Profile())
    wide = png((300, 200), (0, 0, 255, 255))
    answer = base_client.images.edit(model="gpt-image-1.5", image=[("a.png", wide, "image/png"),
                                                                    ("b.png", png(), "image/png")],
                                     prompt="combine them", output_format="jpeg")
    image = decoded(answer.data[0].b64_json)
    assert (image.format, image.size, answer.size) == ("JPEG", (1536, 1024), "1536x1024")
    tinted = image.getpixel((768, 700))  # the blue image, tinted by the prompt's picture
    assert tinted[2] > tinted[0] and tinted[2] > tinted[1]


def test_a_dall_e_2_edit_draws_where_the_image_is_transparent_and_answers_a_url(face, use_profile):
    use_profile(Profile())
    photo = Image.new("RGBA", (256, 256), (250, 250, 0, 255))
    photo.paste((0, 0, 0, 0), (0, 0, 256, 100))
    out = io.BytesIO()
    photo.save(out, "PNG")
    answer = face.images.edit(model="dall-e-2", image=("p.png", out.getvalue(), "image/png"), prompt="a sky", size="512x512")
    image = Image.open(io.BytesIO(fetch(answer.data[0].url).content)).convert("RGB")
    assert image.size == (512, 512) and image.getpixel((256, 500)) == (250, 250, 0)
    assert image.getpixel((256, 20)) != (250, 250, 0)


def test_variations_of_a_square_png(face, use_profile):
    use_profile(Profile())
    answer = face.images.create_variation(image=("in.png", png((128, 128), (90, 90, 200, 255))), n=2, size="256x256")
    urls = [d.url for d in answer.data]
    assert len(set(urls)) == 2  # two variations, not one twice
    images = [Image.open(io.BytesIO(fetch(u).content)) for u in urls]
    assert [(i.format, i.size) for i in images] == [("PNG", (256, 256))] * 2
    b64 = face.images.create_variation(image=("in.png", png((128, 128), (90, 90, 200, 255))), response_format="b64_json")
    assert decoded(b64.data[0].b64_json).size == (1024, 1024)


# -- streams ------------------------------------------------------------------------------


def test_a_streamed_generation_sends_partial_images_then_the_image(face, use_profile):
    use_profile(Profile())
    stream = face.images.generate(model="gpt-image-1", prompt="a mountain lake", stream=True, partial_images=2,
                                  size="1536x1024", output_format="webp")
    events = list(stream)
    assert [type(e).__name__ for e in events] == ["ImageGenPartialImageEvent"] * 2 + ["ImageGenCompletedEvent"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    done = events[-1]
    assert done.type == "image_generation.completed" and done.usage.output_tokens > 200
    pictures = [decoded(e.b64_json) for e in events]
    assert {(p.format, p.size) for p in pictures} == {("WEBP", (1536, 1024))}
    assert len({e.b64_json for e in events}) == 3  # each partial coarser than the image, and different
    whole = face.images.generate(model="gpt-image-1", prompt="a mountain lake", size="1536x1024", output_format="webp")
    assert whole.data[0].b64_json == done.b64_json  # the stream ends with the same picture


def test_a_streamed_edit_sends_image_edit_events(base_client, use_profile):
    use_profile(Profile())
    events = list(base_client.images.edit(model="gpt-image-1", image=("p.png", png()), prompt="brighter", stream=True,
                                          partial_images=1))
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert type(events[-1]).__name__ == "ImageEditCompletedEvent" and decoded(events[-1].b64_json).size == (1024, 1024)


def test_partial_images_zero_sends_the_image_alone(base_client, use_profile):
    use_profile(Profile())
    events = list(base_client.images.generate(model="gpt-image-1", prompt="one", stream=True, partial_images=0))
    assert [e.type for e in events] == ["image_generation.completed"]


# -- the API's refusals ---------------------------------------------------------------------


def refused(call) -> dict:
    with pytest.raises(openai.BadRequestError) as e:
        call()
    return e.value.body


@pytest.mark.parametrize("kwargs, param", [
    ({"model": "gpt-image-1", "size": "256x256"}, "size"),
    ({"model": "dall-e-3", "size": "512x512"}, "size"),
    ({"model": "gpt-image-2", "size": "1000x1000"}, "size"),  # not divisible by 16
    ({"model": "gpt-image-2", "size": "3840x640"}, "size"),  # wider than 3:1
    ({"model": "gpt-image-1", "n": 11}, "n"),
    ({"model": "gpt-image-1", "n": 0}, "n"),
    ({"model": "dall-e-3", "n": 2}, "n"),
    ({"model": "gpt-image-1", "quality": "hd"}, "quality"),
    ({"model": "gpt-image-1", "response_format": "url"}, "response_format"),
    ({"model": "dall-e-2", "output_format": "webp"}, "output_format"),
    ({"model": "dall-e-2", "background": "transparent"}, "background"),
    ({"model": "gpt-image-1", "background": "transparent", "output_format": "jpeg"}, "background"),
    ({"model": "gpt-image-1", "style": "vivid"}, "style"),
    ({"model": "gpt-image-1", "partial_images": 4}, "partial_images"),
    ({"model": "imagine-9000"}, "model"),
    ({"model": "gpt-image-1", "extra_body": {"colour": "red"}}, "colour"),
])
def test_bad_generate_parameters_are_the_apis_400_naming_the_param(face, use_profile, kwargs, param):
    use_profile(Profile())
    body = refused(lambda: face.images.generate(prompt="a cat", **kwargs))
    assert body["param"] == param and body["type"] == "invalid_request_error", body


def test_an_edit_whose_image_is_not_an_image_is_a_400(face, use_profile):
    use_profile(Profile())
    body = refused(lambda: face.images.edit(model="gpt-image-1", image=("notes.txt", b"not a picture", "text/plain"),
                                            prompt="x"))
    assert (body["param"], body["code"]) == ("image", "unsupported_file_mimetype")
    body = refused(lambda: face.images.edit(model="gpt-image-1", image=("broken.png", b"\x89PNG...", "image/png"), prompt="x"))
    assert body["param"] == "image" and "Invalid image file" in body["message"]


@pytest.mark.parametrize("call, param", [
    (lambda c: c.images.edit(model="gpt-image-1", image=("a.png", png((64, 64))), mask=("m.png", png((32, 32))), prompt="x"),
     "mask"),
    (lambda c: c.images.edit(model="gpt-image-1", image=("a.png", png()), mask=("m.png", png(mode="RGB")), prompt="x"),
     "mask"),
    (lambda c: c.images.edit(model="dall-e-2", image=("a.png", png(mode="RGB")), prompt="x"), "image"),  # no transparency
    (lambda c: c.images.edit(model="dall-e-2", image=[("a.png", png()), ("b.png", png())], prompt="x"), "image"),
    (lambda c: c.images.create_variation(image=("wide.png", png((64, 32)))), "image"),  # not square
    (lambda c: c.images.create_variation(image=("a.png", png()), model="gpt-image-1"), "model"),
    (lambda c: c.images.create_variation(image=("a.png", png()), size="1536x1024"), "size"),
    (lambda c: c.images.edit(model="gpt-image-1-mini", image=("a.png", png()), prompt="x", input_fidelity="high"),
     "input_fidelity"),
    (lambda c: c.images.edit(model="gpt-image-2", image=("a.png", png()), prompt="x", input_fidelity="low"), "input_fidelity"),
    (lambda c: c.images.edit(model="gpt-image-1", image=("a.png", png()), markup=("m.png", png()), prompt="x"), "markup"),
    (lambda c: c.images.edit(model="gpt-image-2.5-flare", image=("a.png", png()), markup=("m.png", png()), prompt="x"),
     "markup"),  # a markup must have transparent pixels
    (lambda c: c.images.edit(model="gpt-image-1", image=("a.gif", gif()), prompt="x"), "image"),
])
def test_bad_uploads_are_the_apis_400_naming_the_param(base_client, use_profile, call, param):
    use_profile(Profile())
    assert refused(lambda: call(base_client))["param"] == param


def test_a_markup_is_laid_over_the_image(base_client, use_profile):
    use_profile(Profile())
    markup = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    markup.paste((255, 255, 255, 255), (0, 0, 64, 16))  # a white stroke along the top
    out = io.BytesIO()
    markup.save(out, "PNG")
    answer = base_client.images.edit(model="gpt-image-2.5-flare", image=("a.png", png((64, 64), (0, 0, 0, 255))),
                                     markup=("m.png", out.getvalue()), prompt="x", size="256x256")
    image = decoded(answer.data[0].b64_json).convert("RGB")
    assert sum(image.getpixel((128, 20))) > sum(image.getpixel((128, 200))) + 300  # the stroke shows through the tint
    with_mask = refused(lambda: base_client.images.edit(model="gpt-image-2.5-flare", image=("a.png", png((64, 64))),
                                                        markup=("m.png", out.getvalue()), mask=("k.png", png((64, 64))),
                                                        prompt="x"))
    assert with_mask["param"] == "markup"


def test_a_dall_e_model_cannot_stream(base_client, use_profile):
    use_profile(Profile())
    assert refused(lambda: list(base_client.images.generate(model="dall-e-3", prompt="x", stream=True)))["param"] == "stream"


# -- the profile's own pictures --------------------------------------------------------------


def test_the_profiles_image_is_what_every_image_is(face, use_profile, tmp_path):
    mine = png((40, 30), (1, 2, 3, 255))
    profile = Profile()
    profile.images(image=mine)
    use_profile(profile)
    answer = face.images.generate(model="gpt-image-1", prompt="anything", n=2)
    assert [base64.b64decode(d.b64_json) for d in answer.data] == [mine, mine]
    assert (answer.size, answer.output_format) == ("40x30", "png")  # what the image is, not what was asked
    url = face.images.generate(model="dall-e-2", prompt="anything").data[0].url
    assert fetch(url).content == mine
    path = tmp_path / "mine.png"
    path.write_bytes(mine)
    from_file = Profile()
    from_file.images.edit(image=str(path))
    use_profile(from_file)
    edited = face.images.edit(model="gpt-image-1", image=("a.png", png()), prompt="x")
    assert base64.b64decode(edited.data[0].b64_json) == mine
    assert base64.b64decode(face.images.generate(model="gpt-image-1", prompt="y").data[0].b64_json) != mine  # edit only


def test_a_handler_can_answer_the_url_or_the_bytes(base_client, use_profile):
    profile = Profile()

    @profile.images.generate
    def draw(request, state):
        if "link" in request.json["prompt"]:
            return {"url": "https://example.com/cat.png", "revised_prompt": "a cat, linked"}
        return png((8, 8))

    use_profile(profile)
    linked = base_client.images.generate(model="dall-e-3", prompt="a link")
    assert (linked.data[0].url, linked.data[0].revised_prompt) == ("https://example.com/cat.png", "a cat, linked")
    drawn = base_client.images.generate(model="gpt-image-1", prompt="bytes", stream=True, partial_images=1)
    events = list(drawn)
    assert base64.b64decode(events[-1].b64_json) == png((8, 8)) and decoded(events[0].b64_json).size == (8, 8)


def test_a_bad_image_knob_fails_when_the_profile_loads(tmp_path):
    profile = Profile()
    with pytest.raises((TypeError, ValueError), match="cannot read"):
        profile.images(image=str(tmp_path / "missing.png"))
    with pytest.raises((TypeError, ValueError), match="Pillow cannot open"):
        profile.images(image=b"not an image at all")
    source = tmp_path / "bad_profile.py"
    source.write_text("from openai_fake import Profile\nprofile = Profile()\nprofile.images(image='nowhere.png')\n")
    with pytest.raises(ProfileError, match="bad_profile.py:3"):
        load(str(source))


# -- the engine, without sockets --------------------------------------------------------------

AUTH = {"authorization": "Bearer sk-test-1234567890", "content-type": "application/json"}


def engine_call(engine, body, path="/v1/images/generations", headers=AUTH):
    reply = engine.handle(Request("POST", path, headers, json.dumps(body).encode()))
    return reply.status, json.loads(reply.body) if reply.body else None


def test_a_1024_png_is_drawn_in_milliseconds():
    engine = Engine(Profile())
    engine_call(engine, {"model": "gpt-image-1", "prompt": "warm up"})
    started = time.perf_counter()
    for i in range(5):
        status, _ = engine_call(engine, {"model": "gpt-image-1", "prompt": f"a new picture {i}"})
        assert status == 200
    each = (time.perf_counter() - started) / 5
    # A few ms on an idle machine; the bound leaves room for a loaded one. A pixel-by-pixel loop takes seconds.
    assert each < 0.15, f"{each * 1000:.0f} ms for a 1024x1024 PNG"


def test_image_urls_need_no_key_and_never_fail_by_the_profiles_failures():
    profile = Profile()
    profile.images(failures=1)
    engine = Engine(profile)
    assert engine_call(engine, {"model": "dall-e-2", "prompt": "p"})[0] == 500
    url = engine_call(engine, {"model": "dall-e-2", "prompt": "p"})[1]["data"][0]["url"]
    assert url.startswith("https://api.openai.com/v1/images/blobs/img-")
    got = engine.handle(Request("GET", url.removeprefix("https://api.openai.com"), {}))
    assert got.status == 200 and got.body.startswith(b"\x89PNG")


def test_the_url_is_on_the_scheme_host_and_port_the_request_came_to():
    engine = Engine(Profile())
    request = Request("POST", "/v1/images/generations", AUTH, b'{"model": "dall-e-2", "prompt": "p"}',
                      host="127.0.0.1", scheme="http", port=8123)
    assert json.loads(engine.handle(request).body)["data"][0]["url"].startswith("http://127.0.0.1:8123/v1/images/blobs/")
    ipv6 = Request("POST", "/v1/images/generations", AUTH, b'{"model": "dall-e-2", "prompt": "p"}',
                   host="::1", scheme="http", port=8123)
    assert json.loads(engine.handle(ipv6).body)["data"][0]["url"].startswith("http://[::1]:8123/")


def test_a_json_edit_names_its_images_by_url_data_url_or_file():
    engine = Engine(Profile())
    data_url = "data:image/png;base64," + base64.b64encode(png((100, 100))).decode()
    status, body = engine_call(engine, {"model": "gpt-image-1.5", "prompt": "x",
                                        "images": [{"image_url": data_url}, {"image_url": "https://example.com/a.png"}]},
                               "/v1/images/edits")
    assert status == 200 and decoded(body["data"][0]["b64_json"]).size == (1024, 1024)
    status, body = engine_call(engine, {"prompt": "x", "images": [{"file_id": "file-nothing"}]}, "/v1/images/edits")
    assert status == 404
    status, body = engine_call(engine, {"prompt": "x", "images": [{"image_url": "data:image/png;base64,bm90IGEgcG5n"}]},
                               "/v1/images/edits")
    assert status == 400 and body["error"]["param"] == "images[0].image_url"
    status, body = engine_call(engine, {"prompt": "x", "images": []}, "/v1/images/edits")
    assert status == 400 and body["error"]["param"] == "images"


def test_gif_and_svg_output():
    engine = Engine(Profile())
    status, body = engine_call(engine, {"model": "gpt-image-2", "prompt": "spin", "output_format": "gif", "frame_count": 4,
                                        "size": "512x512"})
    gif = decoded(body["data"][0]["b64_json"])
    assert status == 200 and (gif.format, gif.size, gif.n_frames) == ("GIF", (512, 512), 4)
    status, body = engine_call(engine, {"model": "gpt-image-2", "prompt": "a <vector> & more", "output_format": "svg"})
    svg = base64.b64decode(body["data"][0]["b64_json"]).decode()
    assert status == 200 and svg.startswith("<svg") and "a &lt;vector&gt; &amp; more" in svg
    assert engine_call(engine, {"model": "gpt-image-2", "prompt": "x", "output_format": "svg", "n": 2})[1]["error"]["param"] == "n"
    assert engine_call(engine, {"model": "gpt-image-2", "prompt": "x", "frame_count": 4})[1]["error"]["param"] == "frame_count"
    assert engine_call(engine, {"model": "gpt-image-2", "prompt": "x", "output_format": "gif",
                                "size": "3840x2160"})[1]["error"]["param"] == "size"


def test_without_a_model_generate_is_dall_e_2_unless_a_gpt_image_parameter_is_used():
    engine = Engine(Profile())
    assert "url" in engine_call(engine, {"prompt": "x"})[1]["data"][0]
    gpt = engine_call(engine, {"prompt": "x", "output_format": "jpeg"})[1]
    assert "b64_json" in gpt["data"][0] and gpt["output_format"] == "jpeg"


def test_a_stream_answer_is_summarised_for_tail():
    from proxy_addon.summaries import answer_of_stream

    reply = Engine(Profile()).handle(Request("POST", "/v1/images/generations", AUTH,
                                             b'{"model": "gpt-image-1", "prompt": "x", "stream": true, "partial_images": 1}'))
    assert answer_of_stream(reply.events) == "1 image 1024x1024 png"
