"""Measure every installed family on one dataset and write weights/<dataset>/metrics.json.

    python scripts/evaluate.py --dataset mnist --data-root data
    python scripts/evaluate.py --dataset mnist --data-root data --sweep   # diffusion: FID against steps

Each figure is stored with how it was measured: sample count, seed, sampler and steps, and the
feature extractor (the project's classifier; see playground/metrics.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

from playground import weights
from playground.data import DataError, DatasetInfo, draw_classes, get_info, load_tensors
from playground.images import quantize
from playground.metrics import fid_against, fid_score, hardware, histogram, nearest_distances, precision_recall, summary
from playground.models import FAMILIES
from playground.models.kernels import PRECISIONS, Kernels


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", default="data")
    p.add_argument("--families", nargs="+", default=list(FAMILIES))
    p.add_argument("--n", type=int, default=5000, help="class-conditional samples per family (FID, accuracy)")
    p.add_argument("--n-uncond", type=int, default=1000, help="unconditional samples per family (class histogram)")
    p.add_argument(
        "--n-any",
        type=int,
        default=5000,
        help="'any class' samples per family, each class drawn from the training set's shares (FID, precision, "
        "recall); 0 skips them",
    )
    p.add_argument("--n-nearest", type=int, default=1000, help="samples compared with the whole training set")
    p.add_argument("--k", type=int, default=3, help="neighbours for precision and recall")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--steps", type=int, help="diffusion sampler steps (default: the model's own)")
    p.add_argument("--scheduler", help="diffusion sampler (default: the model's own)")
    p.add_argument("--guidance-scale", type=float, help="diffusion guidance (default: the model's own)")
    p.add_argument("--truncation", type=float, help="GAN truncation ψ (default: the model's own)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="diffusion: the UNet's arithmetic, fp32 or bfloat16 autocast (what the app runs where the CPU has "
        "native bf16 and it is faster: playground/models/kernels.py)",
    )
    p.add_argument("--weights", help="the weights folder (default: $PLAYGROUND_WEIGHTS or weights/)")
    p.add_argument("--out", help="default <weights>/<dataset>/metrics.json (--sweep: sweep.json)")
    p.add_argument("--sweep", action="store_true", help="diffusion only: FID and accuracy per scheduler and step count")
    p.add_argument("--sweep-n", type=int, default=1000, help="class-conditional samples per point of the sweep")
    p.add_argument(
        "--sweep-steps",
        type=json.loads,
        default=SWEEP_STEPS,
        help="JSON {scheduler: [steps, ...]} (default %(default)s)",
    )
    return p.parse_args(argv)


SWEEP_STEPS = {"ddpm": [10, 25, 50, 100, 250, 1000], "ddim": [10, 25, 50, 100, 250], "dpm++": [5, 10, 25, 50]}


def set_precision(model, precision: str) -> None:
    """Run a diffusion UNet in `precision` (contiguous memory: the layout does not change the
    arithmetic), its distilled student too. GAN and VAE always run fp32."""
    for m in (model, getattr(model, "student", None)):
        if hasattr(m, "kernels"):
            m.kernels = Kernels(precision)


def sample_many(model, n: int, labels: torch.Tensor | None, seed: int, batch_size: int, **kw) -> torch.Tensor:
    """n samples in batches; batch i uses seed + i, so every run draws the same images. They are
    rounded to 8 bits, as the app shows and `sample` saves them: the real images they are compared
    with are 8-bit too. (Measured as floats, the shipped Fashion-MNIST diffusion model's faint
    background noise, which rounding removes, cost it 0.15 FID at 1000 samples.)"""
    out = []
    for i, start in enumerate(range(0, n, batch_size)):
        m = min(batch_size, n - start)
        y = None if labels is None else labels[start : start + m]
        out.append(model.sample(m, seed=seed + i, class_labels=y, **kw).cpu())
    return quantize(torch.cat(out))


class Bench(NamedTuple):
    """What every family is measured against: the real images, their features and the FID's real set."""

    args: argparse.Namespace
    info: DatasetInfo
    classifier: object
    train_x: torch.Tensor
    feats: dict[str, torch.Tensor]
    fid: object
    labels: torch.Tensor  # the class-conditional samples' classes, n // classes of each


def real_data(b: Bench, test_x: torch.Tensor, g: torch.Generator) -> dict:
    """The floor: real images against real images."""
    args = b.args
    subset = torch.randperm(len(b.train_x), generator=g)[: args.n]
    real_nn, _ = nearest_distances(test_x[: args.n_nearest].flatten(1), b.train_x.flatten(1))
    p, r = precision_recall(b.feats["test"][: args.n], b.feats["train"][subset], args.k)
    return {
        "fid": fid_score(b.fid, b.train_x[subset]),
        "n": args.n,
        "method": f"{args.n} random training images against the test set: the best a generator could score",
        "precision": p,
        "recall": r,
        "nearest_train_pixel_l2": summary(real_nn),
        "nearest_train_pixel_l2_histogram": histogram(real_nn),
        "nearest_train_n": args.n_nearest,
        "nearest_train_method": "Euclidean distance in pixel space ([0, 1] pixels) from each of the first "
        f"{args.n_nearest} test images to its nearest training image",
    }


def any_figures(b: Bench, model, kw: dict, conditional_fid: float) -> dict:
    """The mode every tab opens with: p(x) = Σ p(y) p(x | y), each class drawn as often as in training."""
    args = b.args
    if not args.n_any:
        return {}
    any_labels = draw_classes(b.info, args.n_any, args.seed)
    anyc = sample_many(model, args.n_any, any_labels, args.seed + 20_000, args.batch_size, **kw)
    f_any = fid_score(b.fid, anyc)
    p_any, r_any = precision_recall(b.feats["test"][: args.n_any], b.classifier.features(anyc), args.k)
    return {
        "any": {
            "fid": f_any,
            "fid_over_conditional": f_any / conditional_fid,
            "precision": p_any,
            "recall": r_any,
            "class_accuracy": (b.classifier.predict_proba(anyc).argmax(1) == any_labels).float().mean().item(),
            "n": args.n_any,
            "samples": "each image's class drawn from the training set's class shares, then sampled as that "
            "class; rounded to 8 bits",
        }
    }


def ms_per_image(b: Bench, model, kw: dict) -> float:
    """Speed: one batch of 64, after a warm-up, at the app's settings."""
    model.sample(4, seed=1, class_labels=0, **kw)
    t0 = time.perf_counter()
    model.sample(64, seed=2, class_labels=torch.arange(64) % b.info.num_classes, **kw)
    return (time.perf_counter() - t0) * 1000 / 64


def measure(b: Bench, family: str, model, root: Path, results: dict) -> dict:
    """Every figure of one family, each with how it was measured."""
    args, info, labels = b.args, b.info, b.labels
    given = {"truncation": args.truncation, "scheduler": args.scheduler, "num_inference_steps": args.steps,
             "guidance_scale": args.guidance_scale}  # fmt: skip
    kw = model.sampling_options(**{k: given[k] for k in model.SAMPLING_OPTIONS if given[k] is not None})
    t0 = time.time()
    fake = sample_many(model, args.n, labels, args.seed, args.batch_size, **kw)
    uncond = sample_many(model, args.n_uncond, None, args.seed + 10_000, args.batch_size, **kw)
    f = fid_score(b.fid, fake)
    extra = any_figures(b, model, kw, f)
    sampling_s = time.time() - t0
    pred = b.classifier.predict_proba(fake).argmax(1)
    pred_u = b.classifier.predict_proba(uncond).argmax(1)
    p, r = precision_recall(b.feats["test"][: args.n], b.classifier.features(fake), args.k)
    nn_d, _ = nearest_distances(fake[: args.n_nearest].flatten(1), b.train_x.flatten(1))
    cost = model.cost(class_labels=0, **kw)
    return {
        "fid": f,
        "fid_over_floor": f / results["real_data"]["fid"],
        "n": args.n,
        "seed": args.seed,
        "sampler": model.describe_sampling(**kw),
        "samples": f"{args.n // info.num_classes} class-conditional samples per class, rounded to 8 bits",
        "class_accuracy": (pred == labels).float().mean().item(),
        "class_accuracy_n": args.n,
        "per_class_accuracy": [(pred[labels == k] == k).float().mean().item() for k in range(info.num_classes)],
        "unconditional_histogram": torch.bincount(pred_u, minlength=info.num_classes).tolist(),
        "unconditional_n": args.n_uncond,
        **extra,
        "precision": p,
        "recall": r,
        "k": args.k,
        "nearest_train_pixel_l2": summary(nn_d),
        "nearest_train_pixel_l2_histogram": histogram(nn_d),
        "nearest_train_n": args.n_nearest,
        "ms_per_image": ms_per_image(b, model, kw),
        "ms_method": "one batch of 64 class-conditional images after a warm-up",
        "hardware": results["hardware"],
        "nfe": cost.nfe,
        "arithmetic": cost.precision,
        "parameters": cost.parameters,
        "bytes": sum(p.stat().st_size for p in weights.model_dir(args.dataset, family, root).rglob("*.safetensors")),
        "sampling_s": round(sampling_s, 1),
        "weights": weights.fingerprint(args.dataset, family, root),
        "measured": results["measured"],
        "command": results["command"],
    }


def kept_families(out: Path, args, floor_fid: float) -> dict:
    """Families not measured in this run keep their earlier figures (each one says when and how it
    was measured), unless the floor they were compared with has changed."""
    if not out.is_file():
        return {}
    old = json.loads(out.read_text())
    if not math.isclose(old.get("real_data", {}).get("fid", -1), floor_fid, rel_tol=1e-4):
        return {}
    kept = {k: v for k, v in old.get("families", {}).items() if k not in args.families}
    for v in kept.values():  # files from before families kept their own
        v.setdefault("hardware", old["hardware"])
    return kept


def main(argv=None) -> int:
    args = parse_args(argv)
    args.command = "python scripts/evaluate.py " + " ".join(argv if argv is not None else sys.argv[1:])
    info = get_info(args.dataset)
    root = Path(args.weights) if args.weights else weights.weights_root()
    t_start = time.time()
    try:
        train_x, _ = load_tensors(args.dataset, args.data_root, train=True)
        test_x, test_y = load_tensors(args.dataset, args.data_root, train=False)
        classifier = weights.load(args.dataset, "classifier", root)
    except (DataError, weights.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.sweep:
        return sweep(args, root, classifier, train_x, test_x)
    g = torch.Generator().manual_seed(args.seed)
    feats = {"test": classifier.features(test_x), "train": classifier.features(train_x)}
    labels = torch.arange(info.num_classes).repeat(args.n // info.num_classes + 1)[: args.n]
    b = Bench(args, info, classifier, train_x, feats, fid_against(classifier, test_x), labels)
    results = {
        **run_fields(args),
        "feature_extractor": f"penultimate layer ({classifier.config.feature_dim}-d) of weights/{args.dataset}/"
        f"classifier; real set: the {len(test_x)} test images",
        "classifier": {
            "test_accuracy": (classifier.predict_proba(test_x).argmax(1) == test_y).float().mean().item(),
            "n": len(test_x),
        },
    }
    results["real_data"] = real_data(b, test_x, g)
    print(json.dumps({"real_data": results["real_data"]["fid"]}), flush=True)
    out = Path(args.out or root / args.dataset / "metrics.json")
    results["families"] = kept_families(out, args, results["real_data"]["fid"])
    for family in args.families:
        try:
            model = weights.load(args.dataset, family, root)
        except weights.WeightsError as exc:
            print(f"skipping {family}: {exc}", file=sys.stderr)
            continue
        set_precision(model, args.precision)
        figures = results["families"][family] = measure(b, family, model, root, results)
        shown = {k: figures[k] for k in ("fid", "class_accuracy", "precision", "recall")}
        print(json.dumps({family: shown | {"fid_any": figures.get("any", {}).get("fid")}}), flush=True)
    results["families"] = {f: results["families"][f] for f in FAMILIES if f in results["families"]}
    results["elapsed_s"] = round(time.time() - t_start, 1)
    out.write_text(json.dumps(results, indent=2) + "\n")
    update_manifest(out)
    print(f"wrote {out}")
    return 0


def run_fields(args) -> dict:
    """What every result file says of the run that wrote it."""
    return {
        "dataset": args.dataset,
        "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": args.command,
        "hardware": hardware(),
    }


def update_manifest(out: Path) -> None:
    """Keep the sha256 manifest whole when <weights>/<dataset>/<file> changes."""
    root = out.resolve().parent.parent
    if (root / weights.MANIFEST).is_file():
        weights.write_manifest(root)


def sweep(args, root: Path, classifier, train_x: torch.Tensor, test_x: torch.Tensor) -> int:
    """Speed against quality for diffusion: the same class-conditional noise through every
    scheduler at every step count, FID (and class accuracy) for each; the real-data floor at the
    same sample count beside them, since FID from fewer samples reads higher."""
    info = get_info(args.dataset)
    try:
        model = weights.load(args.dataset, "diffusion", root)
    except weights.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    set_precision(model, args.precision)
    t_start = time.time()
    fid = fid_against(classifier, test_x)
    n = args.sweep_n
    w = model.own_sampler(guidance_scale=args.guidance_scale)[2]
    subset = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(args.seed))[:n]
    labels = torch.arange(info.num_classes).repeat(n // info.num_classes + 1)[:n]
    results = {
        **run_fields(args),
        "n": n,
        "seed": args.seed,
        "guidance_scale": w,
        "arithmetic": model.kernels.precision,
        "weights": weights.fingerprint(args.dataset, "diffusion", root),
        "method": (
            f"{n} class-conditional samples ({n // info.num_classes} per class), seed {args.seed}, guidance scale "
            f"{w:g}; FID against the {len(test_x)} test images in the feature space of the "
            f"classifier's penultimate layer. FID from {n} samples reads higher than from more; compare the points "
            "with each other and with the floor measured at the same count, not with metrics.json."
        ),
        "floor_fid": fid_score(fid, train_x[subset]),
        "points": [],
    }
    print(json.dumps({"floor": results["floor_fid"]}), flush=True)
    for scheduler, steps_list in args.sweep_steps.items():
        for steps in steps_list:
            t0 = time.time()
            fake = sample_many(model, n, labels, args.seed, args.batch_size, num_inference_steps=steps,
                               scheduler=scheduler, guidance_scale=w)  # fmt: skip
            seconds = time.time() - t0
            pred = classifier.predict_proba(fake).argmax(1)
            point = {
                "scheduler": scheduler,
                "steps": steps,
                "nfe": model.cost(
                    class_labels=0, num_inference_steps=steps, scheduler=scheduler, guidance_scale=w
                ).nfe,  # fmt: skip
                "fid": fid_score(fid, fake),
                "class_accuracy": (pred == labels).float().mean().item(),
                "ms_per_image": seconds * 1000 / n,
            }
            results["points"].append(point)
            print(json.dumps(point), flush=True)
            results["elapsed_s"] = round(time.time() - t_start, 1)
            out = Path(args.out or root / args.dataset / "sweep.json")
            out.write_text(json.dumps(results, indent=2) + "\n")  # after every point: a long run keeps what it has
            update_manifest(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
