"""The GAN tab: a forger (the generator) trained against a detective (the discriminator)."""

from __future__ import annotations

import gradio as gr
import torch
from PIL import Image

from playground import plots, weights
from playground.models import make_generator
from playground.models.gan import DEFAULT_TRUNCATION
from playground.ui import common, results

MIN_TRUNCATION = 0.05  # the smallest ψ the tab offers

LESSON = """### A forger and a detective
A **GAN** has two networks. The **generator** turns a random vector `z` (64 numbers drawn from
a standard normal) into an image in *one* forward pass. The **discriminator** looks at an image
and says how likely it is to be real. They are trained against each other: the discriminator
learns to catch fakes, the generator learns to fool it. Nobody ever tells the generator what a
digit looks like — it only learns what gets past the detective.

**How it makes a class:** this GAN is *conditional*: the generator is given the class beside
`z`, and the discriminator judges "is this a real 7?" (a projection discriminator). "Any" draws
each image's class as often as it occurs in the training data, then makes that class: that is how
the data itself is made, p(x) = Σ p(y) p(x | y). "Unconditional" gives a learned *no-class*
label instead, which the generator saw a fifth of the time in training: compare the two."""


@results.remembered()
def gan_sample(
    dataset: str, class_name: str, n: float, seed: float, truncation: float | None = None
) -> tuple[Image.Image, str]:
    """Generate `n` images of a class ("any", "unconditional" or a class name) from the GAN; `truncation` ψ in
    (0, 1] draws z nearer the prior's centre (cleaner, less varied images)."""
    r = common.request(dataset, class_name, n, seed)
    model = common.load(dataset, "gan")
    truncation = model.config.truncation if truncation is None else truncation
    psi = common.number(truncation, "truncation", MIN_TRUNCATION, 1.0, integer=False)
    images, ms = common.timed(model.sample, r.n, seed=r.seed, class_labels=r.labels, truncation=psi)
    return common.picture(images), common.cost_line(f"GAN generator (ψ = {psi:g})", r.n, ms, model.cost())


@results.remembered()
def gan_discriminate(dataset: str, class_name: str, n: float, seed: float) -> tuple[Image.Image, Image.Image, str]:
    """The discriminator's verdict — its probability of "real" — on generated and on real test images."""
    r = common.request(dataset, class_name, n, seed)
    model = common.load(dataset, "gan")
    labels = r.labels
    fakes = model.sample(r.n, seed=r.seed, class_labels=labels)
    real_x, real_y = common.examples(dataset)
    pool = torch.arange(len(real_y)) if r.label is None else torch.nonzero(real_y == r.label).flatten()
    pick = pool[torch.randperm(len(pool), generator=make_generator(r.seed))[: r.n]]
    reals, real_labels = real_x[pick], real_y[pick]
    # Each image is judged as the class it claims to be (fakes: the class asked for).
    p_fake, ms = common.timed(model.discriminate, fakes, labels)
    p_real = model.discriminate(reals, None if r.unconditional else real_labels)
    fake_picture = common.picture(fakes, [f"D = {p:.2f}" for p in p_fake.tolist()], columns=4)
    real_picture = common.picture(reals, [f"D = {p:.2f}" for p in p_real.tolist()], columns=4)
    text = (
        f"Mean probability of **real**: generated {p_fake.mean():.2f}, real test images {p_real.mean():.2f} "
        f"({r.caption}). At the end of training the two are close: the "
        f"detective can no longer tell them apart reliably — which is what the forger was trained for. "
        f"Judging {r.n} images took {ms:.0f} ms."
    )
    return fake_picture, real_picture, text


def gan_timeline(dataset: str, epoch: float) -> tuple[Image.Image | None, Image.Image | None, str]:
    """The fixed-noise grid after `epoch` epochs (one row per class) and the two losses up to then."""
    common.dataset_info(dataset)
    grids = weights.snapshots(dataset, "gan")
    if not grids:
        raise gr.Error(f"no training timeline is installed for the {dataset} GAN")
    e = common.number(epoch, "epoch", 1, len(grids))
    log = weights.step_records(weights.training_log(dataset, "gan"))
    per_epoch = max((r["step"] for r in log if r["epoch"] == 1), default=1)
    steps = [r["step"] / per_epoch for r in log]
    plot = plots.line_plot(
        {"discriminator": (steps, [r["loss_d"] for r in log]), "generator": (steps, [r["loss_g"] for r in log])},
        title="Losses: the two players pull against each other",
        xlabel="epoch",
        ylabel="binary cross-entropy",
        marker_x=e,
    )
    grid = Image.open(grids[e - 1]).convert("RGB")
    grid = grid.resize((grid.width * 2, grid.height * 2), Image.NEAREST)
    text = (
        f"Epoch {e} of {len(grids)}: the same `z` vectors every epoch, one row per class. Early on the "
        "generator paints blobs; the discriminator's feedback shapes them into digits or clothes."
    )
    return grid, plot, text


def timeline_epochs(dataset: str | None) -> int:
    return max(1, len(weights.snapshots(dataset, "gan"))) if dataset else 1


def default_truncation(dataset: str | None) -> float:
    """The ψ the dataset's GAN samples with unless told (its config's `truncation`)."""
    return common.own_setting(dataset, "gan", lambda m: m.config.truncation, DEFAULT_TRUNCATION)


def build(dataset: gr.Dropdown) -> dict:
    gr.Markdown(LESSON, elem_classes=["lesson"])
    cls, n, seed, _ = common.controls(dataset.value)
    psi = gr.Slider(
        MIN_TRUNCATION, 1.0, value=default_truncation(dataset.value), step=0.05, label="Truncation ψ",
        info="z is scaled by ψ: below 1, samples come from nearer the prior's centre — cleaner, but less varied. "
        "Opens at the value this dataset's GAN was measured with.",
    )  # fmt: skip
    with gr.Row():
        go = gr.Button("Generate", variant="primary")
        judge = gr.Button("Ask the discriminator")
    gallery = gr.Image(format=common.IMAGE_FORMAT, label="Generated", type="pil", elem_id="gan-samples")
    cost = gr.Markdown()
    go.click(gan_sample, [dataset, cls, n, seed, psi], [gallery, cost], api_name="gan_sample")
    with gr.Row():
        fakes = gr.Image(format=common.IMAGE_FORMAT, label="Generated, with D's probability of real", type="pil")
        reals = gr.Image(format=common.IMAGE_FORMAT, label="Real test images, with D's probability of real", type="pil")
    verdict = gr.Markdown()
    judge.click(gan_discriminate, [dataset, cls, n, seed], [fakes, reals, verdict], api_name="gan_discriminate")

    gr.Markdown("### Training timeline\nSlide through the epochs to watch the generator learn.")
    epochs = timeline_epochs(dataset.value)
    epoch = gr.Slider(1, max(epochs, 2), value=epochs, step=1, label="Epoch")  # a slider needs min < max
    with gr.Row():
        grid = gr.Image(format=common.IMAGE_FORMAT, label="Fixed-noise samples at this epoch", type="pil", height=380)
        losses = gr.Image(
            format=common.IMAGE_FORMAT, label="Generator and discriminator losses", type="pil", height=380
        )
    timeline_text = gr.Markdown()
    epoch.release(gan_timeline, [dataset, epoch], [grid, losses, timeline_text], api_name="gan_timeline")
    return {
        "classes": [cls],
        "controls": {"class_name": cls, "n": n, "seed": seed, "truncation": psi},
        "opening": [
            (gan_sample, [dataset, cls, n, seed, psi], [gallery, cost]),
            (gan_discriminate, [dataset, cls, n, seed], [fakes, reals, verdict]),
        ],
        "epoch": epoch,
        "truncation": psi,
        "timeline": (gan_timeline, [dataset, epoch], [grid, losses, timeline_text]),
    }
