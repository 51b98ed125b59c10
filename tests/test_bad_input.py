"""Every endpoint, through gradio_client, with input no form would send: out of range, the wrong
type, NaN and infinity, empty and huge images, absurd counts. Each gets a clear message, and
afterwards the app still answers correctly."""

from __future__ import annotations

import json
import math
import re

import httpx
import numpy as np
import pytest
from conftest import cells, served_app
from gradio_client import Client, handle_file
from PIL import Image

NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def client(tiny_weights):
    with served_app(tiny_weights) as demo:
        yield Client(demo.local_url, verbose=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    Image.new("L", (5000, 5000), 0).save(d / "huge.png")
    Image.new("L", (1, 1), 0).save(d / "dot.png")
    Image.new("RGBA", (280, 280), (255, 255, 255, 0)).save(d / "blank.png")
    (d / "not-an-image.png").write_bytes(b"this is not a PNG")
    return {p.stem: handle_file(str(p)) for p in d.iterdir()}


def drawing(f):
    return {"background": None, "layers": [], "composite": f}


# (endpoint, arguments, what the message must say); images named by key are filled in below
CASES = [
    ("/gan_sample", ("mnist", "any", 10_000, 0), r"maximum|number of images"),
    ("/gan_sample", ("mnist", "any", 0, 0), r"minimum|number of images"),
    ("/gan_sample", ("mnist", "any", 4, -1), r"minimum|seed"),
    ("/gan_sample", ("mnist", "any", 4, 1e30), r"maximum|seed"),
    ("/gan_sample", ("mnist", "any", "four", 0), r"number|float|int"),
    ("/gan_sample", ("mnist", "any", NAN, 0), r"number of images|nan"),
    ("/gan_sample", ("mnist", "giraffe", 4, 0), r"not in the list of choices|unknown class"),
    ("/gan_sample", ("cifar100", "any", 4, 0), r"not in the list of choices|unknown dataset"),
    ("/gan_sample", ("mnist", "any", 4, 0, 0.0), r"minimum|truncation"),
    ("/gan_sample", ("mnist", "any", 4, 0, INF), r"maximum|truncation"),
    ("/gan_discriminate", ("mnist", "any", 1e9, 0), r"maximum|number of images"),
    ("/gan_timeline", ("mnist", 10_000), r"maximum|epoch"),
    ("/gan_timeline", ("mnist", -3), r"minimum|epoch"),
    ("/vae_sample", ("mnist", "any", -5, 0), r"minimum|number of images"),
    ("/vae_reconstruct", ("mnist", "drawing", "blank", 0, 3, 0), r"drawing is empty"),
    ("/vae_reconstruct", ("mnist", "drawing", "huge", 0, 3, 0), r"too large"),
    ("/vae_reconstruct", ("mnist", "drawing", "dot", 0, 3, 0), r"expected an image|drawing"),
    ("/vae_reconstruct", ("mnist", "drawing", "not-an-image", 0, 3, 0), r"image|drawing"),
    ("/vae_reconstruct", ("mnist", "test image", None, 99_999, 3, 0), r"maximum|test image"),
    ("/vae_reconstruct", ("mnist", "test image", None, 0, 1000, 0), r"maximum|draws"),
    ("/vae_reconstruct", ("mnist", "a poem", None, 0, 3, 0), r"not in the list of choices|source"),
    ("/vae_traverse", ("mnist", "any", 0, 999, 3, 4), r"maximum|dimension"),
    ("/vae_traverse", ("mnist", "any", 0, 0, NAN, 4), r"span|nan"),
    ("/diffusion_forward", ("mnist", 0, 5000), r"maximum|timestep"),
    ("/diffusion_forward", ("mnist", 0, -1), r"minimum|timestep"),
    ("/diffusion_forward", ("mnist", 0.5, 10), r"test image|whole number"),
    ("/diffusion_sample", ("mnist", "any", 2, 0, "ddpm", 0, 2.0), r"minimum|steps"),
    ("/diffusion_sample", ("mnist", "any", 2, 0, "ddpm", 10**7, 2.0), r"maximum|steps"),
    ("/diffusion_sample", ("mnist", "any", 2, 0, "euler", 5, 2.0), r"not in the list of choices|scheduler"),
    ("/diffusion_sample", ("mnist", "any", 2, 0, "ddpm", 5, INF), r"maximum|guidance"),
    ("/diffusion_sample", ("mnist", "any", 64, 0, "ddpm", 5, 2.0), r"at most 16|maximum"),
    ("/latent_map", ("mnist", "transformer"), r"not in the list of choices|unknown family"),
    ("/latent_decode_point", ("vae", "mnist", 1e30, 0.0), r"x must be"),
    ("/latent_decode_point", ("vae", "mnist", 0.0, NAN), r"y must be"),
    ("/latent_sample", ("mnist", "gan", -1), r"minimum|seed"),
    ("/latent_interpolate", ("mnist", "vae", "seed", 1, "seed", 2, 1, "lerp"), r"minimum|steps"),
    ("/latent_interpolate", ("mnist", "vae", "seed", 1, "seed", 2, 500, "lerp"), r"maximum|steps"),
    ("/latent_interpolate", ("mnist", "vae", "seed", 1, "seed", 2, 4, "cubic"), r"not in the list of choices|lerp or slerp"),
    ("/same_seed", ("mnist", "any", "lucky"), r"number|float|int|seed"),
    ("/image_space_map", ("imagenet",), r"not in the list of choices|unknown dataset"),
    ("/encode_three_ways", ("mnist", "test image", None, 10**6), r"maximum|test image"),
    ("/encode_three_ways", ("mnist", "drawing", "blank", 0), r"drawing is empty"),
    ("/compare", ("mnist", "any", 500, 0), r"maximum|at most 16"),
    ("/classify", ("mnist", "huge"), r"too large"),
    ("/classify", ("mnist", "not-an-image"), r"image"),
    ("/classify", ("mnist", None), r"no image"),
    ("/nearest_training", ("mnist", "dot", 3, "pixels"), r"expected an image"),
    ("/nearest_training", ("mnist", "blank", 0, "pixels"), r"minimum|neighbours"),
    ("/nearest_training", ("mnist", "blank", 3, "smell"), r"not in the list of choices|space must be"),
    ("/live_train", ("mnist", "vae", 5.0, 16, 1.0, 1000), r"maximum|learning rate"),
    ("/live_train", ("mnist", "vae", 1e-3, 0, 1.0, 1000), r"minimum|latent size"),
    ("/live_train", ("mnist", "vae", 1e-3, 16, -2.0, 1000), r"minimum|beta"),
    ("/live_train", ("mnist", "vae", 1e-3, 16, 1.0, 3), r"minimum|training images"),
    ("/live_train", ("mnist", "vae", NAN, 16, 1.0, 1000), r"learning rate|nan"),
    ("/live_train", ("mnist", "flow", 1e-3, 16, 1.0, 1000), r"not in the list of choices|family must be"),
    ("/live_preview", ("cifar100", "vae", 1e-3, 16, 1.0, 1000), r"not in the list of choices|unknown dataset"),
]  # fmt: skip

IMAGE_ARGS = {"/vae_reconstruct": 2, "/encode_three_ways": 2, "/classify": 1, "/nearest_training": 1}


def raw_call(url: str, endpoint: str, args: list) -> str:
    """Gradio's REST API by hand (POST the data, read the event stream): JSON that gradio_client
    refuses to write, such as NaN and Infinity, still reaches the server this way."""
    base = url.rstrip("/") + "/gradio_api/call" + endpoint
    body = json.dumps({"data": args})  # Python writes NaN and Infinity as JavaScript does
    r = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=60)
    r.raise_for_status()
    with httpx.stream("GET", f"{base}/{r.json()['event_id']}", timeout=120) as events:
        return "".join(events.iter_text())


@pytest.mark.parametrize(("endpoint", "args", "message"), CASES, ids=[f"{c[0][1:]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_gets_a_clear_message(client, images, endpoint, args, message):
    if any(isinstance(a, float) and not math.isfinite(a) for a in args):
        stream = raw_call(client.src, endpoint, list(args))
        assert "event: error" in stream and "event: complete" not in stream, stream
        assert re.search(message, stream, re.I), stream
        return
    args = list(args)
    i = IMAGE_ARGS.get(endpoint)
    if i is not None and isinstance(args[i], str):
        args[i] = (
            drawing(images[args[i]]) if endpoint in ("/vae_reconstruct", "/encode_three_ways") else images[args[i]]
        )
    with pytest.raises(Exception) as caught:
        client.submit(*args, api_name=endpoint).result()
    text = str(caught.value)
    assert text.strip() and "Traceback" not in text
    assert re.search(message, text, re.I), text


def test_still_serving_correctly_afterwards(client):
    picture, text = client.predict("mnist", "3", 2, 7, api_name="/gan_sample")
    again, _ = client.predict("mnist", "3", 2, 7, api_name="/gan_sample")
    assert len(cells(picture, 8)) == 2 and "GAN" in text
    assert np.array_equal(np.asarray(Image.open(picture)), np.asarray(Image.open(again)))  # same seed, same images
