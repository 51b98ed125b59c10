"""The shipped weights are what they claim: intact, loadable, small, and as good as metrics.json says."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import ROOT
from diffusers import DDPMScheduler, UNet2DModel

from playground import neighbours, weights
from playground.data import get_info
from playground.images import CAPTION_PX, Tiling
from playground.models import kernels, make_generator
from playground.models.diffusion import INVERSION_STEPS
from playground.ui import latent_tab
from playground.ui.latent_tab import DDIM_DECODER

SHIPPED = ROOT / "weights"
REQUIRED = ["mnist", "fashion"]  # datasets the product must ship
DATASETS = sorted(set(REQUIRED) | set(weights.available(SHIPPED)))
N_PER_CLASS = 20  # 200 samples per family: enough to check the claim, fast on two cores


pytestmark = pytest.mark.shipped


@pytest.fixture(scope="module", autouse=True)
def fresh_cache():
    weights.clear_cache()
    yield
    weights.clear_cache()


def test_manifest_covers_and_matches_every_file():
    listed = weights.read_manifest(SHIPPED)
    files = {
        p.relative_to(SHIPPED).as_posix()
        for p in SHIPPED.rglob("*")
        if p.is_file() and p.name not in (weights.MANIFEST, "README.md")
    }
    assert files and set(listed) == files
    for name, digest in listed.items():
        assert weights.sha256(SHIPPED / name) == digest, name


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_model_is_shipped_small_and_loads(dataset):
    assert weights.available(SHIPPED).get(dataset) == ["gan", "vae", "diffusion", "classifier"]
    for kind in weights.MODEL_KINDS:
        folder = weights.model_dir(dataset, kind, SHIPPED)
        size = sum(p.stat().st_size for p in folder.rglob("*.safetensors"))
        assert 0 < size <= 20e6, f"{dataset}/{kind}: {size} bytes"
        weights.load(dataset, kind, SHIPPED)
        summary = json.loads((folder / "training" / "summary.json").read_text())
        assert summary["wall_clock_s"] > 0 and summary["hardware"]["cpu"] and not summary["dry_run"]
    images, labels = weights.load_examples(dataset, SHIPPED)
    assert images.shape[0] == len(labels) >= 1000 and set(labels.tolist()) == set(range(10))
    maps, how = weights.load_latent_maps(dataset, SHIPPED)
    assert {"gan_latents", "vae_latents", "diffusion_latents"} <= set(maps) and set(how) == {"gan", "vae", "diffusion"}
    train_x, train_y, train_index = weights.load_training_subset(dataset, SHIPPED)
    assert len(train_x) == len(train_y) == len(train_index.unique()) == 10_000


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("space", ["pixels", "classifier features"])
def test_nearest_training_image_of_a_training_image_is_itself(dataset, space, monkeypatch):
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(SHIPPED))
    train_x, _, train_index = weights.load_training_subset(dataset)
    picks = torch.tensor([0, 1234, len(train_x) - 1])
    found = neighbours.nearest(dataset, train_x[picks], k=2, space=space)
    assert torch.equal(found.train_index[:, 0], train_index[picks])
    assert (found.distances[:, 0] < 1e-3).all() and (found.distances[:, 1] > 0.1).all()


@pytest.mark.parametrize("dataset", DATASETS)
def test_diffusers_loads_the_shipped_diffusion_model(dataset):
    folder = weights.model_dir(dataset, "diffusion", SHIPPED)
    unet = UNet2DModel.from_pretrained(folder, subfolder="unet")
    scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    assert unet.config.num_class_embeds == get_info(dataset).num_classes + 1
    assert scheduler.config.num_train_timesteps == 1000


@pytest.mark.parametrize("dataset", DATASETS)
def test_classifier_accuracy_matches_metrics(dataset):
    metrics = json.loads((SHIPPED / dataset / "metrics.json").read_text())
    claimed = metrics["classifier"]["test_accuracy"]
    assert claimed >= {"mnist": 0.992, "fashion": 0.91}[dataset]
    summary = json.loads((weights.model_dir(dataset, "classifier", SHIPPED) / "training" / "summary.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(claimed, abs=1e-4)


def measured(dataset: str) -> list[str]:
    path = SHIPPED / dataset / "metrics.json"
    return list(json.loads(path.read_text())["families"]) if path.is_file() else []


@pytest.mark.slow
@pytest.mark.parametrize("dataset, family", [(d, f) for d in DATASETS for f in measured(d)])
def test_class_accuracy_is_near_the_claim(dataset, family):
    """200 class-conditional samples, judged by the shipped classifier, against metrics.json.

    Tolerance: 4 binomial standard deviations of a 200-sample estimate, plus one point (the
    claim was measured on other seeds)."""
    info = get_info(dataset)
    claimed = json.loads((SHIPPED / dataset / "metrics.json").read_text())["families"][family]["class_accuracy"]
    model = weights.load(dataset, family, SHIPPED)
    classifier = weights.load(dataset, "classifier", SHIPPED)
    labels = torch.arange(info.num_classes).repeat_interleave(N_PER_CLASS)
    images = model.sample(len(labels), seed=12345, class_labels=labels)
    accuracy = (classifier.predict_proba(images).argmax(1) == labels).float().mean().item()
    sigma = math.sqrt(max(claimed * (1 - claimed), 0.01) / len(labels))
    assert accuracy >= claimed - 4 * sigma - 0.01, f"{family}: {accuracy:.3f} against a claim of {claimed:.3f}"


def measured_sampler(dataset: str, family: str) -> str:
    """How metrics.json says the family's samples were made."""
    return json.loads((SHIPPED / dataset / "metrics.json").read_text())["families"][family]["sampler"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_gan_was_measured_at_the_truncation_it_samples_with(dataset):
    assert measured_sampler(dataset, "gan").endswith(
        f"truncation ψ = {weights.load(dataset, 'gan', SHIPPED).config.truncation:g}"
    )


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_numbers_are_for_the_shipped_models(dataset):
    """metrics.json and sweep.json record which weights they measured (from session 7 on; older
    records have no fingerprint): a model replaced without measuring it again fails here."""
    metrics = json.loads((SHIPPED / dataset / "metrics.json").read_text())
    for family, record in metrics["families"].items():
        if "weights" in record:
            assert record["weights"] == weights.fingerprint(dataset, family, SHIPPED), family
    sweep = json.loads((SHIPPED / dataset / "sweep.json").read_text())
    if "weights" in sweep:
        assert sweep["weights"] == weights.fingerprint(dataset, "diffusion", SHIPPED)


@pytest.mark.parametrize("dataset", DATASETS)
def test_diffusion_was_measured_with_the_sampler_it_samples_with(dataset):
    m = weights.load(dataset, "diffusion", SHIPPED)
    assert measured_sampler(dataset, "diffusion") == m.describe_sampling()


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_ddim_inversion_then_decoding_gives_the_image_back(dataset):
    """DDIM inversion (INVERSION_STEPS = 10, unguided) of 8 real test images, decoded by DDIM with
    the same steps (what "Encode three ways" does). Measured mean squared error per pixel
    (pixels in [0, 1]) against that between two different test images: MNIST 0.005 vs 0.137,
    Fashion-MNIST 0.013 vs 0.160 (at 20 steps 0.006 and 0.015, at 50 steps 0.013 and 0.021, at
    100 steps 0.028 and 0.030; the 27-epoch Fashion-MNIST model, session 8). The bound, a third
    of the different-image error, leaves room for other machines and retrained models."""
    model = weights.load(dataset, "diffusion", SHIPPED)
    images, _ = weights.load_examples(dataset, SHIPPED)
    x = images[:8]
    z = model.encode(x, num_inference_steps=INVERSION_STEPS)
    back = model.decode(z, None, **DDIM_DECODER)
    err = (back - x).pow(2).mean().item()
    other = (x - x.roll(1, 0)).pow(2).mean().item()
    assert err < other / 3, f"inversion error {err:.4f} (different images: {other:.4f})"


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_the_noise_space_inversion_gives_the_image_back(dataset):
    """Diffusion's vector on the latent panel is its noise space (x_T and each step's noise). Its
    inversion of 8 real test images, decoded again: measured mean squared error per pixel 0.0006
    (MNIST) and 0.0013 (Fashion-MNIST), against 0.137 and 0.160 between two different test images
    (DDIM inversion: 0.005 and 0.013, above). The bound, a twentieth of the different-image error,
    leaves room for other machines and retrained models."""
    model = weights.load(dataset, "diffusion", SHIPPED)
    images, _ = weights.load_examples(dataset, SHIPPED)
    x = images[:8]
    v = model.encode_noise_space(x, make_generator(0))
    assert v.shape == (8, *model.noise_space_shape())
    back = model.decode_noise_space(v)
    err = (back - x).pow(2).mean().item()
    other = (x - x.roll(1, 0)).pow(2).mean().item()
    assert err < other / 20, f"inversion error {err:.4f} (different images: {other:.4f})"


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_the_diffusion_map_points_are_the_vectors_that_were_coloured(dataset):
    """The diffusion map's vectors are drawn again from their seed when the file loads (too many
    numbers to ship). Drawn again, they must decode to the images the colours were judged on."""
    tensors, _ = weights.load_latent_maps(dataset, SHIPPED)
    model = weights.load(dataset, "diffusion", SHIPPED)
    classifier = weights.load(dataset, "classifier", SHIPPED)
    v, labels = tensors["diffusion_latents"][:20], tensors["diffusion_labels"][:20]
    assert v.shape[1:] == model.noise_space_shape()
    seen = classifier.predict_proba(model.decode_noise_space(v)).argmax(1)
    assert (seen == labels).float().mean() >= 0.9, (seen, labels)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_a_diffusion_interpolation_from_a_test_image_starts_at_that_image(dataset, monkeypatch):
    """From an encoded test image, the diffusion strip's first frame is that image (within the
    inversion test's bound) and its last is the seed's sample, as "Sample a vector" decodes it.
    In fp32: the strip decodes three vectors in one batch and the sample one, and in bfloat16 the
    batch changes the rounding, which the sampler's steps grow (up to 0.15 on a pixel on a CPU
    with AVX512-BF16, where the kernels may choose bf16); what is tested is which vector is decoded."""
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(SHIPPED))
    monkeypatch.setenv(kernels.PRECISION_ENV, "fp32")
    weights.clear_cache()
    latent_tab.clear_cache()
    model = weights.load(dataset, "diffusion", SHIPPED)
    strips, *_ = latent_tab.latent_interpolate(dataset, "diffusion", "test image", 4, "seed", 9, 3, "slerp")
    images, _ = weights.load_examples(dataset, SHIPPED)
    size = images.shape[-1]
    width, height = 2 * ((size + 2) * 3 + 2), 2 * (size + 4)  # a strip: 3 images at 2x, padding 2
    assert list(latent_tab.FAMILY_TITLES)[-1] == "diffusion"  # the last strip of the three
    box = Tiling(3, 1, width, height, caption=CAPTION_PX).box(2)
    strip = torch.from_numpy(np.asarray(strips.crop(box).convert("L"), dtype=np.float32) / 255)
    frames = [strip[4 : 4 + 2 * size : 2, x : x + 2 * size : 2] for x in (4, 4 + 2 * (size + 2) * 2)]  # 2x, padding 2
    space = model.latent_space()
    sample = space.decode(space.sample(1, make_generator(9)))
    assert (frames[-1] - sample[0, 0]).abs().max() < 2 / 255
    other = (images[4] - images[5]).pow(2).mean().item()
    first = frames[0]
    assert (first - images[4, 0]).pow(2).mean().item() < other / 20


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_the_deterministic_samplers_make_the_asked_class(scheduler):
    """The deterministic samplers, the one MNIST's student learned among them. 100 MNIST samples
    in 10 steps at the model's guidance, judged by the classifier: the v-prediction model shipped
    since 2026-12-07 measured 98 % with both. The epsilon model before it measured 71 % (DDIM) and 81 %
    (DPM-Solver++ with thresholding; 21 % without, barely above chance)."""
    model = weights.load("mnist", "diffusion", SHIPPED)
    classifier = weights.load("mnist", "classifier", SHIPPED)
    labels = torch.arange(10).repeat_interleave(10)
    images = model.sample(len(labels), seed=0, class_labels=labels, scheduler=scheduler, num_inference_steps=10)
    accuracy = (classifier.predict_proba(images).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.9, f"{scheduler}: {accuracy:.2f}"


@pytest.mark.slow
def test_mnists_distilled_student_makes_the_asked_class_in_four_evaluations():
    """MNIST's default since 2026-12-07: its distilled student, 4 DDIM steps with guidance 1.2 built
    in, one network evaluation per step. 100 samples judged by the classifier: measured 98 % (at
    5,000 samples 98.8 %, metrics.json). A student that had lost its teacher's classes, or that
    still needed the guided pair of passes, fails here."""
    model = weights.load("mnist", "diffusion", SHIPPED)
    assert model.sampler == "distilled" and model.cost(class_labels=[1]).nfe == 4
    labels = torch.arange(10).repeat_interleave(10)
    images = model.sample(len(labels), seed=0, class_labels=labels)
    classifier = weights.load("mnist", "classifier", SHIPPED)
    accuracy = (classifier.predict_proba(images).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.9, f"{accuracy:.2f}"


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("kind", weights.MODEL_KINDS)
def test_every_shipped_model_has_a_model_card_with_its_figures(dataset, kind):
    """A Hugging Face model card: metadata (library, datasets, metrics) and the model's measured
    figures as metrics.json holds them, and how to retrain it from its own recipe."""
    card = (SHIPPED / dataset / kind / "README.md").read_text()
    assert card.startswith("---\n") and "More Information Needed" not in card
    meta = card.split("---\n")[1]
    for key in ("library_name:", "license:", "datasets:", "metrics:", "model-index:"):
        assert key in meta, key
    metrics = json.loads((SHIPPED / dataset / "metrics.json").read_text())
    if kind == "classifier":
        assert f"{metrics['classifier']['test_accuracy'] * 100:.2f} %" in card
    else:
        figures = metrics["families"][kind]
        assert f"value: {figures['fid']:.2f}" in meta and f"{figures['fid']:.2f} (" in card
    assert f"--recipe weights/{dataset}/{kind}/training/summary.json" in card
    assert "recipe" in json.loads((SHIPPED / dataset / kind / "training" / "summary.json").read_text())
