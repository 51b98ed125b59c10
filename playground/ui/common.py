"""What every tab shares: checking input, loading models with clear errors, the controls row,
and the cost line shown under every result."""

from __future__ import annotations

import functools
import inspect
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import torch
from PIL import Image

from playground import weights
from playground.data import ANY, DATASETS, UNCONDITIONAL, DataError, DatasetInfo, draw_classes, get_info, parse_label
from playground.images import CAPTION_PX, Tiling, drawing_to_tensor, tile, to_pil
from playground.limits import MAX_IMAGES, MAX_SEED, check_number
from playground.models import Cost

IMAGE_SCALE = 4  # 28 px images are shown at 112 px, with sharp pixels
# Every image reaches the browser as PNG, not Gradio's default WebP (lossy at its defaults): exact
# pixels, and faster to encode and smaller for these few-grey images (README, "Speed and load").
IMAGE_FORMAT = "png"


def dataset_choices() -> list[tuple[str, str]]:
    """(title, key) for every dataset with installed weights."""
    return [(DATASETS[name].title, name) for name in weights.available()]


def class_choices(dataset: str | None) -> list[str]:
    """ "any" (each image's class drawn as often as in the training data), every class, and
    "unconditional" (no class given: the model's own unconditional mode)."""
    if dataset not in DATASETS:
        return [ANY]
    return [ANY, *DATASETS[dataset].class_names, UNCONDITIONAL]


USER_ERRORS = (ValueError, DataError, weights.WeightsError)  # what the library raises for a bad request


def user_errors(fn: Callable) -> Callable:
    """The one place where the library's errors (ValueError and the like, with a message that says
    what is allowed) become a gr.Error, which the page shows and the API returns, and the app keeps
    serving. Every action goes through it (results.remembered wraps them)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def streamed(*args, **kw):
            try:
                yield from fn(*args, **kw)
            except USER_ERRORS as exc:
                raise gr.Error(str(exc)) from None

        return streamed

    @functools.wraps(fn)
    def plain(*args, **kw):
        try:
            return fn(*args, **kw)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from None

    return plain


def number(value, name: str, low: float, high: float, integer: bool = True) -> int | float:
    """`value` as a checked number, or a gr.Error that says what is allowed (limits.check_number)."""
    try:
        return check_number(value, name, low, high, integer)
    except ValueError as exc:
        raise gr.Error(str(exc)) from None


def dataset_info(dataset) -> DatasetInfo:
    try:
        return get_info(dataset)
    except (DataError, TypeError) as exc:
        raise gr.Error(str(exc)) from None


TUNE_BATCH = 8  # the batch a diffusion model is timed on when first loaded
DEFAULT_IMAGES = 8  # the Diffusion tab's opening number of images


def load(dataset: str, kind: str):
    """A model by dataset and kind; missing or damaged weights become a clear gr.Error. A diffusion
    model is timed on its first load here, and keeps the fastest kernels for this machine."""
    dataset_info(dataset)
    try:
        model = weights.load(dataset, kind)
    except weights.WeightsError as exc:
        raise gr.Error(str(exc)) from None
    if hasattr(model, "tune") and model.kernels.ms_per_pass is None:
        with _tuning:
            if model.kernels.ms_per_pass is None:  # another request may have tuned it meanwhile
                try:
                    model.tune(TUNE_BATCH)
                except ValueError as exc:  # PLAYGROUND_PRECISION set to something else than it takes
                    raise gr.Error(str(exc)) from None
    return model


_tuning = threading.Lock()


def own_setting(dataset: str | None, kind: str, read: Callable, fallback):
    """A sampling setting the dataset's model carries (`read(model)`), for a control's opening
    value; `fallback` where the model can't be loaded (the tab's own actions say what is wrong)."""
    try:
        return read(weights.load(dataset, kind)) if dataset else fallback
    except (weights.WeightsError, DataError):
        return fallback


def examples(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    dataset_info(dataset)
    try:
        return weights.load_examples(dataset)
    except weights.WeightsError as exc:
        raise gr.Error(str(exc)) from None


def label(dataset: str, value) -> int | None:
    try:
        return parse_label(dataset_info(dataset), value)
    except DataError as exc:
        raise gr.Error(str(exc)) from None


@dataclass
class Request:
    """The controls every tab has, checked. `label` is the one class asked for, or None for
    "any" and "unconditional"; `labels` is what the models are given."""

    info: DatasetInfo
    label: int | None
    n: int
    seed: int
    unconditional: bool = False

    @property
    def labels(self) -> int | torch.Tensor | None:
        """The class, or for "any" a class per image drawn from p(y) with the seed (so that the
        samples follow the data, p(x) = Σ p(y) p(x | y)), or None: unconditional."""
        if self.label is not None or self.unconditional:
            return self.label
        return draw_classes(self.info, self.n, self.seed)

    @property
    def caption(self) -> str:
        if self.unconditional:
            return "unconditional: no class given"
        if self.label is None:
            return "any class, each drawn as often as in the training data"
        return f"class {self.info.class_names[self.label]}"


def request(dataset, class_name, n, seed) -> Request:
    info = dataset_info(dataset)
    unconditional = isinstance(class_name, str) and class_name.strip().lower() == UNCONDITIONAL
    return Request(
        info,
        None if unconditional else label(dataset, class_name),
        number(n, "number of images", 1, MAX_IMAGES),
        number(seed, "seed", 0, MAX_SEED),
        unconditional,
    )


def timed(fn: Callable, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, (time.perf_counter() - t0) * 1000


def cost_line(what: str, n: int, ms: float, cost: Cost) -> str:
    return (
        f"**{what}**: {n} image{'s' if n != 1 else ''} in {ms:.0f} ms on this machine · "
        f"{cost.nfe} network evaluation{'s' if cost.nfe != 1 else ''} per image · "
        f"{cost.parameters / 1e6:.2f} M parameters · {cost.precision}"
    )


# The events that run many network passes share a group of slots apart from the other requests
# (GAN, VAE, figures), and compute one at a time (results.HEAVY_LOCK): a heavy click leaves the
# other requests their slots, and a heavy view's answer from the cache does not queue behind one
# being computed (README, "Speed and load").
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": 4}

# The compute budget of one request: no visitor's click may hold the two cores for long.
BUDGET_S = 2.0


def check_budget(model, n: int, cost: Cost, what: str = "this request") -> None:
    """A gr.Error that says the limit if `n` images at `cost` would take more than about BUDGET_S of
    this machine's time. The time per network evaluation is the one measured when the model was
    tuned (see `load`); the model's own settings for DEFAULT_IMAGES images always fit, so a tab's
    defaults are never refused."""
    ms = getattr(getattr(model, "kernels", None), "ms_per_pass", None)
    if not ms:
        return
    per_image = ms / TUNE_BATCH
    own = model.cost(class_labels=0).nfe * DEFAULT_IMAGES
    limit = max(int(BUDGET_S * 1000 / per_image), own)
    asked = n * cost.nfe
    if asked > limit:
        raise gr.Error(
            f"{what} needs {n} image{'s' if n != 1 else ''} × {cost.nfe} network evaluations = {asked:,} UNet passes, "
            f"about {asked * per_image / 1000:.1f} s of this machine; the limit per request is {limit:,} "
            f"(about {max(BUDGET_S, limit * per_image / 1000):.0f} s). Ask for fewer steps or images, or guidance 1 "
            "(one evaluation per step instead of two)."
        )


def picture(images: torch.Tensor, captions: list[str] | None = None, columns: int = 8) -> Image.Image:
    """Images (N, C, H, W), enlarged IMAGE_SCALE times, in one picture with their captions: one
    file to send instead of one per image (README, "Speed and load")."""
    return tile([to_pil(img, IMAGE_SCALE) for img in images], columns, captions)[0]


def tiling_of(dataset: str, picture: Image.Image, columns: int, captioned: bool) -> Tiling:
    """The layout `picture(…, columns=columns)` drew for this dataset's images, read back from
    the picture's size: the cells are all there are rows for (a blank one is all padding)."""
    size = dataset_info(dataset).image_size * IMAGE_SCALE
    one = Tiling(1, columns, size, size, caption=CAPTION_PX if captioned else 0)
    step_x, step_y = (s - one.pad for s in one.size)
    shown = max(1, min(columns, round((picture.width - one.pad) / step_x)))  # fewer images than columns
    rows = max(1, round((picture.height - one.pad) / step_y))
    return Tiling(rows * shown, columns, size, size, caption=one.caption)  # a second row means a full first


def crop_cell(picture: Image.Image, layout: Tiling, i: int) -> Image.Image | None:
    """Cell `i` of a picture, or None where it is blank (the padding that ends the last row)."""
    crop = picture.crop(layout.box(i))
    return None if crop.convert("L").getextrema() == (255, 255) else crop


def cell(dataset: str, picture: Image.Image | None, columns: int, captioned: bool, xy) -> Image.Image | None:
    """The image at pixel `xy` of a picture made by `picture`, or None where there is none."""
    if picture is None or not isinstance(xy, list | tuple) or len(xy) != 2:
        return None
    layout = tiling_of(dataset, picture, columns, captioned)
    i = layout.index_at(*xy)
    return None if i is None else crop_cell(picture, layout, i)


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED)


def controls(
    dataset_value: str | None, n: int = 16, max_n: int = MAX_IMAGES
) -> tuple[gr.Dropdown, gr.Slider, gr.Number, gr.Button]:
    """Class, number of images, seed with a "new seed" button: the row at the top of each tab."""
    with gr.Row(equal_height=True):
        cls = gr.Dropdown(class_choices(dataset_value), value="any", label="Class", scale=2)
        count = gr.Slider(1, max_n, value=n, step=1, label="Number of images", scale=2)
        seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", scale=1)
        dice = gr.Button("New seed", scale=0, min_width=110, elem_classes=["extra"])
    dice.click(new_seed, None, seed, api_name=False, queue=False)
    return cls, count, seed, dice


def blank(size: int = 28) -> Image.Image:
    return Image.new("L", (size * IMAGE_SCALE, size * IMAGE_SCALE), 0)


DRAW_TIP = "Draw one digit or garment, large, in the middle."
FIT = {"mnist": 20, "fashion": 26, "cifar10": 32}  # how large the drawing is scaled, as in the data


def input_image(dataset: str, source: str, drawing, example: float) -> torch.Tensor:
    """The image to encode: a drawing, or a real test image by its index."""
    info = dataset_info(dataset)
    if source == "drawing":
        try:
            x = drawing_to_tensor(drawing, info.channels, info.image_size, FIT.get(dataset, info.image_size))
        except (ValueError, OSError) as exc:
            raise gr.Error(f"could not read the drawing: {exc}") from None
        if x is None:
            raise gr.Error("The drawing is empty: draw something first. " + DRAW_TIP)
        return x
    if source != "test image":
        raise gr.Error(f"source must be 'test image' or 'drawing', not {source!r}")
    images, _ = examples(dataset)
    return images[number(example, "test image", 0, len(images) - 1)][None]


def sketchpad() -> gr.Sketchpad:
    """A canvas for drawing a digit or a garment with the mouse (black on white, sent as RGBA)."""
    return gr.Sketchpad(
        label="Your drawing: pick the brush, draw, choose 'drawing' above", canvas_size=(280, 280), type="numpy",
        brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
    )  # fmt: skip
