"""The page: a dataset choice for the whole page, and one tab per family under it."""

from __future__ import annotations

import os

import gradio as gr

from playground.ui import common, compare_tab, diffusion_tab, filecache, gan_tab, latent_tab, vae_tab

INTRO = """# Generative playground
Three families of generative models — **GANs**, **VAEs** and **diffusion models** — trained on the
same small datasets. Each one samples a vector in a *latent space* and decodes it into an image
that never existed. Pick a dataset, then a tab."""

NO_WEIGHTS = (
    "**No trained weights are installed.** Train them with `python scripts/train.py` "
    "(see the README); this page then shows them."
)

# System fonts only: the app must not fetch anything from the internet.
THEME = gr.themes.Soft(
    primary_hue="indigo",
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)
CSS = """
.gradio-container {max-width: 1200px !important; margin: auto;}
img {image-rendering: pixelated;}
/* a strip is wide: show it whole instead of centred in a square thumbnail */
#interpolation-strips .thumbnail-item {aspect-ratio: auto; height: auto;}
"""


def build_app() -> gr.Blocks:
    filecache.install()
    datasets = common.dataset_choices()
    first = datasets[0][1] if datasets else None
    with gr.Blocks(title="Generative playground") as demo:
        gr.Markdown(INTRO)
        if not datasets:
            gr.Markdown(NO_WEIGHTS)
        dataset = gr.Dropdown(datasets, value=first, label="Dataset (for the whole page)", interactive=bool(datasets))
        with gr.Tabs():
            with gr.Tab("GAN", id="gan"):
                gan = gan_tab.build(dataset)
            with gr.Tab("VAE", id="vae"):
                vae = vae_tab.build(dataset)
            with gr.Tab("Diffusion", id="diffusion"):
                diffusion = diffusion_tab.build(dataset)
            with gr.Tab("Compare", id="compare"):
                comparison = compare_tab.build(dataset)
            with gr.Tab("Latent space", id="latent"):
                latent = latent_tab.build(dataset)

        gr.Button(visible=False).click(ping, None, gr.Textbox(visible=False), api_name="ping", queue=True)

        classes = gan["classes"] + vae["classes"] + diffusion["classes"] + latent["classes"] + comparison["classes"]

        def on_dataset(d):
            epochs = gan_tab.timeline_epochs(d)
            updates = [gr.Dropdown(choices=common.class_choices(d), value="any") for _ in classes]
            own = [gr.Slider(value=gan_tab.default_truncation(d)), *diffusion_tab.sampler_updates(d)]
            return [*updates, gr.Slider(maximum=max(epochs, 2), value=epochs), *own]

        outputs = [*classes, gan["epoch"], gan["truncation"], *diffusion["sampler"]]
        change = dataset.change(on_dataset, dataset, outputs, api_name=False, queue=False)
        figures = [gan["timeline"], vae["losses"], diffusion["forward"], latent["map"], *comparison["figures"]]
        for fn, inputs, outputs in figures:
            change.then(shown_on_load(fn, outputs), inputs, outputs, api_name=False)
            if datasets:
                demo.load(shown_on_load(fn, outputs), inputs, outputs, api_name=False)
    return demo


def ping() -> str:
    """The trivial endpoint: what a request costs through Gradio with no work in it (scripts/bench.py)."""
    return "ok"


def shown_on_load(fn, outputs: list):
    """`fn` for figures drawn when the page opens: a missing file (say, no metrics measured yet) is
    said in the figure's text instead of popping up as an error."""

    def quiet(*args):
        try:
            return fn(*args)
        except gr.Error as exc:
            if isinstance(outputs[-1], gr.Markdown):
                return [None] * (len(outputs) - 1) + [f"*{exc.message}*"]
            gr.Warning(exc.message)
            return [None] * len(outputs) if len(outputs) > 1 else None

    return quiet


CONCURRENCY = 2  # requests computed at once: two CPU cores; more would only share them
MAX_QUEUE = 64  # waiting requests beyond this are turned away at once with "the queue is full"
ANALYTICS = {"GRADIO_ANALYTICS_MAX_EVENTS": "1000", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}


def launch(demo: gr.Blocks, concurrency: int = CONCURRENCY, max_queue: int = MAX_QUEUE, **kw) -> None:
    """Queue and launch with the page's theme (Gradio 6 takes theme and css at launch)."""
    # Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a
    # monitoring page this app does not enable: a tenth of the server's time under a room's load.
    # Keep 1,000 events and summarise them once per 1,000 (read when the queue is made).
    for name, value in ANALYTICS.items():
        os.environ.setdefault(name, value)
    demo.queue(default_concurrency_limit=concurrency, max_size=max_queue)
    # show_error: a request Gradio itself refuses (a word where a number belongs, a file that is
    # not an image) says why, instead of a bare "error"; our own messages are gr.Error already.
    kw.setdefault("show_error", True)
    demo.launch(theme=THEME, css=CSS, **kw)
