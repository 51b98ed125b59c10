"""The Compare tab: the three families side by side, with the numbers that tell them apart."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pandas as pd
import torch
from PIL import Image

from playground import neighbours, plots, weights
from playground.images import image_to_tensor
from playground.metrics import provenance, speed_machines, training_cost
from playground.models import FAMILY_TITLES
from playground.models.diffusion import SCHEDULER_NAMES
from playground.ui import common, results

COMPARE_COLUMNS = 4  # images per row in each family's picture
NEAREST_COLUMNS = 6

LESSON = """### Side by side, measured the same way
One seed and one class through all three families, with what each image cost. Below, the
quality of each family measured by `scripts/evaluate.py` on thousands of samples, in the
feature space of our own classifier — the discriminative model that only tells classes apart,
which here judges the generative ones: each image's caption is its verdict and confidence.
Click any image to see its nearest training images — is it new, or a copy?"""

COPY_LESSON = """### Does it copy its training data?
Each family's generated images, and real test images for reference, measured by their distance
to the nearest of all 60,000 training images. A model that memorised its data would pile up near
zero; real test images show how close a genuinely new image usually is."""

SWEEP_LESSON = """### Speed against quality, for diffusion
Fewer denoising steps are faster but rougher. Each point is one sampler at one step count:
its FID (lower is better) against the network evaluations (NFE) it spent per image."""


@results.remembered(heavy=True)
def compare(dataset: str, class_name: str, n: float, seed: float) -> tuple[Image.Image, Image.Image, Image.Image, str]:
    """One seed and class through every family: a grid each, and what it cost."""
    r = common.request(dataset, class_name, n, seed)
    if r.n > 16:
        raise gr.Error("number of images must be at most 16 here (diffusion makes each with dozens of network passes)")
    out, lines = [], []
    models = {fam: common.load(dataset, fam) for fam in FAMILY_TITLES}
    labels = r.labels  # "any": the same drawn classes for every family
    for fam, model in models.items():  # refuse before computing anything
        common.check_budget(model, r.n, model.cost(class_labels=labels), f"{FAMILY_TITLES[fam]} here")
    for fam, title in FAMILY_TITLES.items():
        model = models[fam]
        # every model samples with its own settings (ψ, sampler, guidance): those its metrics were measured with
        images, ms = common.timed(model.sample, r.n, seed=r.seed, class_labels=labels)
        cost = model.cost(class_labels=labels)
        size = sum(p.stat().st_size for p in weights.model_dir(dataset, fam).rglob("*.safetensors"))
        out.append(common.picture(images, verdicts(dataset, images), columns=COMPARE_COLUMNS))
        lines.append(
            f"| {title} | {ms:.0f} ms | {ms / r.n:.1f} ms | {cost.nfe} | {cost.parameters / 1e6:.2f} M | {size / 1e6:.1f} MB |"
        )
    table = (
        f"Measured now, on this machine ({r.caption}, seed {r.seed}):\n\n"
        "| family | these images | per image | network evaluations per image | parameters | on disk |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(lines)
    )
    return out[0], out[1], out[2], table


def verdicts(dataset: str, images: torch.Tensor) -> list[str]:
    """The classifier's label and confidence for each image, as captions."""
    info = common.dataset_info(dataset)
    probs = common.load(dataset, "classifier").predict_proba(images)
    conf, pred = probs.max(1)
    return [f"{info.class_names[k]} · {c:.0%}" for k, c in zip(pred.tolist(), conf.tolist(), strict=True)]


def probe_image(dataset: str, image) -> torch.Tensor:
    """An uploaded or clicked image as the dataset's (1, C, H, W) tensor, or a clear gr.Error."""
    info = common.dataset_info(dataset)
    try:
        x = image_to_tensor(image, info.channels, info.image_size)
    except (ValueError, OSError) as exc:
        raise gr.Error(f"could not read the image: {exc}") from None
    if x is None:
        raise gr.Error("no image: generate some and click one, or upload an image")
    return x


def classify(dataset: str, image) -> dict[str, float]:
    """What the classifier (a model that only tells classes apart) makes of one image: a
    probability per class. Any image: it is made grey and resized to the dataset's size."""
    info = common.dataset_info(dataset)
    probs = common.load(dataset, "classifier").predict_proba(probe_image(dataset, image))[0]
    return {name: float(p) for name, p in zip(info.class_names, probs.tolist(), strict=True)}


def nearest_training(dataset: str, image, k: float = 6, space: str = "pixels") -> tuple[Image.Image, str]:
    """The `k` training images nearest to one image, with their distances, in pixel space or in
    the classifier's feature space."""
    info = common.dataset_info(dataset)
    k = common.number(k, "number of neighbours", 1, 32)
    if space not in neighbours.SPACES:
        raise gr.Error(f"space must be one of: {', '.join(neighbours.SPACES)}; not {space!r}")
    x = probe_image(dataset, image)
    try:
        found, ms = common.timed(neighbours.nearest, dataset, x, k, space)
    except weights.WeightsError as exc:
        raise gr.Error(str(exc)) from None
    each = list(zip(found.labels[0].tolist(), found.distances[0].tolist(), found.train_index[0].tolist(), strict=True))
    captions = [f"{info.class_names[y]} · {d:.2f}\ntraining #{i}" for y, d, i in each]
    n_train = len(weights.load_training_subset(dataset)[0])
    text = (
        f"The {k} nearest of {n_train:,} training images (a random subset shipped with the app) by "
        f"{neighbours.SPACES[space].lower()}; searched in {ms:.0f} ms. A distance of 0 would mean an exact copy. "
        "Nearest first: " + ", ".join(f"#{i} ({info.class_names[y]}, distance {d:.2f})" for y, d, i in each) + "."
    )
    return common.picture(found.images[0], captions, columns=NEAREST_COLUMNS), text


def copy_figure(dataset: str) -> tuple:
    """Histograms of nearest-training-image distances per family and for real test images."""
    m = _metrics(dataset)
    series, how = {}, m["real_data"]
    for name, r in [("real test images", m["real_data"]),
                    *((FAMILY_TITLES.get(f, f), r) for f, r in m["families"].items())]:  # fmt: skip
        h = r.get("nearest_train_pixel_l2_histogram")
        if h is None:
            continue
        edges, counts = np.array(h["edges"]), np.array(h["counts"], dtype=float)
        series[name] = ((edges[:-1] + edges[1:]) / 2, counts / max(counts.sum(), 1))
    if not series:
        raise gr.Error(
            f"no distance histograms in metrics.json yet: run python scripts/evaluate.py --dataset {dataset}"
        )
    image = plots.line_plot(series, "Distance to the nearest training image", "pixel L2 distance", "fraction of images")
    text = (
        f"{how['nearest_train_method']}; each family the same for {how['nearest_train_n']} of its class-conditional "
        "samples. Read from metrics.json, written by scripts/evaluate.py."
    )
    return image, text


def sweep_figure(dataset: str) -> tuple:
    """FID against network evaluations per image, one line per diffusion scheduler."""
    info = common.dataset_info(dataset)
    path = weights.weights_root() / dataset / "sweep.json"
    if not path.is_file():
        raise gr.Error(
            f"the speed-quality sweep has not been measured for {info.title}: "
            f"run python scripts/evaluate.py --dataset {dataset} --sweep"
        )
    s = json.loads(path.read_text())
    series = {}
    for p in s["points"]:
        xs, ys = series.setdefault(SCHEDULER_NAMES.get(p["scheduler"], p["scheduler"]), ([], []))
        xs.append(p["nfe"])
        ys.append(p["fid"])
    series[f"real data ({s['n']} images)"] = ([min(min(x) for x, _ in series.values()),
                                               max(max(x) for x, _ in series.values())], [s["floor_fid"]] * 2)  # fmt: skip
    image = plots.line_plot(series, "Diffusion: quality against cost", "network evaluations per image", "FID",
                            logx=True, logy=all(y > 0 for _, ys in series.values() for y in ys), markers=True)  # fmt: skip
    rows = "\n".join(
        f"| {p['scheduler']} | {p['steps']} | {p['nfe']} | {p['fid']:.1f} | {p['class_accuracy']:.1%} | {p['ms_per_image']:.0f} |"
        for p in s["points"]
    )
    hw = s.get("hardware", {})
    where = f" on {hw['cpu']} ({hw['cpu_cores']} cores)" if "cpu" in hw else ""
    own = common.own_setting(dataset, "diffusion", lambda m: m.guidance_scale, s["guidance_scale"])
    if own != s["guidance_scale"]:
        where += f" (the model samples at guidance {own:g} unless told; this sweep used {s['guidance_scale']:g})"
    if s.get("weights") not in (None, weights.fingerprint(dataset, "diffusion")):
        where += (
            " — **on an earlier version of the model**: its weights have changed since, so today's points may differ"
        )
    text = (
        f"**How:** {s['method']} Measured {s['measured']}{where} by `{s['command']}`\n\n"
        "| scheduler | steps | NFE | FID | class accuracy | ms / image |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + rows
    )
    return image, text


def _metrics(dataset: str) -> dict:
    info = common.dataset_info(dataset)
    path = weights.weights_root() / dataset / "metrics.json"
    if not path.is_file():
        raise gr.Error(f"no metrics measured for {info.title}: run python scripts/evaluate.py --dataset {dataset}")
    return json.loads(path.read_text())


def quality_table(dataset: str) -> tuple[pd.DataFrame, str]:
    """The measured quality of every family, read from weights/<dataset>/metrics.json."""
    m = _metrics(dataset)
    real = m["real_data"]
    rows = [["real data (floor)", real["fid"], 1.0, None, None, real["precision"], real["recall"], None,
             real["nearest_train_pixel_l2"]["median"], None, None, None]]  # fmt: skip
    for fam, f in m["families"].items():
        hist = np.array(f["unconditional_histogram"])
        rows.append([
            FAMILY_TITLES.get(fam, fam), f["fid"], f["fid_over_floor"], f.get("any", {}).get("fid"), f["class_accuracy"],
            f["precision"], f["recall"],
            f"{hist.min()}–{hist.max()} of {f['unconditional_n']}", f["nearest_train_pixel_l2"]["median"],
            f["ms_per_image"], f["nfe"], _training(dataset, fam),
        ])  # fmt: skip
    columns = ["", "FID", "× floor", 'FID of "any"', "class accuracy", "precision", "recall", "unconditional classes (min–max)",
               "nearest training image (median L2)", "ms / image", "NFE", "training"]  # fmt: skip
    df = pd.DataFrame(rows, columns=columns).round(3)
    fam0 = next(iter(m["families"].values()))
    method = (
        f"**How:** {fam0['n']} class-conditional samples per family ({fam0['samples']}), seed {fam0['seed']}; "
        + "; ".join(f"{FAMILY_TITLES.get(k, k)}: {v['sampler']}" for k, v in m["families"].items())
        + f". FID, precision and recall (k = {fam0['k']}, Kynkäänniemi et al. 2019) in the feature space of the "
        f"{m['feature_extractor']}. The floor is {real['method'].lower()}. Nearest training image: "
        f"{real['nearest_train_method'].lower()}; the real row is the same for real test images. Speed: "
        f'{fam0["ms_method"]}; CPU — {speed_machines(m)}. FID of "any": the same number of samples, each '
        "image's class drawn from the training set's class shares (what every tab opens with); empty where not "
        "measured yet. Training: wall-clock time of our own training "
        f"script, from each model's training/summary.json. {_when(m)} "
        "Classifier test accuracy: "
        f"{m['classifier']['test_accuracy']:.2%}. FID here is not comparable with published Inception FIDs: "
        "the feature extractor differs."
    )
    return df, method


def _training(dataset: str, family: str) -> str | None:
    """How long the shipped model trained, and on what (its training/summary.json)."""
    summary = weights.training_summary(dataset, family)
    return training_cost(summary) if summary else None


def _when(m: dict) -> str:
    """When and by which command each figure was measured (families may come from separate runs)."""
    return " ".join(
        f"Measured {when} by `{command}`: {', '.join(FAMILY_TITLES.get(w, w) for w in what)}."
        for when, command, what in provenance(m)
    )


def build(dataset: gr.Dropdown) -> dict:
    gr.Markdown(LESSON, elem_classes=["lesson"])
    cls, n, seed, _ = common.controls(dataset.value, n=8, max_n=16)
    go = gr.Button("Compare", variant="primary")
    with gr.Row():
        grids = [
            gr.Image(format=common.IMAGE_FORMAT, label=title, type="pil", interactive=False, elem_id=f"compare-{fam}")
            for fam, title in FAMILY_TITLES.items()
        ]
    cost = gr.Markdown()
    go.click(compare, [dataset, cls, n, seed], [*grids, cost], api_name="compare", **common.HEAVY)

    gr.Markdown("### One image, looked at closely")
    with gr.Row():
        with gr.Column(scale=1):
            probe = gr.Image(
                format=common.IMAGE_FORMAT,
                label="Click a generated image above, or upload one",
                type="numpy",
                height=224,
            )
            with gr.Row():
                k = gr.Slider(1, 16, value=6, step=1, label="Neighbours")
                space = gr.Radio(list(neighbours.SPACES), value="pixels", label="Distance in")
            inspect = gr.Button("Classify and find nearest training images")
        with gr.Column(scale=1):
            verdict = gr.Label(label="The classifier's verdict", num_top_classes=3)
        with gr.Column(scale=2):
            near = gr.Image(format=common.IMAGE_FORMAT, label="Nearest training images", type="pil", elem_id="nearest")
            near_text = gr.Markdown(elem_id="nearest-text")
    for g in grids:
        g.select(picked, [dataset, g, k, space], [probe, verdict, near, near_text], api_name=False)
    inspect.click(classify, [dataset, probe], verdict, api_name="classify")
    inspect.click(nearest_training, [dataset, probe, k, space], [near, near_text], api_name="nearest_training")

    gr.Markdown("### Quality, measured")
    table = gr.Dataframe(label="Measured by scripts/evaluate.py", interactive=False, wrap=True)
    method = gr.Markdown()
    gr.Markdown(COPY_LESSON, elem_classes=["lesson"])
    with gr.Row():
        copies = gr.Image(
            format=common.IMAGE_FORMAT, label="Nearest-training-image distances", show_label=False, height=300
        )
        copies_text = gr.Markdown()
    gr.Markdown(SWEEP_LESSON, elem_classes=["lesson"])
    with gr.Row():
        with gr.Column(scale=2):
            sweep = gr.Image(
                format=common.IMAGE_FORMAT, label="FID against network evaluations", show_label=False, height=300
            )
        with gr.Column(scale=3):
            sweep_text = gr.Markdown()
    return {
        "classes": [cls],
        "controls": {"class_name": cls, "n": n, "seed": seed},
        "opening": [(compare, [dataset, cls, n, seed], [*grids, cost])],
        "figures": [
            (quality_table, [dataset], [table, method]),
            (copy_figure, [dataset], [copies, copies_text]),
            (sweep_figure, [dataset], [sweep, sweep_text]),
        ],
    }


def picked(dataset: str, grid: Image.Image | None, k: float, space: str, evt: gr.SelectData) -> tuple:
    """The generated image a visitor clicked in a family's picture, classified and with its
    nearest training images, in one answer; a click on the padding between images changes nothing."""
    image = common.cell(dataset, grid, COMPARE_COLUMNS, captioned=True, xy=evt.index)
    if image is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return image, classify(dataset, image), *nearest_training(dataset, image, k, space)
