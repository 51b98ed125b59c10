"""Plain functions behind the page's buttons: callable without a browser and, through their
`api_name`s, with `gradio_client`. Bad input becomes a `gr.Error` with a clear message."""

from __future__ import annotations

import time

import gradio as gr
from PIL import Image

from playground import weights
from playground.data import DATASETS, DataError, get_info, parse_label
from playground.images import to_pil
from playground.models import FAMILIES, FAMILY_TITLES

MAX_IMAGES = 64  # per click: a gallery of 64 is already more than a screen shows
IMAGE_SCALE = 4  # 28 px digits are shown at 112 px, with sharp pixels


def dataset_choices() -> list[tuple[str, str]]:
    """(title, key) for every dataset with installed weights."""
    return [(DATASETS[name].title, name) for name in weights.available()]


def class_choices(dataset: str) -> list[str]:
    if dataset not in DATASETS:
        return ["any"]
    return ["any", *DATASETS[dataset].class_names]


def _int(value, name: str, low: int, high: int) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a whole number from {low} to {high}, not {value!r}") from None
    if f != f or f in (float("inf"), float("-inf")) or f != int(f) or not low <= f <= high:
        raise gr.Error(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return int(f)


def load_model(dataset: str, kind: str):
    try:
        get_info(dataset)
        return weights.load(dataset, kind)
    except (DataError, weights.WeightsError) as exc:
        raise gr.Error(str(exc)) from None


def generate(dataset: str, family: str, label: str, n: float, seed: float) -> tuple[list[Image.Image], str]:
    """Sample `n` images of class `label` ("any" or a class name) from one family."""
    if family not in FAMILIES:
        raise gr.Error(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    model = load_model(dataset, family)
    try:
        y = parse_label(get_info(dataset), label)
    except DataError as exc:
        raise gr.Error(str(exc)) from None
    n = _int(n, "number of images", 1, MAX_IMAGES)
    seed = _int(seed, "seed", 0, 2**31 - 1)
    t0 = time.perf_counter()
    images = model.sample(n, seed=seed, class_labels=y)
    ms = (time.perf_counter() - t0) * 1000
    cost = model.cost(class_labels=y)
    text = f"{FAMILY_TITLES[family]}: {n} image{'s' if n > 1 else ''} in {ms:.0f} ms; {cost.describe()}."
    return [to_pil(img, IMAGE_SCALE) for img in images], text
