"""The Compare tab: the three families side by side, with the numbers that tell them apart."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pandas as pd

from playground import weights
from playground.models import FAMILY_TITLES
from playground.models.diffusion import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_STEPS
from playground.ui import common

LESSON = """### Side by side, measured the same way
One seed and one class through all three families, with what each image cost. Below, the
quality of each family measured by `scripts/evaluate.py` on thousands of samples, in the
feature space of our own classifier — the discriminative model that only tells classes apart,
which here judges the generative ones."""

SAMPLE_KW = {
    "diffusion": {
        "num_inference_steps": DEFAULT_STEPS,
        "scheduler": DEFAULT_SCHEDULER,
        "guidance_scale": DEFAULT_GUIDANCE,
    }
}


def compare(dataset: str, class_name: str, n: float, seed: float) -> tuple[list, list, list, str]:
    """One seed and class through every family: a grid each, and what it cost."""
    r = common.request(dataset, class_name, n, seed)
    if r.n > 16:
        raise gr.Error("number of images must be at most 16 here (diffusion makes each with 100 network passes)")
    out, lines = [], []
    for fam, title in FAMILY_TITLES.items():
        model = common.load(dataset, fam)
        kw = SAMPLE_KW.get(fam, {})
        images, ms = common.timed(model.sample, r.n, seed=r.seed, class_labels=r.label, **kw)
        cost = model.cost(class_labels=r.label, **kw)
        size = sum(p.stat().st_size for p in weights.model_dir(dataset, fam).rglob("*.safetensors"))
        out.append(common.pil_list(images))
        lines.append(
            f"| {title} | {ms:.0f} ms | {ms / r.n:.1f} ms | {cost.nfe} | {cost.parameters / 1e6:.2f} M | {size / 1e6:.1f} MB |"
        )
    table = (
        f"Measured now, on this machine ({common.class_caption(r.info, r.label)}, seed {r.seed}):\n\n"
        "| family | these images | per image | network evaluations per image | parameters | on disk |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(lines)
    )
    return out[0], out[1], out[2], table


def quality_table(dataset: str) -> tuple[pd.DataFrame, str]:
    """The measured quality of every family, read from weights/<dataset>/metrics.json."""
    info = common.dataset_info(dataset)
    path = weights.weights_root() / dataset / "metrics.json"
    if not path.is_file():
        raise gr.Error(f"no metrics measured for {info.title}: run python scripts/evaluate.py --dataset {dataset}")
    m = json.loads(path.read_text())
    real = m["real_data"]
    rows = [["real data (floor)", real["fid"], 1.0, None, real["precision"], real["recall"], None,
             real["nearest_train_pixel_l2"]["median"], None, None]]  # fmt: skip
    for fam, f in m["families"].items():
        hist = np.array(f["unconditional_histogram"])
        rows.append([
            FAMILY_TITLES.get(fam, fam), f["fid"], f["fid_over_floor"], f["class_accuracy"], f["precision"], f["recall"],
            f"{hist.min()}–{hist.max()} of {f['unconditional_n']}", f["nearest_train_pixel_l2"]["median"],
            f["ms_per_image"], f["nfe"],
        ])  # fmt: skip
    columns = ["", "FID", "× floor", "class accuracy", "precision", "recall", "unconditional classes (min–max)",
               "nearest training image (median L2)", "ms / image", "NFE"]  # fmt: skip
    df = pd.DataFrame(rows, columns=columns).round(3)
    fam0 = next(iter(m["families"].values()))
    method = (
        f"**How:** {fam0['n']} class-conditional samples per family ({fam0['samples']}), seed {fam0['seed']}; "
        + "; ".join(f"{FAMILY_TITLES.get(k, k)}: {v['sampler']}" for k, v in m["families"].items())
        + f". FID, precision and recall (k = {fam0['k']}, Kynkäänniemi et al. 2019) in the feature space of the "
        f"{m['feature_extractor']}. The floor is {real['method'].lower()}. Nearest training image: "
        f"{real['nearest_train_method'].lower()}; the real row is the same for real test images. Speed: "
        f"{fam0['ms_method']}. Measured {m['measured']} by `{m['command']}`. Classifier test accuracy: "
        f"{m['classifier']['test_accuracy']:.2%}. FID here is not comparable with published Inception FIDs: "
        "the feature extractor differs."
    )
    return df, method


def build(dataset: gr.Dropdown) -> dict:
    gr.Markdown(LESSON)
    cls, n, seed, _ = common.controls(dataset.value, n=8, max_n=16)
    go = gr.Button("Compare", variant="primary")
    with gr.Row():
        grids = [
            gr.Gallery(label=title, columns=4, height="auto", object_fit="contain") for title in FAMILY_TITLES.values()
        ]
    cost = gr.Markdown()
    go.click(compare, [dataset, cls, n, seed], [*grids, cost], api_name="compare")
    gr.Markdown("### Quality, measured")
    table = gr.Dataframe(label="Measured by scripts/evaluate.py", interactive=False, wrap=True)
    method = gr.Markdown()
    return {"classes": [cls], "quality": (quality_table, [dataset], [table, method])}
