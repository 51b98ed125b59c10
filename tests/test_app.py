"""The page: every handler as a plain function, bad input as gr.Error, and the launched app
through gradio_client."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import gradio as gr
import numpy as np
import pytest
import torch
from conftest import ROOT, cells, endpoints
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

from playground import weights
from playground.clients import when_up
from playground.data import DATASETS, draw_classes
from playground.images import image_to_tensor, to_pil
from playground.models import make_generator
from playground.ui import build_app, common, compare_tab, diffusion_tab, gan_tab, latent_tab, results, vae_tab
from playground.ui.app import launch


def drawn_digit(size: int = 280) -> np.ndarray:
    """A "1" drawn in black on white, as the Sketchpad sends it (RGBA)."""
    img = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    ImageDraw.Draw(img).line([(140, 40), (140, 240)], fill=(0, 0, 0, 255), width=22)
    return np.asarray(img)


def test_gan_handlers(use_weights):
    picture, text = gan_tab.gan_sample("mnist", "3", 4, 0)
    images = cells(picture, 8)
    assert len(images) == 4 and images[0].size == (28 * common.IMAGE_SCALE,) * 2
    assert "GAN generator" in text and "1 network evaluation per image" in text
    fakes, reals, verdict = gan_tab.gan_discriminate("mnist", "any", 3, 1)
    assert len(cells(fakes, 4, captioned=True)) == 3 and len(cells(reals, 4, captioned=True)) == 3
    assert "probability of **real**" in verdict
    grid, plot, text = gan_tab.gan_timeline("mnist", 1)
    assert grid.width > 100 and plot.width > 100 and "Epoch 1 of 1" in text


def test_vae_handlers(use_weights):
    picture, text = vae_tab.vae_sample("mnist", "any", 5, 0)
    assert len(cells(picture, 8)) == 5 and "VAE decoder" in text
    shown, spread, draws, recon, text = vae_tab.vae_reconstruct("mnist", "test image", None, 2, 4, 0)
    assert len(cells(draws, 8)) == 4 and "KL" in text and recon.size == shown.size
    shown, *_ = vae_tab.vae_reconstruct("mnist", "drawing", {"composite": drawn_digit()}, 0, 2, 0)
    centre = np.asarray(shown)[shown.height // 2]
    assert centre.max() > 200 and centre[:20].max() < 50  # white stroke in the middle, black border
    strip, text = vae_tab.vae_traverse("mnist", "2", 0, 1, 3, 5)
    assert strip.width > 4 * strip.height and "Dimension 1" in text
    assert vae_tab.vae_losses("mnist").width > 100


def test_diffusion_handlers(use_weights, monkeypatch):
    clean, noisy, plot, text = diffusion_tab.diffusion_forward("mnist", 1, 500)
    assert clean.size == noisy.size and "At t = 500" in text
    base, where = diffusion_tab.schedule_plot(common.load("mnist", "diffusion"))  # drawn once, marked per t
    x, top, bottom = where(500)
    column = np.asarray(plot.convert("L"))[int(top) + 2 : int(bottom) - 2, round(x)]
    assert (column < 80).mean() > 0.3  # the dashed marker is drawn at t = 500 ...
    assert (np.asarray(base.convert("L"))[int(top) + 2 : int(bottom) - 2, round(x)] < 80).mean() < 0.1  # ... on a copy
    monkeypatch.setattr(diffusion_tab, "FRAME_INTERVAL_S", 0.0)
    frames = list(diffusion_tab.diffusion_sample("mnist", "7", 2, 0, "ddim", 3, 2.0))
    assert len(frames) == 3  # one per step, when steps are slower than the interval
    assert all(f[3] is None for f in frames[:-1]) and frames[-1][3].endswith(".gif")
    gif = Image.open(frames[-1][3])
    assert gif.n_frames == 3
    assert "6 network evaluations per image" in frames[-1][2]  # 3 steps × 2 with guidance
    monkeypatch.setattr(diffusion_tab, "FRAME_INTERVAL_S", 3600.0)
    frames = list(diffusion_tab.diffusion_sample("mnist", "7", 2, 0, "ddim", 5, 2.0))
    assert [f[2].split(" (")[0] for f in frames[:1]] == ["Step 1 of 5"] and len(frames) == 2  # the first and the last
    assert Image.open(frames[-1][3]).n_frames == 5  # the GIF keeps every step


def test_the_diffusion_tab_offers_the_distilled_student_where_there_is_one(use_both_weights):
    assert ("Distilled student", "distilled") in diffusion_tab.scheduler_choices("mnist")
    assert "distilled" not in [name for _, name in diffusion_tab.scheduler_choices("fashion")]
    steps, w = diffusion_tab.distilled_sampler("mnist")
    assert (steps, w) == (2, common.load("mnist", "diffusion").guidance_scale)  # distilled at the teacher's own
    assert diffusion_tab.on_scheduler("mnist", "distilled") == [steps, w]  # choosing it sets both
    frames = list(diffusion_tab.diffusion_sample("mnist", "7", 2, 0, "distilled", steps, w))
    assert "2 network evaluations per image" in frames[-1][2] and "built in" in frames[-1][2]
    with pytest.raises(gr.Error, match="samples in 2 steps"):
        next(diffusion_tab.diffusion_sample("mnist", "7", 2, 0, "distilled", 5, w))
    with pytest.raises(gr.Error, match="no distilled student"):
        next(diffusion_tab.diffusion_sample("fashion", "7", 2, 0, "distilled", steps, w))


def test_any_class_samples_the_data_and_unconditional_gives_no_class(use_weights):
    """ "any" draws each image's class from p(y) with the seed, then samples that class; the
    "unconditional" choice gives the model no class at all."""
    info = DATASETS["mnist"]
    assert common.class_choices("mnist") == ["any", *info.class_names, "unconditional"]
    model = weights.load("mnist", "gan")
    classes = draw_classes(info, 6, 5)
    assert torch.equal(classes, draw_classes(info, 6, 5)) and not torch.equal(classes, draw_classes(info, 6, 6))
    as_shown = [np.asarray(c) for c in cells(gan_tab.gan_sample("mnist", "any", 6, 5)[0], 8)]
    expected = model.sample(6, seed=5, class_labels=classes)
    assert all(
        np.array_equal(a, np.asarray(to_pil(e, common.IMAGE_SCALE))) for a, e in zip(as_shown, expected, strict=True)
    )
    unconditional = cells(gan_tab.gan_sample("mnist", "unconditional", 6, 5)[0], 8)
    assert np.array_equal(
        np.asarray(unconditional[0]), np.asarray(to_pil(model.sample(6, seed=5)[0], common.IMAGE_SCALE))
    )
    assert "unconditional" in gan_tab.gan_discriminate("mnist", "unconditional", 2, 0)[2]
    assert "as often as in the training data" in compare_tab.compare("mnist", "any", 2, 0)[3]
    picture, text = vae_tab.vae_traverse("mnist", "any", 3, 0, 2, 4)
    assert "as often as in the training data" in text


def test_classes_are_drawn_as_often_as_in_the_training_data():
    info = DATASETS["mnist"]
    assert info.class_prior.sum().item() == pytest.approx(1) and info.class_prior.argmax().item() == 1  # most 1s
    drawn = torch.bincount(draw_classes(info, 200_000, 0), minlength=10).double() / 200_000
    assert torch.allclose(drawn, info.class_prior, atol=0.003)
    assert torch.equal(DATASETS["fashion"].class_prior, torch.full((10,), 0.1, dtype=torch.float64))


def test_same_seed_same_images_for_every_user(use_weights):
    a, _ = gan_tab.gan_sample("mnist", "any", 3, 42)
    b, _ = gan_tab.gan_sample("mnist", "any", 3, 42)
    assert np.array_equal(np.asarray(a), np.asarray(b))


BAD = [
    (gan_tab.gan_sample, ("mnist", "any", 0, 0), "number of images"),
    (gan_tab.gan_sample, ("mnist", "any", 10_000, 0), "number of images"),
    (gan_tab.gan_sample, ("mnist", "any", float("nan"), 0), "number of images"),
    (gan_tab.gan_sample, ("mnist", "any", 2, -1), "seed"),
    (gan_tab.gan_sample, ("mnist", "any", 2, 0, 0.0), "truncation"),
    (gan_tab.gan_sample, ("mnist", "eleven", 2, 0), "unknown class"),
    (gan_tab.gan_sample, ("svhn", "any", 2, 0), "unknown dataset"),
    (gan_tab.gan_sample, ("fashion", "any", 2, 0), "no gan weights"),
    (gan_tab.gan_timeline, ("mnist", 99), "epoch"),
    (vae_tab.vae_reconstruct, ("mnist", "drawing", None, 0, 4, 0), "drawing is empty"),
    (vae_tab.vae_reconstruct, ("mnist", "drawing", vae_tab.empty_drawing_value(), 0, 4, 0), "drawing is empty"),
    (vae_tab.vae_reconstruct, ("mnist", "drawing", {"composite": np.full((9, 9), np.nan)}, 0, 4, 0), "NaN"),
    (vae_tab.vae_reconstruct, ("mnist", "test image", None, 10**9, 4, 0), "test image"),
    (vae_tab.vae_reconstruct, ("mnist", "webcam", None, 0, 4, 0), "source"),
    (vae_tab.vae_traverse, ("mnist", "any", 0, 99, 3, 5), "dimension"),
    (diffusion_tab.diffusion_forward, ("mnist", 0, 1000), "timestep"),
    (diffusion_tab.diffusion_forward, ("mnist", 0, -1), "timestep"),
]


@pytest.mark.parametrize("fn, args, message", BAD, ids=[f"{f.__name__}-{m}" for f, _, m in BAD])
def test_bad_input_is_a_gradio_error(use_weights, fn, args, message):
    with pytest.raises(gr.Error, match=message):
        fn(*args)


@pytest.mark.parametrize(
    "args, message",
    [
        (("mnist", "any", 2, 0, "ddim", 0, 2.0), "steps"),
        (("mnist", "any", 2, 0, "euler", 5, 2.0), "unknown scheduler"),
        (("mnist", "any", 2, 0, "ddim", 5, float("inf")), "guidance"),
        (("mnist", "any", 64, 0, "ddim", 5, 2.0), "at most 16"),
    ],
)
def test_bad_diffusion_options(use_weights, args, message):
    with pytest.raises(gr.Error, match=message):
        next(diffusion_tab.diffusion_sample(*args))


def test_page_without_weights_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_WEIGHTS", str(tmp_path))
    demo = build_app()
    assert any("No trained weights" in str(getattr(b, "value", "")) for b in demo.blocks.values())


def test_every_heavy_endpoint_takes_the_heavy_slot(use_weights):
    # A function that computes holding the heavy lock (remembered(heavy=True)) must queue in the
    # heavy slot too, or a visitor's requests wait for the lock while holding the light workers.
    # (the page's opening events, api_name "false_N", take theirs in app.wire_openings, from is_heavy)
    served = endpoints(build_app())
    heavy = {name for name, f in served.items() if results.is_heavy(f.fn)}
    assert {"diffusion_sample", "compare", "same_seed", "image_space_map"} <= heavy
    assert heavy == {name for name, f in served.items() if f.concurrency_id == common.HEAVY["concurrency_id"]}


@pytest.fixture
def client(use_weights):
    demo = build_app()
    launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_every_api_name_through_gradio_client(client, tmp_path):
    assert client.predict(api_name="/ping") == "ok"  # the trivial endpoint scripts/bench.py measures against
    picture, text = client.predict("mnist", "7", 3, 5, api_name="/gan_sample")
    assert len(cells(picture, 8)) == 3 and "GAN" in text  # one file for all the images
    fakes, reals, verdict = client.predict("mnist", "any", 2, 5, api_name="/gan_discriminate")
    assert len(cells(fakes, 4, captioned=True)) == len(cells(reals, 4, captioned=True)) == 2
    grid, plot, _ = client.predict("mnist", 1, api_name="/gan_timeline")
    assert Image.open(grid).width > 100
    picture, text = client.predict("mnist", "any", 4, 1, api_name="/vae_sample")
    assert len(cells(picture, 8)) == 4
    Image.fromarray(drawn_digit()).save(tmp_path / "d.png")
    drawing = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "d.png"))}
    shown, spread, draws, recon, text = client.predict(
        "mnist", "drawing", drawing, 0, 3, 0, api_name="/vae_reconstruct"
    )
    assert len(cells(draws, 8)) == 3 and "KL" in text
    strip, _ = client.predict("mnist", "any", 0, 0, 3, 4, api_name="/vae_traverse")
    assert Image.open(strip).width > 0
    clean, noisy, plot, text = client.predict("mnist", 0, 300, api_name="/diffusion_forward")
    assert "t = 300" in text
    job = client.submit("mnist", "1", 2, 0, "dpm++", 4, 2.0, api_name="/diffusion_sample")
    outputs = list(job)  # streamed: the first step, then at most one step per FRAME_INTERVAL_S, and the last
    assert 2 <= len(outputs) <= 4 and str(outputs[-1][3]).endswith(".gif")
    the_map, text = client.predict("mnist", "vae", api_name="/latent_map")
    assert Image.open(the_map).size == (520, 520)
    decoded, marked, text = client.predict("vae", "mnist", 0.0, 0.0, api_name="/latent_decode_point")
    assert "Decoded (0.00, 0.00)" in text
    decoded, marked, text = client.predict("mnist", "diffusion", 4, api_name="/latent_sample")
    assert "seed 4" in text
    strips, norms, path_map, _ = client.predict(
        "mnist", "gan", "seed", 1, "seed", 2, 4, "lerp", api_name="/latent_interpolate"
    )
    assert Image.open(strips).height > 3 * Image.open(path_map).height / 10  # a strip per family
    trio, _ = client.predict("mnist", "any", 3, api_name="/same_seed")
    assert Image.open(trio).width > 3 * 28 * 6
    shown, results, text = client.predict("mnist", "test image", None, 2, api_name="/encode_three_ways")
    assert Image.open(results).width > 3 * 28 * 6
    gan, vae, diffusion, table = client.predict("mnist", "3", 2, 0, api_name="/compare")
    assert [len(cells(p, compare_tab.COMPARE_COLUMNS, captioned=True)) for p in (gan, vae, diffusion)] == [2, 2, 2]
    assert "| VAE |" in table
    first = cells(gan, compare_tab.COMPARE_COLUMNS, captioned=True)[0]
    first.save(tmp_path / "first.png")
    picture = handle_file(str(tmp_path / "first.png"))
    verdict = client.predict("mnist", picture, api_name="/classify")
    assert verdict["label"] == compare_tab.verdicts("mnist", image_to_tensor(np.asarray(first)))[0].split(" · ")[0]
    found, text = client.predict("mnist", picture, 4, "pixels", api_name="/nearest_training")
    assert len(cells(found, compare_tab.NEAREST_COLUMNS, captioned=True)) == 4 and "distance" in text
    live = ("mnist", "vae", 1e-3, 8, 1.0, 100)
    samples, losses, status = client.predict(*live, api_name="/live_preview")
    assert Image.open(samples).width > 10 * 28 and "not trained yet" in status
    job = client.submit(*live, api_name="/live_train")
    for _, _, status in job:  # streamed: one update per slice of training
        if "step" in status and "not trained yet" not in status:
            break
    job.cancel()
    assert "Paused at step" in client.predict(api_name="/live_pause")
    samples, losses, status = client.predict(*live, api_name="/live_reset")
    assert "not trained yet" in status
    assert "too few denoising steps" in client.predict("mnist", api_name="/failure_modes")


def test_bad_input_through_the_client_then_still_serving(client):
    with pytest.raises(Exception, match="greater than maximum|number of images"):
        client.predict("mnist", "7", 500, 5, api_name="/gan_sample")
    with pytest.raises(Exception, match="not in the list of choices|unknown class"):
        client.predict("mnist", "zebra", 2, 5, api_name="/gan_sample")
    with pytest.raises(Exception, match="drawing is empty"):
        client.predict("mnist", "drawing", None, 0, 3, 0, api_name="/vae_reconstruct")
    picture, _ = client.predict("mnist", "any", 1, 5, api_name="/gan_sample")  # still serving
    assert len(cells(picture, 8)) == 1


# --- the latent-space panel ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["gan", "vae", "diffusion"])
def test_latent_map_and_click(use_weights, family):
    image, text = latent_tab.latent_map("mnist", family)
    assert image.size == (520, 520) and "nearest neighbours" in text
    m, _ = latent_tab.get_map("mnist", family)
    x, y = m.points[3]
    decoded, marked, text = latent_tab.latent_decode_point(family, "mnist", x, y)
    assert decoded.size == (28 * 6, 28 * 6) and marked.size == (520, 520)
    # a click on the pixel where that point is drawn decodes the same point
    _, axes = latent_tab.draw_map("mnist", family)
    px, py = axes.to_pixel(x, y)
    event = type("Select", (), {"index": [px, py]})()
    decoded2, _, text2 = latent_tab.on_map_select("mnist", family, event)
    assert np.array_equal(np.asarray(decoded), np.asarray(decoded2))
    assert marked.getpixel((round(px), round(py))) == (250, 204, 21)  # the yellow star sits on the point
    assert latent_tab.plain_map("mnist", family)[0].getpixel((round(px), round(py))) != (250, 204, 21)  # a copy


def test_a_diffusion_vector_decodes_to_one_image_alone_or_in_a_strip(use_weights):
    """On the latent panel diffusion's vector (x_T and each step's noise) alone fixes its image: the
    same wherever it sits in a batch, and another vector gives another image."""
    model = common.load("mnist", "diffusion")
    space = model.latent_space()
    z = space.sample(3, make_generator(5))
    assert z.shape == (3, *model.noise_space_shape()) == (3, *space.shape)
    strip = space.decode(z)
    assert torch.allclose(strip[2], space.decode(z[2:])[0], atol=1e-4)
    assert (strip[0] - strip[1]).abs().mean() > 0.05


def test_latent_sample_interpolate_same_seed(use_weights):
    decoded, marked, text = latent_tab.latent_sample("mnist", "gan", 3)
    assert "seed 3" in text
    strips, norms, path_map, text = latent_tab.latent_interpolate(
        "mnist", "vae", "seed", 1, "test image", 2, 5, "slerp"
    )
    assert strips.height > 3 * (2 * 28) and norms.width > 100 and "slerp" in text  # a strip per family
    trio, text = latent_tab.same_seed("mnist", "4", 7)
    assert trio.width > 3 * 28 * 6 and "Seed 7" in text


def test_image_space_map_and_encode_three_ways(use_weights):
    image, text = latent_tab.image_space_map("mnist")
    assert image.size == (520, 520)
    shown, results, text = latent_tab.encode_three_ways("mnist", "test image", None, 1)
    assert results.width > 3 * 28 * 6 and "DDIM inversion" in text and "GAN inversion" in text


@pytest.mark.parametrize(
    "fn, args, message",
    [
        (lambda: latent_tab.latent_map("mnist", "flow"), (), "unknown family"),
        (lambda: latent_tab.latent_decode_point("vae", "mnist", float("nan"), 0), (), "x must be"),
        (lambda: latent_tab.latent_decode_point("vae", "mnist", 0, 1e9), (), "y must be"),
        (lambda: latent_tab.latent_interpolate("mnist", "vae", "seed", 1, "seed", 2, 1, "lerp"), (), "steps"),
        (lambda: latent_tab.latent_interpolate("mnist", "vae", "seed", 1, "seed", 2, 4, "cubic"), (), "lerp or slerp"),
        (lambda: latent_tab.latent_interpolate("mnist", "vae", "url", 1, "seed", 2, 4, "lerp"), (), "endpoint"),
        (lambda: latent_tab.encode_three_ways("mnist", "drawing", None, 0), (), "drawing is empty"),
    ],
)
def test_latent_bad_input(use_weights, fn, args, message):
    with pytest.raises(gr.Error, match=message):
        fn(*args)


# --- the comparison --------------------------------------------------------------------------------


def test_compare_side_by_side(use_weights):
    pictures = compare_tab.compare("mnist", "5", 3, 0)
    gan, vae, diffusion, table = pictures
    per_family = [cells(p, compare_tab.COMPARE_COLUMNS, captioned=True) for p in pictures[:3]]
    assert [len(c) for c in per_family] == [3, 3, 3]
    assert "| GAN |" in table and "| Diffusion |" in table and "network evaluations" in table
    # each image is captioned with the classifier's verdict on it
    image = image_to_tensor(np.asarray(per_family[0][0]))
    probs = weights.load("mnist", "classifier").predict_proba(image)[0]
    assert compare_tab.verdicts("mnist", image) == [f"{probs.argmax().item()} · {probs.max().item():.0%}"]
    caption = np.asarray(gan.convert("L"))[4 + 112 : 4 + 112 + 16, 4 : 4 + 112]
    assert caption.min() < 100  # drawn under the image


def test_a_click_on_a_compare_picture_inspects_the_image_under_it(use_weights):
    gan, *_ = compare_tab.compare("mnist", "5", 3, 0)
    shown = cells(gan, compare_tab.COMPARE_COLUMNS, captioned=True)

    def click(x, y):
        return compare_tab.picked("mnist", gan, 4, "pixels", gr.SelectData(None, {"index": [x, y], "value": None}))

    image, verdict, near, text = click(4 + 116 + 100, 4 + 112 + 10)  # on the second image's caption
    assert np.array_equal(np.asarray(image), np.asarray(shown[1]))
    assert verdict == compare_tab.classify("mnist", image) and "The 4 nearest" in text
    assert near.size == compare_tab.nearest_training("mnist", image, 4, "pixels")[0].size
    for x, y in [(2, 50), (4 + 112 + 1, 50), (4 + 3 * 116 + 50, 50), (10_000, 10)]:  # padding, blank cell, outside
        assert click(x, y) == (gr.skip(),) * 4


def test_compare_samples_each_model_with_its_own_settings(use_weights):
    model = weights.load("mnist", "diffusion")
    model.sampler, model.num_inference_steps = "ddim", 3  # a model that samples otherwise (the cache is reset after)
    *_, diffusion, table = compare_tab.compare("mnist", "5", 2, 0)
    row = next(line for line in table.splitlines() if line.startswith("| Diffusion |"))
    assert row.split(" | ")[3] == str(3 * 2)  # network evaluations: 3 steps, twice each for the guidance
    own = model.sample(2, seed=0, class_labels=5)
    shown = cells(diffusion, compare_tab.COMPARE_COLUMNS, captioned=True)
    assert np.array_equal(np.asarray(shown[0]), np.asarray(to_pil(own[0], common.IMAGE_SCALE)))


def test_classify_any_image(use_weights):
    x, y = weights.load_examples("mnist")
    big = to_pil(x[0], 4)  # as the gallery shows it: 112 px with sharp pixels
    assert torch.equal(image_to_tensor(np.asarray(big)), (x[:1] * 255).round() / 255)
    probs = compare_tab.classify("mnist", np.asarray(big))
    expected = weights.load("mnist", "classifier").predict_proba(x[:1])[0]
    assert list(probs) == list(DATASETS["mnist"].class_names)
    assert list(probs.values()) == pytest.approx(expected.tolist(), abs=1e-3)


@pytest.mark.parametrize("space", ["pixels", "classifier features"])
def test_nearest_training_image_of_a_training_image_is_itself(use_weights, space):
    train_x, train_y, train_index = weights.load_training_subset("mnist")
    for i in (0, len(train_x) - 1):
        found, text = compare_tab.nearest_training("mnist", to_pil(train_x[i], 4), 3, space)
        assert len(cells(found, compare_tab.NEAREST_COLUMNS, captioned=True)) == 3 and "training images" in text
        listed = re.findall(r"#(\d+) \((\w+), distance ([\d.]+)\)", text)
        itself = (str(train_index[i].item()), str(train_y[i].item()), "0.00")
        distances = [float(d) for *_, d in listed]
        assert len(listed) == 3 and distances == sorted(distances) and distances[0] == 0
        if space == "pixels":
            assert listed[0] == itself and distances[1] > 0
        else:  # the tiny untrained classifier maps many images to the same features: ties at 0
            assert itself in listed


def test_copy_and_sweep_figures_read_their_files(use_weights, monkeypatch):
    image, text = compare_tab.copy_figure("mnist")
    assert image.size[0] > 300 and "nearest training image" in text
    image, text = compare_tab.sweep_figure("mnist")
    sweep = json.loads((use_weights / "mnist" / "sweep.json").read_text())
    points = [(p["scheduler"], p["steps"], p["nfe"]) for p in sweep["points"]]
    assert points == [
        ("ddpm", 2, 4),
        ("ddpm", 3, 6),
        ("ddim", 2, 4),
        ("distilled", 2, 2),
    ]  # the student: guidance built in
    for p in sweep["points"]:
        assert f"| {p['scheduler']} | {p['steps']} | {p['nfe']} | {p['fid']:.1f} |" in text
    assert sweep["command"] in text and f"on {sweep['hardware']['cpu']} (" in text
    assert "this sweep used" not in text  # measured at the model's own guidance
    assert sweep["weights"] == weights.fingerprint("mnist", "diffusion") and "earlier version" not in text
    with monkeypatch.context() as m:  # weights changed since the sweep: the panel says so
        m.setattr(weights, "fingerprint", lambda *a: "0123456789abcdef")
        assert "on an earlier version of the model" in compare_tab.sweep_figure("mnist")[1]
    weights.load("mnist", "diffusion").guidance_scale = 2.0  # a model that samples otherwise (the cache is reset after)
    assert "samples at guidance 2 unless told; this sweep used 1.5" in compare_tab.sweep_figure("mnist")[1]


@pytest.mark.parametrize(
    ("fn", "args", "message"),
    [
        (compare_tab.classify, ("mnist", None), "no image"),
        (compare_tab.classify, ("mnist", np.zeros((1, 1))), "expected an image"),
        (compare_tab.classify, ("mnist", np.full((8, 8), np.nan)), "NaN"),
        (compare_tab.classify, ("nope", np.zeros((8, 8))), "unknown dataset"),
        (compare_tab.nearest_training, ("mnist", np.zeros((8, 8)), 0, "pixels"), "neighbours"),
        (compare_tab.nearest_training, ("mnist", np.zeros((8, 8)), 3, "smell"), "space must be one of"),
        (compare_tab.nearest_training, ("mnist", np.zeros((5000, 5000)), 3, "pixels"), "too large"),
    ],
)
def test_compare_bad_input(use_weights, fn, args, message):
    with pytest.raises(gr.Error, match=message):
        fn(*args)


def test_quality_table_is_metrics_json(use_weights):
    df, method = compare_tab.quality_table("mnist")
    metrics = json.loads((use_weights / "mnist" / "metrics.json").read_text())
    assert list(df[""]) == ["real data (floor)", "GAN", "VAE", "Diffusion"]
    for title, fam in [("GAN", "gan"), ("VAE", "vae"), ("Diffusion", "diffusion")]:
        row = df[df[""] == title].iloc[0]
        assert row["FID"] == pytest.approx(metrics["families"][fam]["fid"], abs=1e-3)
        assert row["class accuracy"] == pytest.approx(metrics["families"][fam]["class_accuracy"], abs=1e-3)
        trained = json.loads((use_weights / "mnist" / fam / "training" / "summary.json").read_text())
        assert row["training"].startswith(f"{trained['epochs']} epochs, ")
    assert "not comparable with published" in method and metrics["command"] in method


def test_quality_table_without_metrics(use_weights, monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_WEIGHTS", str(tmp_path))
    with pytest.raises(gr.Error, match="no metrics measured"):
        compare_tab.quality_table("mnist")


def test_app_py_starts_and_answers(tmp_path):
    """The entry point as a Space runs it, warm start and all: it answers its first request, and
    logs no error."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", "CPU_CORES": "2"}
    env.pop("PLAYGROUND_WEIGHTS", None)  # the shipped weights, as a visitor gets them
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            up = when_up(f"http://127.0.0.1:{port}/", app, deadline=time.perf_counter() + 240)
        except RuntimeError as exc:
            pytest.fail(f"{exc}\n{(tmp_path / 'app.log').read_text()}")
        picture, text = up.predict("mnist", "any", 4, 0, api_name="/gan_sample")
        assert len(cells(picture, 8)) == 4 and "GAN" in text
    finally:
        app.terminate()
        app.wait(30)
        log.close()
    assert "Traceback" not in (tmp_path / "app.log").read_text()
