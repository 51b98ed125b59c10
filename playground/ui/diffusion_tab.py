"""The diffusion tab: destroy images with noise step by step, and learn to undo it."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
from PIL import Image

from playground import compute, plots, weights
from playground.images import gif, grid, to_pil
from playground.limits import MAX_DIFFUSION_IMAGES, MAX_GUIDANCE, MAX_STEPS
from playground.models import make_generator
from playground.models.diffusion import (
    DEFAULT_GUIDANCE,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    DISTILLED,
    SCHEDULER_NAMES,
    STUDENT_DIR,
    read_built_in_guidance,
    read_sampling,
)
from playground.ui import common, results

LESSON = """### Learn to undo noise
The **forward process** destroys an image by adding a little Gaussian noise at each of 1000
timesteps, until only noise is left. A **UNet** is trained for one job: given a noisy image and
its timestep, predict the noise in it (or *v*, a mix of the noise and the image that gives the
noise back and stays accurate where the image is almost all noise: a model that predicts v
samples well with the deterministic samplers). To **generate**, start from pure noise `x_T` — the
diffusion model's "latent vector", as large as the image — and remove the predicted noise step
by step. The **scheduler** decides which steps and how: DDPM adds fresh noise at every step,
DDIM and DPM-Solver++ are deterministic and need far fewer steps, and SDE-DPM-Solver++ takes
DPM-Solver++'s large steps while adding fresh noise like DDPM. "Log-SNR steps" places the steps
evenly in signal-to-noise ratio rather than in time: more of them where the image takes shape,
and a last step that starts from an almost clean image, so fewer steps give sharp details.
A **distilled student**, where a model has one, is a copy of its UNet trained to take in one
DDIM step where the model itself takes several (*progressive distillation*): a few steps, each
one network evaluation, the guidance built in.

**How it makes a class:** the UNet is told the class, and 10 % of the time during training
it was told "no class". *Classifier-free guidance* pushes each step away from the unconditional
prediction and towards the class one: `ε = ε_none + w · (ε_class − ε_none)`. Each step then
costs two network evaluations. A larger `w` makes images more surely of their class and less
varied; each model opens at the scale it was measured with, which the Compare tab's numbers use.
"Any" draws each image's class as often as in the training data, then guides towards it;
"unconditional" gives "no class" and no guidance: one evaluation per step, and weaker images."""

FRAME_SCALE = 3
# Stream a step at most this often (the first and the last always; the GIF keeps every step): each
# streamed step costs Gradio tens of ms to encode and send, more than a UNet step (docs/results.md,
# "Streaming the reverse process").
FRAME_INTERVAL_S = 0.25


_schedule_plots: dict[int, tuple] = {}  # id of a scheduler -> (scheduler, image, where)


def schedule_plot(model) -> tuple:
    """The noise schedule (signal and noise weights against t), drawn once per loaded model."""
    key = id(model.scheduler)
    if _schedule_plots.get(key, (None,))[0] is not model.scheduler:  # two threads may both draw it
        abar, ts = model.scheduler.alphas_cumprod, list(range(model.scheduler.config.num_train_timesteps))
        _schedule_plots[key] = (model.scheduler, *plots.line_plot_fixed(
            {"signal √ᾱₜ": (ts, abar.sqrt().tolist()), "noise √(1−ᾱₜ)": (ts, (1 - abar).sqrt().tolist())},
            title=f"The noise schedule ({model.scheduler.config.beta_schedule})",
            xlabel="timestep t",
            ylabel="weight in xₜ",
        ))  # fmt: skip
    return _schedule_plots[key][1:]


@results.remembered()
def diffusion_forward(
    dataset: str, example: float, timestep: float
) -> tuple[Image.Image, Image.Image, Image.Image, str]:
    """The forward process: a real test image noised to `timestep`, and the noise schedule."""
    images, _ = common.examples(dataset)
    x = images[common.number(example, "test image", 0, len(images) - 1)][None]
    model = common.load(dataset, "diffusion")
    T = model.scheduler.config.num_train_timesteps
    t = common.number(timestep, "timestep", 0, T - 1)
    noisy = model.add_noise(x, t, make_generator(0))
    plot = plots.mark_x(*schedule_plot(model), t)
    a = model.scheduler.alphas_cumprod[t].item()
    text = f"At t = {t}: x_t = {a**0.5:.3f} · image + {(1 - a) ** 0.5:.3f} · noise. By t = {T - 1} almost nothing of the image is left."
    return to_pil(x[0], common.IMAGE_SCALE), to_pil(noisy[0], common.IMAGE_SCALE), plot, text


@results.remembered(note_at=2, heavy=True)
def diffusion_sample(
    dataset: str, class_name: str, n: float, seed: float, scheduler: str, steps: float, guidance: float
) -> Iterator[tuple[Image.Image, Image.Image, str, str | None]]:
    """Run the reverse process, streaming every step: the current noisy images, the clean images
    the UNet predicts from them, a progress line, and at the end an animated GIF of the run."""
    r = common.request(dataset, class_name, n, seed)
    if r.n > MAX_DIFFUSION_IMAGES:
        raise gr.Error(
            f"number of images must be at most {MAX_DIFFUSION_IMAGES} for diffusion (each takes many network passes)"
        )
    model = common.load(dataset, "diffusion")
    options = model.sampling_options(scheduler, common.number(steps, "steps", 1, MAX_STEPS),
                                     common.number(guidance, "guidance scale", 0, MAX_GUIDANCE, integer=False))  # fmt: skip
    scheduler, steps, guidance = options["scheduler"], options["num_inference_steps"], options["guidance_scale"]
    g = make_generator(r.seed)
    labels = r.labels
    z = model.sample_latent(r.n, g, labels)
    nrow = min(r.n, 4 if r.n <= 16 else 8)
    cost = model.cost(num_inference_steps=steps, guidance_scale=guidance, class_labels=labels, scheduler=scheduler)
    common.check_budget(model, r.n, cost, f"{SCHEDULER_NAMES[scheduler]} with {steps} steps")
    frames = []
    t0 = time.perf_counter()
    trajectory = compute.ahead(model.trajectory(
        z, labels, num_inference_steps=steps, scheduler=scheduler, guidance_scale=guidance, generator=g
    ))  # fmt: skip
    sent = None  # when the last frame was streamed
    for frame in trajectory:
        xt, x0 = grid(frame["x_t"], nrow, scale=FRAME_SCALE), grid(frame["x0"], nrow, scale=FRAME_SCALE)
        frames.append(_side_by_side(xt, x0))
        now = time.perf_counter()
        ms = (now - t0) * 1000
        text = f"Step {frame['step']} of {steps} (t = {frame['t']}) · {ms:.0f} ms so far"
        if frame["last"]:
            path = Path(tempfile.mkdtemp(prefix="diffusion-")) / "denoising.gif"
            gif(frames, path, ms_per_frame=max(20, 2000 // len(frames)))
            built_in = " built in" if scheduler == DISTILLED else ""
            text = common.cost_line(
                f"Diffusion ({scheduler}, {steps} steps, guidance {guidance:g}{built_in})", r.n, ms, cost
            )
            yield xt, x0, text, str(path)
        elif sent is None or now - sent >= FRAME_INTERVAL_S:
            sent = now
            yield xt, x0, text, None


def _side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    """`a` and `b` side by side on white; grey where both are (a grey GIF needs no colour palette
    of its own per frame, and encodes in a fraction of the time)."""
    mode = "L" if a.mode == b.mode == "L" else "RGB"
    out = Image.new(mode, (a.width + b.width + 12, max(a.height, b.height)), "white")
    out.paste(a.convert(mode), (0, 0))
    out.paste(b.convert(mode), (a.width + 12, 0))
    return out


def default_sampler(dataset: str | None) -> tuple[str, int, float]:
    """The scheduler, steps and guidance scale the dataset's model samples with unless told (its
    SAMPLING_FILE): the settings its measured numbers in the Compare tab were measured with. Read
    from the model's folder: loading the model would import diffusers, which the app's start does
    without (warm.py). The defaults where there is no model or its settings are damaged."""
    try:
        if dataset and weights.has_weights(dataset, "diffusion"):
            return read_sampling(weights.model_dir(dataset, "diffusion"))
    except ValueError:
        pass
    return DEFAULT_SCHEDULER, DEFAULT_STEPS, DEFAULT_GUIDANCE


def distilled_sampler(dataset: str | None) -> tuple[int, float] | None:
    """The steps and built-in guidance of the dataset's distilled student, read from its folder as
    `default_sampler` reads the model's; None where there is none (or it is damaged: choosing it
    then says so)."""
    try:
        if dataset and weights.has_weights(dataset, "diffusion"):
            folder = weights.model_dir(dataset, "diffusion") / STUDENT_DIR
            if folder.is_dir() and (guidance := read_built_in_guidance(folder)) is not None:
                return read_sampling(folder)[1], guidance
    except ValueError:
        pass
    return None


def scheduler_choices(dataset: str | None) -> list[tuple[str, str]]:
    """The Scheduler menu: every sampler, the distilled student only where the model has one."""
    has_student = distilled_sampler(dataset) is not None
    return [(title, name) for name, title in SCHEDULER_NAMES.items() if name != DISTILLED or has_student]


def on_scheduler(dataset: str | None, scheduler: str) -> list:
    """Steps and guidance for a newly chosen scheduler: the distilled student's own (it learned
    those steps at that guidance, and refuses others); the others keep what is set."""
    student = distilled_sampler(dataset) if scheduler == DISTILLED else None
    return list(student) if student else [gr.skip(), gr.skip()]


def sampler_updates(dataset: str | None) -> list:
    """The scheduler, steps and guidance controls set to the dataset's model's own."""
    scheduler, steps, guidance = default_sampler(dataset)
    return [
        gr.Radio(choices=scheduler_choices(dataset), value=scheduler),
        gr.Slider(value=steps),
        gr.Slider(value=guidance),
    ]


def build(dataset: gr.Dropdown) -> dict:
    gr.Markdown(LESSON, elem_classes=["lesson"])
    gr.Markdown("### The forward process: noising")
    with gr.Row():
        example = gr.Slider(0, 999, value=0, step=1, label="Test image number")
        timestep = gr.Slider(0, 999, value=250, step=1, label="Timestep t")
    with gr.Row():
        clean = gr.Image(format=common.IMAGE_FORMAT, label="Real image x₀", type="pil", height=260)
        noisy = gr.Image(format=common.IMAGE_FORMAT, label="Noised xₜ", type="pil", height=260)
        schedule = gr.Image(format=common.IMAGE_FORMAT, label="Noise schedule", type="pil", height=260)
    forward_text = gr.Markdown()
    forward = (diffusion_forward, [dataset, example, timestep], [clean, noisy, schedule, forward_text])
    for slider in (example, timestep):
        slider.release(*forward, api_name="diffusion_forward" if slider is timestep else False)

    gr.Markdown("### The reverse process: denoising, streamed as it runs")
    cls, n, seed, _ = common.controls(dataset.value, n=8, max_n=MAX_DIFFUSION_IMAGES)
    own_scheduler, own_steps, own_guidance = default_sampler(dataset.value)
    with gr.Row():
        scheduler = gr.Radio(
            scheduler_choices(dataset.value), value=own_scheduler, label="Scheduler", elem_id="diffusion-scheduler",
            info="Scheduler, steps and guidance open at the settings this dataset's model was measured with "
            "(the Compare tab's numbers). The distilled student samples only in its own steps, its guidance "
            "built in: choosing it sets both.",
        )  # fmt: skip
        steps = gr.Slider(1, MAX_STEPS, value=own_steps, step=1, label="Steps")
        guidance = gr.Slider(0, MAX_GUIDANCE, value=own_guidance, step=0.05, label="Guidance scale (with a class)")
    scheduler.input(on_scheduler, [dataset, scheduler], [steps, guidance], api_name=False, queue=False)
    go = gr.Button("Denoise", variant="primary")
    with gr.Row():
        current = gr.Image(format=common.IMAGE_FORMAT, label="Now: the noisy images xₜ", type="pil")
        predicted = gr.Image(format=common.IMAGE_FORMAT, label="The UNet's guess of the clean images x₀", type="pil")
    progress = gr.Markdown()
    animation = gr.File(label="The whole run as an animated GIF (left: xₜ, right: the guess of x₀)")
    go.click(
        diffusion_sample, [dataset, cls, n, seed, scheduler, steps, guidance], [current, predicted, progress, animation],
        api_name="diffusion_sample", **common.HEAVY,
    )  # fmt: skip
    return {
        "classes": [cls],
        "controls": {
            "class_name": cls, "n": n, "seed": seed, "sampler": scheduler, "steps": steps, "guidance": guidance,
        },
        "opening": [
            (diffusion_sample, [dataset, cls, n, seed, scheduler, steps, guidance], [current, predicted, progress, animation]),
        ],
        "forward": forward,
        "sampler": [scheduler, steps, guidance],
    }  # fmt: skip
