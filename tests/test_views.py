"""Deep links (playground/ui/views.py) and the warm start (playground/ui/warm.py), without a browser;
tests/test_browser.py opens the links in Chromium."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from playground import weights
from playground.ui import build_app, results, warm
from playground.ui.app import view_link
from playground.ui.views import View, parse_view, view_query

DATASETS = ["mnist", "fashion"]


def test_a_link_names_a_view_and_reads_back():
    view = View(dataset="fashion", tab="diffusion", class_name="Sneaker", seed=3, steps=4, guidance=1.5, present=True)
    query = view_query(view)
    assert query == "?dataset=fashion&tab=diffusion&class=Sneaker&seed=3&steps=4&guidance=1.5&present=1"
    params = dict(pair.split("=") for pair in query[1:].split("&"))
    assert parse_view(params, DATASETS) == (view, [])


def test_an_empty_query_is_the_first_dataset_at_its_defaults():
    assert parse_view({}, DATASETS) == (View(dataset="mnist"), [])
    assert parse_view({}, []) == (View(dataset=None), [])


def test_class_names_match_without_case_for_the_linked_dataset():
    view, problems = parse_view({"dataset": "fashion", "class": "ankle BOOT"}, DATASETS)
    assert view.class_name == "Ankle boot" and not problems
    view, problems = parse_view({"dataset": "mnist", "class": "Sneaker"}, DATASETS)
    assert view.class_name is None and "class must be" in problems[0]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"tab": "nowhere"}, "tab must be one of gan, vae"),
        ({"dataset": "cifar10"}, "dataset must be one of mnist, fashion"),
        ({"seed": "-1"}, "seed must be a whole number from 0"),
        ({"seed": "1.5"}, "seed must be a whole number"),
        ({"n": "lots"}, "n: not a number"),
        ({"steps": "inf"}, "steps must be"),
        ({"guidance": "11"}, "guidance must be a number from 0 to 10"),
        ({"sampler": "euler"}, "sampler must be one of ddpm"),
        ({"family": "flow"}, "family must be one of gan, vae, diffusion"),
        ({"present": "maybe"}, "present must be 1 or 0"),
        ({"colour": "red"}, "colour is not a setting a link can choose"),
    ],
)
def test_what_a_link_gets_wrong_is_said_and_left_at_its_default(query, message):
    view, problems = parse_view(query | {"seed": query.get("seed", "7")}, DATASETS)
    assert len(problems) == 1 and message in problems[0], problems
    assert view.tab in ("gan", query.get("tab")) and view.dataset in DATASETS
    if "seed" not in query:
        assert view.seed == 7  # the rest of the link still applies


def test_spaces_own_query_parameters_are_ignored():
    assert parse_view({"__theme": "dark", "tab": "vae"}, DATASETS) == (View(dataset="mnist", tab="vae"), [])


def test_the_link_control_carries_only_the_open_tab():
    keys = [("gan", "seed"), ("gan", "class_name"), ("diffusion", "seed"), ("diffusion", "steps")]
    assert (
        view_link(keys, "diffusion", "mnist", [5, "3", 9, 12], False) == "?dataset=mnist&tab=diffusion&seed=9&steps=12"
    )
    assert view_link(keys, "gan", "fashion", [5, "Bag", 9, 12], True) == (
        "?dataset=fashion&tab=gan&class=Bag&seed=5&present=1"
    )


@pytest.mark.slow
def test_warm_start_loads_every_model_and_fills_every_opening(use_both_weights):
    demo = build_app()
    took = warm.prepare(DATASETS)
    assert {k.split("/")[1] for k in took} == {"gan", "vae", "classifier"}  # diffusion: after the start
    assert {k.split("/")[0] for k in took} == set(DATASETS)
    assert warm.tune(DATASETS) == 0
    for dataset in DATASETS:
        assert weights.load(dataset, "diffusion").kernels.ms_per_pass is not None
    results.clear()
    for dataset in DATASETS:
        openings = demo.openings(dataset)
        names = {fn.__name__ for fn, _ in openings}
        assert {"gan_sample", "vae_sample", "diffusion_sample", "compare", "same_seed"} <= names
        assert all(args[0] == dataset for _, args in openings)
        assert warm.compute(openings) == 0
    misses = results.stats["misses"]
    assert misses == sum(len(demo.openings(d)) for d in DATASETS)
    # what the page then asks for when it opens is answered from the cache
    fn, args = demo.openings("fashion")[0]
    fn(*args)
    assert results.stats["misses"] == misses and results.stats["hits"] >= 1


def test_warm_start_survives_a_failing_opening(use_weights, caplog):
    def broken(dataset):
        raise RuntimeError("a damaged file")

    assert warm.compute([(broken, ("mnist",)), (lambda d: None, ("mnist",))]) == 1
    assert "a damaged file" in caplog.text


@pytest.mark.slow
def test_the_start_does_without_diffusers(tiny_weights_both):
    """Building the page and preparing the models before the server starts import no diffusers
    (about 2 s; warm.tune loads it after the server is up), and the Diffusion tab still opens at
    the model's own sampler. A new process, since this one has imported diffusers already."""
    code = (
        "import sys; from playground.ui import build_app, warm, diffusion_tab; build_app(); "
        "warm.prepare(['mnist', 'fashion']); assert 'diffusers' not in sys.modules, 'diffusers was imported'; "
        "print(diffusion_tab.default_sampler('fashion'))"
    )
    env = {**os.environ, weights.WEIGHTS_ENV: str(tiny_weights_both)}
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "('ddpm', 7, 2.5)"  # the tiny Fashion-MNIST model's own


@pytest.mark.parametrize("mplbackend", [None, "Agg"])
def test_a_request_does_not_touch_pyplot_while_the_warm_start_imports_it(mplbackend):
    """Gradio sets matplotlib's backend to "agg" around every request. While the warm start's
    thread is importing pyplot (a figure among the openings), `sys.modules` holds a half-loaded
    pyplot, and unless "agg" was already chosen, spelt so, matplotlib called its missing
    `switch_backend` and the request failed. A new process: matplotlib reads MPLBACKEND once."""
    code = (
        "import sys, types; from playground import plots; plots.use_agg(); import matplotlib; "
        "sys.modules['matplotlib.pyplot'] = types.ModuleType('matplotlib.pyplot'); "  # as if half-loaded
        "from gradio.utils import MatplotlibBackendMananger as M\n"
        "with M(): pass\n"
        "with M(): pass\n"
        "print(matplotlib.get_backend())"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    if mplbackend:  # the user's own, as matplotlib's documentation spells it
        env["MPLBACKEND"] = mplbackend
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "agg"
