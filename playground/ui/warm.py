"""A warm start: the server says it is ready only once the first click will be as fast as the tenth,
and every tab's opening results are computed once, into the results cache, while the first
visitors arrive.

Before the server starts (`prepare`): every installed GAN, VAE and classifier is loaded, and one
small request runs through each, so that no visitor pays for reading weights or for first-call
kernel set-up. After (`fill_in_background`), in a background thread: the opening results that
need no diffusion model (the GAN and VAE tabs') are computed, then each diffusion model is loaded,
which imports diffusers (about 2 s, half the start otherwise), and timed for its fastest kernels
(common.load), then the other opening results are computed, the page's first dataset first. A
request that arrives meanwhile waits for the work it needs rather than doing it again (the
weights and tuning locks, results.remembered). What a start costs is in the README ("Speed and
load").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import gradio as gr
import torch

from playground import weights
from playground.models.diffusion import DISTILLED
from playground.ui import common

log = logging.getLogger(__name__)

# (function, arguments) of one opening result
Opening = tuple[Callable, tuple]


def prepare(datasets: Iterable[str]) -> dict[str, float]:
    """Load every model of `datasets` but the diffusion models (`tune` loads those, after the
    server starts) and run each first-request path once; seconds per step."""
    took = {}
    installed = weights.available()
    for dataset in datasets:
        for kind in installed.get(dataset, []):
            if kind == "diffusion":
                continue
            t0 = time.perf_counter()
            try:
                model = weights.load(dataset, kind)
                with torch.inference_mode():
                    if kind == "classifier":
                        model.predict_proba(common.examples(dataset)[0][:1])
                    else:
                        model.sample(1, seed=0, class_labels=0)
            except (gr.Error, weights.WeightsError, ValueError, RuntimeError) as exc:  # the tab says so when used
                log.warning("warm start: %s %s: %s", dataset, kind, exc)
            took[f"{dataset}/{kind}"] = time.perf_counter() - t0
    return took


def tune(datasets: Iterable[str]) -> int:
    """Load every diffusion model, time its kernels (common.load does on a model's first load) and
    run its first-request path once; the number that failed."""
    failed = 0
    for dataset in datasets:
        if "diffusion" in weights.available().get(dataset, []):
            try:
                model = common.load(dataset, "diffusion")
                # one step, or a distilled student's own steps (it samples in no others)
                steps = None if model.sampler == DISTILLED else 1
                with torch.inference_mode():
                    model.sample(1, seed=0, class_labels=0, num_inference_steps=steps)
            except (gr.Error, ValueError, RuntimeError) as exc:  # the tab says so when used
                failed += 1
                log.warning("warm start: %s diffusion: %s", dataset, getattr(exc, "message", exc))
    return failed


def compute(openings: Iterable[Opening]) -> int:
    """Compute each opening result (into the results cache); the number that failed."""
    failed = 0
    for fn, args in openings:
        try:
            out = fn(*args)
            if hasattr(out, "__next__"):  # a streamed action: run it to its end
                for _ in out:
                    pass
        except Exception as exc:  # noqa: BLE001 - one failing figure must not stop the others
            failed += 1
            log.warning("warm start: %s%r: %s", getattr(fn, "__name__", fn), args, exc)
    return failed


def fill_in_background(datasets: list[str], light: list[Opening], heavy: list[Opening]) -> threading.Thread:
    """In a daemon thread: compute the `light` openings (they need no diffusion model, so they
    are in the cache within a second of the start), then load and tune the diffusion models,
    then compute the `heavy` openings."""

    def run():
        compute(light)
        tune(datasets)
        compute(heavy)

    thread = threading.Thread(target=run, name="warm-start", daemon=True)
    thread.start()
    return thread
