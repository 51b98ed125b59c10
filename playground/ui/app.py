"""The page: a dataset choice for the whole page and the tabs under it."""

from __future__ import annotations

import gradio as gr

from playground.models import FAMILY_TITLES
from playground.ui import handlers

INTRO = """# Generative playground
Three families of generative models — **GANs**, **VAEs** and **diffusion models** — trained on the
same small datasets. Each one samples a vector in a latent space and decodes it into an image
that never existed."""


def build_app() -> gr.Blocks:
    datasets = handlers.dataset_choices()
    with gr.Blocks(title="Generative playground") as demo:
        gr.Markdown(INTRO)
        if not datasets:
            gr.Markdown(
                "**No trained weights are installed yet.** Train them with `python scripts/train.py` "
                "(see the README); this page then shows them."
            )
        first = datasets[0][1] if datasets else None
        with gr.Row():
            dataset = gr.Dropdown(datasets, value=first, label="Dataset", interactive=bool(datasets))
            family = gr.Radio([(t, k) for k, t in FAMILY_TITLES.items()], value="gan", label="Family")
            label = gr.Dropdown(handlers.class_choices(first), value="any", label="Class")
        with gr.Row():
            n = gr.Slider(1, handlers.MAX_IMAGES, value=16, step=1, label="Number of images")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed")
            button = gr.Button("Generate", variant="primary")
        gallery = gr.Gallery(label="Samples", columns=8, height="auto")
        cost = gr.Markdown()
        dataset.change(
            lambda d: gr.Dropdown(choices=handlers.class_choices(d), value="any"), dataset, label, api_name=False
        )
        button.click(handlers.generate, [dataset, family, label, n, seed], [gallery, cost], api_name="sample")
    return demo
