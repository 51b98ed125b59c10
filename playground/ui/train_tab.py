"""Train it yourself: a small GAN, VAE or diffusion model trained live, with the project's own
training code (playground/live.py over playground/training), while the visitor watches."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator

import gradio as gr
from PIL import Image

from playground import compute, plots, weights
from playground.images import grid
from playground.live import BATCH_SIZE, BETA, BUDGET_S, DEFAULT_LR, IMAGES, LATENT, LR, LiveRun, Settings
from playground.models import FAMILY_TITLES
from playground.models.diffusion import SCHEDULER_NAMES, read_sampling
from playground.ui import common, results

LESSON = f"""### Train it yourself
Pick a family and press **Train**: a small model starts from random weights and learns from
the training images, here and now, with the same training code as the shipped models. Every
second you see its samples from the same fixed noise, one row per class (the diffusion
model's cost the most: one image per class, in two rows), and its losses.
Watch the VAE's blurry averages sharpen into digits, the GAN's noise turn into strokes as its
two networks play their game, and the tiny diffusion model's noisy beginnings.
Untick **GAN stabilisers** (spectral norm, a discriminator that learns faster, weight
averaging) to watch the GAN fall into mode collapse: the same few images in every row.

One model trains at a time on this server (two CPU cores): if someone else's is training, you
wait in line and this box says where you are. A run trains for at most {BUDGET_S:.0f} s in all;
**Pause** keeps it where it is, **Train** goes on, **Reset** starts again from random weights."""

SLICE_S = 0.3  # training between two updates of the page
REST = 0.7  # after each slice (and its pictures), rest this share of its time: the other tabs keep 40 %
WAIT_S = 1.0  # how often a visitor in line hears where they are
MAX_KEPT = 8  # paused runs kept (one per visitor, the least recently used forgotten)

_runs: OrderedDict[str, LiveRun] = OrderedDict()
_runs_lock = threading.Lock()
_slot = threading.Lock()  # the one training at a time
_line: list[object] = []  # tickets of the visitors waiting for the slot, first come first served


def _visitor(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "api"


def _run_for(key: str, settings: Settings, fresh: bool = False) -> LiveRun:
    """The visitor's run with these settings, kept between clicks; a new one if the settings changed."""
    with _runs_lock:
        run = _runs.get(key)
        if fresh or run is None or run.settings != settings:
            run = _runs[key] = LiveRun(settings)
        _runs.move_to_end(key)
        while len(_runs) > MAX_KEPT:
            _runs.popitem(last=False)
        return run


def _settings(dataset, family, lr, latent_dim, beta, images, stabilisers=True) -> Settings:
    common.dataset_info(dataset)
    return Settings(family, dataset, lr, latent_dim, beta, images, stabilisers).checked()


def _shown(run: LiveRun) -> tuple[Image.Image, Image.Image, str]:
    """The samples, the loss curves and a line saying where the run is."""
    s = run.settings
    one_each = run.per_class == 1  # one image per class (diffusion): two rows of five, drawn larger
    samples = grid(compute.run(run.samples), nrow=5 if one_each else run.per_class, scale=4 if one_each else 2)
    steps = [h["step"] for h in run.history]
    keys = [k for k in (run.history[0] if run.history else {}) if k not in ("step", "seconds")]
    series = {k: (steps, [h[k] for h in run.history]) for k in keys}
    losses = plots.line_plot(series or {"(not trained yet)": ([0], [0.0])}, title="Losses", xlabel="step")
    last = ", ".join(f"{k} {run.history[-1][k]:.3g}" for k in keys) if run.history else "not trained yet"
    unstable = " without its stabilisers" if s.family == "gan" and not s.stabilisers else ""
    status = (
        f"**{FAMILY_TITLES[s.family]}**{unstable} on {s.images:,} training images, lr {s.lr:g}: step {run.step:,} "
        f"(batches of {BATCH_SIZE}), {run.seconds:.0f} s of {BUDGET_S:.0f} s used. Last losses: {last}."
    )
    if run.budget_left <= 0:
        status += " **This run has used its budget:** press Reset to start another."
    elif run.paused:  # an update already on its way when Pause was pressed says so too, not "step N"
        status = _paused(run)
    return samples, losses, status


def _paused(run: LiveRun) -> str:
    return f"Paused at step {run.step:,}, {run.seconds:.0f} s of {BUDGET_S:.0f} s used. Press Train to go on."


@results.remembered(note_at=None)
def live_opening(
    dataset: str, family: str, lr: float, latent_dim: float, beta: float, images: float, stabilisers: bool = True
):
    """What the tab opens with: the samples and losses of an untrained model with these settings
    (drawn once, then from the results cache; a visitor's own run starts when they press Train)."""
    return _shown(LiveRun(_settings(dataset, family, lr, latent_dim, beta, images, stabilisers)))


@common.user_errors
def live_preview(
    dataset: str,
    family: str,
    lr: float,
    latent_dim: float,
    beta: float,
    images: float,
    stabilisers: bool = True,
    request: gr.Request = None,
):
    """The run these settings start (or the visitor's paused one): its untrained samples and losses."""
    return _shown(_run_for(_visitor(request), _settings(dataset, family, lr, latent_dim, beta, images, stabilisers)))


@common.user_errors
def live_train(
    dataset: str,
    family: str,
    lr: float,
    latent_dim: float,
    beta: float,
    images: float,
    stabilisers: bool = True,
    request: gr.Request = None,
) -> Iterator[tuple]:
    """Train the visitor's run (new, or the paused one with these settings), streaming its samples,
    losses and status about once a second, until it is paused, its visitor leaves or its budget is
    spent. While another visitor's model trains, say where this one is in line."""
    run = _run_for(_visitor(request), _settings(dataset, family, lr, latent_dim, beta, images, stabilisers))
    run.paused = False
    if run.budget_left <= 0:
        yield _shown(run)
        return
    ticket = object()
    _line.append(ticket)
    try:
        while not (_line[0] is ticket and _slot.acquire(blocking=False)):
            if run.paused:
                return
            place = _line.index(ticket)
            yield (
                gr.skip(),
                gr.skip(),
                (
                    f"Another visitor's model is training: you are **number {max(place, 1)} in line**. Yours starts "
                    f"when theirs is paused, left or has used its {BUDGET_S:.0f} s."
                ),
            )
            time.sleep(WAIT_S)
        try:
            while run.budget_left > 0 and not run.paused:
                t0 = time.perf_counter()
                compute.run(run.train_for, SLICE_S)  # all the cores, between the UNet passes of others
                shown = _shown(run)
                yield shown
                time.sleep((time.perf_counter() - t0) * REST)
        finally:
            _slot.release()
    finally:
        _line.remove(ticket)


@common.user_errors
def live_pause(request: gr.Request = None) -> str:
    """Stop the visitor's training where it is (the Train button goes on from there). The page also
    cancels the stream; an API client that only calls this stops it at the end of its slice."""
    with _runs_lock:
        run = _runs.get(_visitor(request))
    if run is None:
        return "Nothing is training: press Train."
    run.paused = True
    return _paused(run)


@common.user_errors
def live_reset(
    dataset: str,
    family: str,
    lr: float,
    latent_dim: float,
    beta: float,
    images: float,
    stabilisers: bool = True,
    request: gr.Request = None,
):
    """Forget the visitor's run and show a new one's untrained samples."""
    settings = _settings(dataset, family, lr, latent_dim, beta, images, stabilisers)
    return _shown(_run_for(_visitor(request), settings, fresh=True))


BIAS_LESSON = """### Bias from the data
A generative model learns the distribution of its training data, including what is missing from
it. Here the same model was trained twice: on the whole training set, and on a copy in which one
class was cut down to a few percent of its images. Left: what each model saw. Right: how often
each model's samples show each class, as our classifier reads them, in its unconditional mode
(no class asked for) and with "any" class drawn from its own training shares. A class that is rare
in the data comes out rarer still, or not at all: this is how a generator trained on scraped
data reproduces, and can amplify, the biases of that data, and why what a model generates says
as much about its data as about the world (the "Bias and misinformation" question). Compare the
two models with each other, not with a flat line: a VAE's unconditional mode is uneven even on
balanced data, where its prior has holes the decoder fills with a few favourite classes. The
figures come from `scripts/bias.py`."""


@results.remembered(note_at=None)
def bias_view(dataset: str) -> tuple[Image.Image | None, Image.Image | None, str]:
    """The bias measurement's training histograms, its sample histograms and what happened to the
    cut class; where it has not been measured, no figures and a line that says how to."""
    common.dataset_info(dataset)
    try:
        b = weights.load_measurement(dataset, weights.BIAS)
    except weights.WeightsError as exc:
        return None, None, f"*{exc}*"
    names, k, models = b["class_names"], b["cut_class"], b["models"]
    share = {name: [100 * c / sum(m["training"]) for c in m["training"]] for name, m in models.items()}
    training = plots.bars(share, names, "Training images per class", "% of the training set", mark=k)
    samples = plots.bars(
        {f"{name}, {mode}": [100 * c / b["n"] for c in m[mode]] for name, m in models.items() for mode in ("unconditional", "any")},
        names, f"{b['n']:,} samples of each model, as the classifier reads them", "% of the samples", mark=k,
    )  # fmt: skip
    text = (
        f"The {b['family'].upper()} trained with **{b['cut_class_name']}** cut to {b['keep']:.0%} of its images: "
        f"{b['verdict']}. Measured {b['measured']} with `{b['command']}`."
    )
    return training, samples, text


FAILURES_LESSON = """### Break it on purpose
Each of these failures can be made here: set the knobs and press Train (the diffusion one is in the
Diffusion tab). The figures beside them were measured by `scripts/failure_modes.py` and
`scripts/evaluate.py --sweep`."""


def _steps_figure(dataset: str) -> str:
    """Too few denoising steps, from the diffusion sweep (evaluate.py --sweep): the default
    sampler's fewest steps against its most."""
    try:
        sweep = weights.load_measurement(dataset, weights.SWEEP)
    except weights.WeightsError as exc:
        return f"*{exc}*"
    name = read_sampling(weights.model_dir(dataset, "diffusion"))[0]
    points = sorted((p for p in sweep["points"] if p["scheduler"] == name), key=lambda p: p["steps"])
    if len(points) < 2:
        return "*not measured*"
    few, many = points[0], points[-1]
    return (
        f"{SCHEDULER_NAMES[name]}: FID {few['fid']:.1f} at {few['steps']} steps, {many['fid']:.1f} at {many['steps']} "
        f"({sweep['n']} samples; real-data floor {sweep['floor_fid']:.1f} at that count)"
    )


def _vae_rows(f: dict) -> list[str]:
    rows = []
    if pc := f.get("posterior_collapse"):
        n, c = pc["normal"], pc["collapsed"]
        rows.append(
            f"| **posterior collapse** | {pc['try']} | the KL term falls far below beta 1's: the codes carry little "
            f"of each image, and samples blur towards class averages | KL of test images' codes {n['kl_nats']:.1f} "
            f"nats at beta 1, "
            f"{c['kl_nats']:.2f} at beta {pc['beta']:g}; neighbours of the same class on the latent map "
            f"{n['map_neighbour_agreement']:.0%} → {c['map_neighbour_agreement']:.0%} |"
        )
    if cp := f.get("copying"):
        d = cp["median_nearest_l2"]
        rows.append(
            f"| **copying** (overfitting) | {cp['try']} | samples that are the training images themselves | "
            f"median pixel distance to the nearest of those {cp['few']} images: {d['trained on the few']:.2f} for "
            f"a VAE trained on them, {d['trained on all']:.2f} trained on all, {d['real test images']:.2f} for "
            "real test images |"
        )
    return rows


def _other_rows(f: dict) -> list[str]:
    rows = []
    if mc := f.get("mode_collapse"):
        on, off = mc["stabilised"], mc["unstabilised"]
        rows.append(
            f"| **mode collapse** | {mc['try']} | the same few images in every row, and unconditional samples "
            f"of a few classes only | after {mc['steps']:,} steps, unconditional samples spread over "
            f"{on['effective_classes']:.1f} classes' worth with the stabilisers, {off['effective_classes']:.1f} "
            f"without (10: even); two samples of a class differ by {on['within_class_spread']:.1f} and "
            f"{off['within_class_spread']:.1f} (pixel distance; real images {mc['real_within_class_spread']:.1f}) |"
        )
    if ng := f.get("no_guidance"):
        g, u = ng["guided"], ng["unguided"]
        rows.append(
            f"| **no guidance** | {ng['try']} | more samples of the wrong class or of none | class accuracy "
            f"{u['class_accuracy']:.1%} at guidance 1 against {g['class_accuracy']:.1%} at the model's "
            f"{g['options']['guidance_scale']:g}; FID {u['fid']:.1f} against {g['fid']:.1f} ({ng['n']} samples each) |"
        )
    return rows


@results.remembered(note_at=None)
def failure_modes(dataset: str) -> str:
    """The failure modes a visitor can make, each with how and its measured figure."""
    common.dataset_info(dataset)
    rows = ["| failure | try it | what you see | measured |", "| --- | --- | --- | --- |"]
    try:
        f = weights.load_measurement(dataset, weights.FAILURE_MODES)
    except weights.WeightsError as exc:
        f = {}
        rows.append(f"| posterior collapse, copying, mode collapse, no guidance | | | *{exc}* |")
    rows += _vae_rows(f)
    rows.append(
        "| **too few denoising steps** | Diffusion tab, 5 steps or fewer | blurred or broken shapes, the "
        f"wrong class | {_steps_figure(dataset)} |"
    )
    return FAILURES_LESSON + "\n\n" + "\n".join(rows + _other_rows(f))


def family_defaults(family: str):
    """The learning rate a family trains well with, set when the family changes."""
    return gr.Number(value=DEFAULT_LR.get(family, 1e-3))


def build(dataset: gr.Dropdown) -> dict:
    gr.Markdown(LESSON, elem_classes=["lesson"])
    with gr.Row():
        family = gr.Radio([(t, k) for k, t in FAMILY_TITLES.items()], value="vae", label="Family")
        lr = gr.Number(DEFAULT_LR["vae"], minimum=LR[0], maximum=LR[1], label="Learning rate")
        latent = gr.Slider(*LATENT, value=16, step=1, label="Latent size (GAN's z, VAE's code)")
        beta = gr.Slider(*BETA, value=1.0, step=0.1, label="VAE's beta (weight of the KL term)")
        images = gr.Slider(*IMAGES, value=IMAGES[1], step=100, label="Training images")
        stabilisers = gr.Checkbox(
            True, label="GAN stabilisers", info="spectral norm, a faster discriminator, weight averaging"
        )
    with gr.Row():
        train = gr.Button("Train", variant="primary", elem_id="live-train")
        pause = gr.Button("Pause", elem_id="live-pause")
        reset = gr.Button("Reset", elem_id="live-reset")
    status = gr.Markdown(elem_id="live-status")
    with gr.Row():
        samples = gr.Image(
            format=common.IMAGE_FORMAT, label="Samples from fixed noise, class by class", type="pil",
            elem_id="live-samples",
        )  # fmt: skip
        losses = gr.Image(format=common.IMAGE_FORMAT, label="Losses", type="pil", elem_id="live-losses")
    inputs, outputs = [dataset, family, lr, latent, beta, images, stabilisers], [samples, losses, status]
    run = train.click(live_train, inputs, outputs, api_name="live_train", concurrency_limit=4, concurrency_id="live")
    pause.click(live_pause, None, status, api_name="live_pause", cancels=[run], queue=False)
    reset.click(live_reset, inputs, outputs, api_name="live_reset", cancels=[run])
    family.change(family_defaults, family, lr, api_name=False, queue=False)
    gr.Button(visible=False).click(live_preview, inputs, outputs, api_name="live_preview")
    failures = gr.Markdown(elem_id="failure-modes")
    gr.Button(visible=False).click(failure_modes, [dataset], failures, api_name="failure_modes")
    gr.Markdown(BIAS_LESSON, elem_classes=["lesson"])
    with gr.Row():
        trained_on = gr.Image(format=common.IMAGE_FORMAT, label="What each model saw", type="pil")
        made = gr.Image(format=common.IMAGE_FORMAT, label="What each model makes", type="pil", elem_id="bias-samples")
    bias_text = gr.Markdown()
    gr.Button(visible=False).click(bias_view, [dataset], [trained_on, made, bias_text], api_name="bias")
    return {
        "classes": [],
        "controls": {"family": family},
        "opening": [
            (live_opening, inputs, outputs),
            (failure_modes, [dataset], [failures]),
            (bias_view, [dataset], [trained_on, made, bias_text]),
        ],
    }
