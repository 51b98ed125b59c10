"""The VAE tab: compress an image to a few numbers, and decode numbers back to an image."""

from __future__ import annotations

import gradio as gr
import numpy as np
import torch
from PIL import Image

from playground import plots, weights
from playground.images import grid, to_pil
from playground.models import make_generator
from playground.ui import common, results

LESSON = """### Compress, then decode
A **VAE** has an **encoder** that squeezes an image into a short code (a few dozen numbers) and a
**decoder** that turns a code back into an image. The encoder does not give one code but a
*cloud* of them — a mean and a spread for each number, q(z|x) — and training keeps those clouds
close to a standard normal. So *any* vector drawn from a standard normal decodes to something
plausible: that is how a VAE generates.

**How it makes a class:** the label is given to the encoder and to the decoder (a
*conditional* VAE), so "make a 7" decodes a code *as a 7*, a code drawn from where the encoder
puts real 7s. Trained a fifth of the time with no label, the same VAE also works
unconditionally; then the code must carry the class too, and the latent map shows the classes
gathering in their own regions, found without being told. "Any" draws each image's class as often
as in the training data and decodes it as that class; "unconditional" is the no-label mode.

**Why its images are smoother than a GAN's:** the decoder gives the *average* image of all those
a code could stand for, so what the code leaves out comes back as blur. "Encode and decode" below
shows it: a real image beside its reconstruction. A sample can be no sharper than that."""


@results.remembered()
def vae_sample(dataset: str, class_name: str, n: float, seed: float) -> tuple[Image.Image, str]:
    """Generate `n` images of a class ("any", "unconditional" or a class name) from the VAE's decoder."""
    r = common.request(dataset, class_name, n, seed)
    model = common.load(dataset, "vae")
    images, ms = common.timed(model.sample, r.n, seed=r.seed, class_labels=r.labels)
    return common.picture(images), common.cost_line("VAE decoder", r.n, ms, model.cost())


@results.remembered()
def vae_reconstruct(
    dataset: str, source: str, drawing, example: float, draws: float, seed: float
) -> tuple[Image.Image, Image.Image, Image.Image, Image.Image, str]:
    """Encode an image, show q(z|x) (mean and spread), decode several draws from it and its mean."""
    x = common.input_image(dataset, source, drawing, example)
    draws = common.number(draws, "number of draws", 1, 16)
    seed = common.number(seed, "seed", 0, common.MAX_SEED)
    model = common.load(dataset, "vae")
    with torch.inference_mode():
        mean, logvar = model.encode_distribution(x)
        std = (0.5 * logvar).exp()
        eps = torch.randn((draws, mean.shape[1]), generator=make_generator(seed))
        decoded = model.decode(mean + std * eps)  # the reparameterisation trick: z = mean + std * eps
        logits = model.decode_logits(mean)
        recon = torch.sigmoid(logits)
        rec_err = model.reconstruction_nll(logits, x).item()
        kl = (-0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum()).item()
    if model.config.likelihood == "gaussian":
        likelihood = (
            f"Gaussian, σ = {model.log_sigma.exp():.3f} as fitted in training; a density, so it can be negative"
        )
    else:
        likelihood = "binary cross-entropy"
    plot = plots.mean_spread_plot(
        mean[0].numpy(), std[0].numpy(), "The encoder's answer, q(z|x): a mean and a spread per number"
    )
    text = (
        f"Reconstruction error {rec_err:.1f} nats ({likelihood}), KL to the prior {kl:.1f} nats. "
        f"Each of the {draws} draws is `z = mean + spread × ε` with ε from a standard normal: the "
        "reparameterisation trick, which lets training push gradients through the sampling."
    )
    return to_pil(x[0], common.IMAGE_SCALE), plot, common.picture(decoded), to_pil(recon[0], common.IMAGE_SCALE), text


@results.remembered()
def vae_traverse(
    dataset: str, class_name: str, seed: float, dimension: float, span: float, steps: float
) -> tuple[Image.Image, str]:
    """Walk along one latent dimension from a sampled vector and decode every stop."""
    r = common.request(dataset, class_name, 1, seed)
    model = common.load(dataset, "vae")
    d = common.number(dimension, "dimension", 0, model.config.latent_dim - 1)
    span = common.number(span, "span", 0.5, 5, integer=False)
    steps = common.number(steps, "steps", 2, 16)
    drawn = r.labels
    z = model.sample_latent(1, make_generator(r.seed), drawn).repeat(steps, 1)
    z[:, d] = z[0, d] + torch.linspace(-span, span, steps)
    walk = drawn.expand(steps) if isinstance(drawn, torch.Tensor) else drawn  # one class for the whole walk
    strip = grid(model.decode(z, walk), nrow=steps, scale=3)
    return (
        strip,
        f"Dimension {d}, from {z[0, d]:.2f} to {z[-1, d]:.2f} ({steps} stops) around a sample of {r.caption}.",
    )


def vae_losses(dataset: str) -> Image.Image:
    """Reconstruction and KL terms of the loss over training."""
    common.dataset_info(dataset)
    log = [r for r in weights.training_log(dataset, "vae") if r["kind"] == "epoch"]
    if not log:
        raise gr.Error(f"no training log is installed for the {dataset} VAE")
    e = [r["epoch"] for r in log]
    beta = common.load(dataset, "vae").config.beta  # the log holds the KL term as the loss weighs it
    kl = "KL" if beta == 1 else f"β · KL (β = {beta:g})"
    return plots.line_plot(
        {"reconstruction": (e, [r["reconstruction"] for r in log]), kl: (e, [r["kl"] for r in log])},
        title="The two terms of the VAE loss (per image)",
        xlabel="epoch",
        ylabel="nats",
    )


def build(dataset: gr.Dropdown) -> dict:
    gr.Markdown(LESSON, elem_classes=["lesson"])
    cls, n, seed, _ = common.controls(dataset.value)
    go = gr.Button("Generate", variant="primary")
    gallery = gr.Image(
        format=common.IMAGE_FORMAT, label="Decoded from random vectors", type="pil", elem_id="vae-samples"
    )
    cost = gr.Markdown()
    go.click(vae_sample, [dataset, cls, n, seed], [gallery, cost], api_name="vae_sample")

    gr.Markdown(
        "### Encode and decode\nPick a real test image, or draw your own, and see what the encoder makes of it."
    )
    with gr.Row():
        with gr.Column():
            source = gr.Radio(["test image", "drawing"], value="test image", label="Image to encode")
            example = gr.Slider(0, 999, value=0, step=1, label="Test image number")
            draws = gr.Slider(1, 16, value=8, step=1, label="Draws from q(z|x)")
            sketch = common.sketchpad()
            encode = gr.Button("Encode and decode", variant="primary")
        with gr.Column():
            with gr.Row():
                shown = gr.Image(
                    format=common.IMAGE_FORMAT, label="Input (as the model sees it)", type="pil", height=160
                )
                recon = gr.Image(format=common.IMAGE_FORMAT, label="Decoded from the mean", type="pil", height=160)
            spread = gr.Image(format=common.IMAGE_FORMAT, label="q(z|x)", type="pil")
            draws_gallery = gr.Image(format=common.IMAGE_FORMAT, label="Decoded draws from q(z|x)", type="pil")
            recon_text = gr.Markdown()
    encode.click(
        vae_reconstruct, [dataset, source, sketch, example, draws, seed], [shown, spread, draws_gallery, recon, recon_text],
        api_name="vae_reconstruct",
    )  # fmt: skip

    gr.Markdown("### Walk along one direction\nChange one number of the code and keep the rest: what does it control?")
    with gr.Row():
        dim = gr.Slider(0, latent_dims(dataset.value) - 1, value=0, step=1, label="Latent dimension")
        span = gr.Slider(0.5, 5, value=3, step=0.5, label="How far (±)")
        stops = gr.Slider(2, 16, value=9, step=1, label="Stops")
        walk = gr.Button("Walk")
    strip = gr.Image(format=common.IMAGE_FORMAT, label="Traversal", type="pil")
    walk_text = gr.Markdown()
    walk.click(vae_traverse, [dataset, cls, seed, dim, span, stops], [strip, walk_text], api_name="vae_traverse")

    gr.Markdown(
        "### Training\nThe loss trades off two terms: rebuild the image well, and keep codes close to the prior."
    )
    losses = gr.Image(format=common.IMAGE_FORMAT, label="VAE loss terms", type="pil")
    return {
        "classes": [cls],
        "controls": {"class_name": cls, "n": n, "seed": seed},
        "opening": [
            (vae_sample, [dataset, cls, n, seed], [gallery, cost]),
            (opening_reconstruct, [dataset, example, draws, seed], [shown, spread, draws_gallery, recon, recon_text]),
            (vae_traverse, [dataset, cls, seed, dim, span, stops], [strip, walk_text]),
        ],
        "losses": (vae_losses, [dataset], [losses]),
        "dimension": dim,
    }


def latent_dims(dataset: str | None) -> int:
    """How many numbers the dataset's VAE codes an image in (the traversal's choice of dimension)."""
    return common.own_setting(dataset, "vae", lambda m: m.config.latent_dim, 16)


def opening_reconstruct(dataset: str, example: float, draws: float, seed: float):
    """What "Encode and decode" shows for a test image: the page opens with it (and so from the cache)."""
    return vae_reconstruct(dataset, "test image", None, example, draws, seed)


def empty_drawing_value() -> dict:
    """What an untouched Sketchpad sends (used by tests)."""
    white = np.full((280, 280, 4), 255, dtype=np.uint8)
    white[..., 3] = 0
    return {"background": None, "layers": [], "composite": white}
