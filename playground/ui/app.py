"""The page: a dataset choice for the whole page, and one tab per family under it."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import gradio as gr

from playground import plots, weights
from playground.ui import (
    common,
    compare_tab,
    diffusion_tab,
    filecache,
    gan_tab,
    latent_tab,
    results,
    train_tab,
    vae_tab,
    views,
    warm,
)

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
/* Presenter mode (?present=1, or the toggle): for a projector at 1280x720. The lessons fold away,
   type and pictures grow, and each section keeps its one main action. */
body.present .lesson, body.present .extra {display: none !important;}
body.present .gradio-container {
  max-width: 100% !important; padding: 0 12px !important;
  --text-sm: 16px; --text-md: 20px; --text-lg: 24px; --text-xl: 28px; --text-xxl: 32px;
  --body-text-size: 20px; --block-label-text-size: 18px; --block-title-text-size: 20px;
  --button-large-text-size: 22px; --button-small-text-size: 18px; --input-text-size: 20px;
}
body.present .block:has(.image-frame) {height: auto !important;}
/* the enlarged labels float over the pictures' corners: put them above instead */
body.present .block:has(.image-frame) label[data-testid="block-label"].float {position: static; margin-bottom: 6px;}
body.present .image-frame img {
  width: 100% !important; height: auto !important; max-height: 78vh !important; object-fit: contain !important;
}
"""


TABS = {"gan": ("GAN", gan_tab), "vae": ("VAE", vae_tab), "diffusion": ("Diffusion", diffusion_tab),
        "compare": ("Compare", compare_tab), "latent": ("Latent space", latent_tab),
        "train": ("Train it yourself", train_tab)}  # fmt: skip


def build_header(datasets: list) -> tuple:
    """The dataset for the whole page, the presenter-mode toggle and "Link to this view"."""
    first = datasets[0][1] if datasets else None
    with gr.Row(equal_height=True):
        dataset = gr.Dropdown(
            datasets, value=first, label="Dataset (for the whole page)", interactive=bool(datasets), scale=3
        )
        present = gr.Checkbox(
            label="Presenter mode", info="Large images, lessons folded away", elem_id="present-toggle", scale=1
        )
        link_button = gr.Button("Link to this view", scale=1, elem_classes=["extra"])
    link = gr.Textbox(
        label="Link to this view: opens this dataset, tab and these settings", visible=False,
        buttons=["copy"], elem_id="view-link",
    )  # fmt: skip
    return dataset, present, link_button, link


def build_tabs(dataset: gr.Dropdown) -> tuple[gr.Tabs, gr.State, dict]:
    """The five tabs, each built by its module; the State says which one is open."""
    tab, built, tab_blocks = gr.State("gan"), {}, {}
    with gr.Tabs(selected="gan") as tabs:
        for name, (title, module) in TABS.items():
            with gr.Tab(title, id=name) as tab_blocks[name]:
                built[name] = module.build(dataset)
    for name, t in tab_blocks.items():
        t.select(lambda name=name: name, None, tab, api_name=False, queue=False)
    return tabs, tab, built


def dataset_updates(built: dict) -> tuple[list, Callable]:
    """The controls a dataset change resets (class menus, and the settings each model carries), and
    the function that gives their values for a dataset."""
    classes = [c for b in built.values() for c in b["classes"]]
    gan, vae, diffusion = built["gan"], built["vae"], built["diffusion"]
    own = [gan["epoch"], gan["truncation"], vae["dimension"], *diffusion["sampler"]]

    def on_dataset(d):
        epochs = gan_tab.timeline_epochs(d)
        updates = [gr.Dropdown(choices=common.class_choices(d), value="any") for _ in classes]
        return [*updates, gr.Slider(maximum=max(epochs, 2), value=epochs), gr.Slider(value=gan_tab.default_truncation(d)),
                gr.Slider(maximum=vae_tab.latent_dims(d) - 1, value=0), *diffusion_tab.sampler_updates(d)]  # fmt: skip

    return [*classes, *own], on_dataset


def view_opener(datasets: list, dataset_outputs: list, on_dataset: Callable, linked: list, view_outputs: list):
    """The page's load event: a deep link sets the dataset, the tab and the named tab's controls;
    every control it does not name opens at its default."""

    def open_view(request: gr.Request):
        view, problems = views.parse_view(dict(request.query_params) if request else {}, [d for _, d in datasets])
        if problems:
            gr.Warning("This link's " + "; ".join(problems) + ". Those settings open at their defaults.")
        updates = on_dataset(view.dataset) if view.dataset else [gr.skip()] * len(dataset_outputs)
        by_id = {id(c): u for c, u in zip(dataset_outputs, updates, strict=True)}
        for name, key, c in linked:
            value = getattr(view, key)
            if name == view.tab and value is not None:
                by_id[id(c)] = (
                    gr.Dropdown(choices=common.class_choices(view.dataset), value=value)
                    if key == "class_name"
                    else value
                )
        return [view.dataset or gr.skip(), gr.Tabs(selected=view.tab), view.tab, view.present] + [
            by_id.get(id(c), gr.skip()) for c in view_outputs
        ]

    return open_view


def wire_link(link_button: gr.Button, link: gr.Textbox, tab, dataset, present, linked: list) -> None:
    keys = [(name, key) for name, key, _ in linked]

    def link_to_view(tab_, dataset_, *values):
        *values, present_ = values
        return gr.Textbox(value=view_link(keys, tab_, dataset_, values, present_), visible=True)

    link_button.click(
        link_to_view, [tab, dataset, *(c for _, _, c in linked), present], link, api_name=False, queue=False,
    ).then(None, link, link, js=LINK_JS, api_name=False)  # fmt: skip


def wire_openings(events: list, built: dict) -> list:
    """Every tab opens with its results: the defaults come from the results cache, filled at start
    (warm_start); a linked view's own settings are computed. Returns (fn, inputs, outputs, heavy)."""
    comparison = built["compare"]
    figures = [built["gan"]["timeline"], built["vae"]["losses"], built["diffusion"]["forward"], built["latent"]["map"],
               *comparison["figures"]]  # fmt: skip
    opening = [
        (fn, inputs, outputs, results.is_heavy(fn)) for b in built.values() for fn, inputs, outputs in b["opening"]
    ]
    for event in events:
        for fn, inputs, outputs in figures:
            event.then(shown_on_load(fn, outputs), inputs, outputs, api_name=False)
        for fn, inputs, outputs, heavy in opening:
            event.then(shown_on_load(fn, outputs), inputs, outputs, api_name=False, **(common.HEAVY if heavy else {}))
    return opening


def build_app() -> gr.Blocks:
    filecache.install()
    datasets = common.dataset_choices()
    with gr.Blocks(title="Generative playground") as demo:
        gr.Markdown(INTRO, elem_classes=["lesson"])
        if not datasets:
            gr.Markdown(NO_WEIGHTS)
        dataset, present, link_button, link = build_header(datasets)
        tabs, tab, built = build_tabs(dataset)
        gr.Button(visible=False).click(ping, None, gr.Textbox(visible=False), api_name="ping", queue=True)

        dataset_outputs, on_dataset = dataset_updates(built)
        linked = [(name, key, c) for name, b in built.items() for key, c in b["controls"].items()]
        view_outputs = list({id(c): c for c in [*dataset_outputs, *(c for _, _, c in linked)]}.values())
        change = dataset.input(on_dataset, dataset, dataset_outputs, api_name=False, queue=False)
        open_view = view_opener(datasets, dataset_outputs, on_dataset, linked, view_outputs)
        opened = demo.load(open_view, None, [dataset, tabs, tab, present, *view_outputs], api_name=False)
        present.change(None, present, None, js=PRESENT_JS, api_name=False)
        wire_link(link_button, link, tab, dataset, present, linked)
        opening = wire_openings([change, opened], built)

        def openings(d: str) -> list[warm.Opening]:
            """What the page computes when it opens on dataset `d`: each opening result's function
            and the controls' opening values (those the dataset sets, as on_dataset sets them)."""
            values = {id(c): c.value for c in demo.blocks.values() if hasattr(c, "value")}
            values |= {id(c): u.value for c, u in zip(dataset_outputs, on_dataset(d), strict=True)}
            values[id(dataset)] = d
            return [(fn, tuple(values[id(c)] for c in inputs)) for fn, inputs, _, _ in opening]

    demo.openings = openings  # for the warm start (launch)
    return demo


PRESENT_JS = "(on) => { document.body.classList.toggle('present', !!on); }"
# The link is made in the browser, which knows the address it was opened at (behind a proxy too).
LINK_JS = "(q) => [window.location.origin + window.location.pathname + q]"
# Presenter mode from the first paint: the query is read before the app answers.
HEAD = """<script>
if (new URLSearchParams(window.location.search).get('present') === '1') {
  document.addEventListener('DOMContentLoaded', () => document.body.classList.add('present'));
}
</script>"""


def view_link(keys: list[tuple[str, str]], tab: str, dataset: str, values: list, present: bool) -> str:
    """The URL query of the view on screen: the dataset, the tab, that tab's controls (`keys`:
    (tab, setting) of each of `values`) and presenter mode."""
    chosen = {key: value for (name, key), value in zip(keys, values, strict=True) if name == tab and value is not None}
    try:
        return views.view_query(views.View(dataset=dataset, tab=tab, present=bool(present), **chosen))
    except (TypeError, ValueError) as exc:
        raise gr.Error(f"could not make a link to this view: {exc}") from None


def ping() -> str:
    """The trivial endpoint: what a request costs through Gradio with no work in it (scripts/bench.py)."""
    return "ok"


def shown_on_load(fn, outputs: list):
    """`fn` for figures drawn when the page opens: a missing file (say, no metrics measured yet) is
    said in the figure's text instead of popping up as an error."""

    def failed(exc: gr.Error):
        if isinstance(outputs[-1], gr.Markdown):
            return [None] * (len(outputs) - 1) + [f"*{exc.message}*"]
        gr.Warning(exc.message)
        return [None] * len(outputs) if len(outputs) > 1 else None

    if inspect.isgeneratorfunction(fn):  # a streamed action: its steps, or from the cache its last

        def quiet_stream(*args):
            try:
                yield from fn(*args)
            except gr.Error as exc:
                yield failed(exc)

        return quiet_stream

    def quiet(*args):
        try:
            return fn(*args)
        except gr.Error as exc:
            return failed(exc)

    return quiet


CONCURRENCY = 4  # requests of one kind in progress at once: an answer from the cache is mostly sending (README)
MAX_QUEUE = 64  # waiting requests beyond this are turned away at once with "the queue is full"
ANALYTICS = {"GRADIO_ANALYTICS_MAX_EVENTS": "1000", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}


def launch(
    demo: gr.Blocks, concurrency: int = CONCURRENCY, max_queue: int = MAX_QUEUE, warm_start: bool = False, **kw
) -> None:
    """Queue and launch with the page's theme (Gradio 6 takes theme and css at launch). `warm_start`:
    load every model and run each first-request path before the server starts, then compute every
    tab's opening results in the background (see playground/ui/warm.py)."""
    # Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a
    # monitoring page this app does not enable: a tenth of the server's time under a room's load.
    # Keep 1,000 events and summarise them once per 1,000 (read when the queue is made).
    for name, value in ANALYTICS.items():
        os.environ.setdefault(name, value)
    plots.use_agg()
    demo.queue(default_concurrency_limit=concurrency, max_size=max_queue)
    # show_error: a request Gradio itself refuses (a word where a number belongs, a file that is
    # not an image) says why, instead of a bare "error"; our own messages are gr.Error already.
    kw.setdefault("show_error", True)
    datasets = list(weights.available())
    if warm_start:
        warm.prepare(datasets)
    block = not kw.pop("prevent_thread_lock", False)
    demo.launch(theme=THEME, css=CSS, head=HEAD, prevent_thread_lock=True, **kw)
    if warm_start:
        openings = [o for d in datasets for o in demo.openings(d)]
        light = [o for o in openings if not results.is_heavy(o[0])]  # no diffusion model in them
        warm.fill_in_background(datasets, light, [o for o in openings if results.is_heavy(o[0])])
    if block:
        demo.block_thread()
