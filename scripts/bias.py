"""Bias from the data: the same model trained on balanced data and on data with one class cut down,
and how often each model's samples show that class.

    python scripts/bias.py --dataset mnist --data-root data --family vae --cut-class 7 --keep 0.02

Trains the family twice with the project's training code (playground/training, a temporary
folder; nothing is shipped but the figures): once on the whole training set, once with the images
of --cut-class cut to --keep of their number (the other classes whole). Then it draws --n samples
from each model in its unconditional mode (no class given: the distribution the model learned)
and --n "any" samples (each image's class drawn from that model's own training shares), reads each
sample's class with the shipped classifier, and writes weights/<dataset>/bias.json: the training
histograms, the sample histograms and how the cut class fared. The Train tab draws them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import tempfile
from pathlib import Path

import torch

from playground import weights
from playground.data import DataError, get_info, load_tensors
from playground.metrics import hardware
from playground.models import make_generator
from playground.training import loop
from playground.training.vae import RECIPE as VAE_RECIPE

RECIPE = {"vae": VAE_RECIPE}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", default="data")
    p.add_argument("--family", default="vae", choices=["gan", "vae", "diffusion"])
    p.add_argument("--cut-class", type=int, default=7)
    p.add_argument("--keep", type=float, default=0.02, help="share of the cut class's images kept")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--n", type=int, default=5000, help="samples per model and mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="two batches per model (for tests)")
    p.add_argument("--weights", help="the weights folder (default: $PLAYGROUND_WEIGHTS or weights/)")
    return p.parse_args(argv)


def cut(images: torch.Tensor, labels: torch.Tensor, k: int, keep: float, seed: int):
    """The training set with class k cut to `keep` of its images (a random choice), the rest whole."""
    mine = (labels == k).nonzero()[:, 0]
    g = torch.Generator().manual_seed(seed)
    kept = mine[torch.randperm(len(mine), generator=g)[: max(1, math.ceil(keep * len(mine)))]]
    index = torch.cat([(labels != k).nonzero()[:, 0], kept]).sort().values
    return images[index], labels[index]


def train(args, images: torch.Tensor, labels: torch.Tensor, folder: Path):
    return loop.train_and_load(folder, images, labels, dataset=args.dataset, family=args.family, epochs=args.epochs,
                               config=RECIPE.get(args.family, {}), seed=args.seed, dry_run=args.dry_run)  # fmt: skip


def histogram(classes: torch.Tensor, num_classes: int) -> list[int]:
    return torch.bincount(classes, minlength=num_classes).tolist()


def sample_classes(model, classifier, n: int, labels, seed: int, batch: int = 500) -> torch.Tensor:
    """The classifier's class of each of n samples (labels None: the unconditional mode)."""
    out = []
    for i, start in enumerate(range(0, n, batch)):
        m = min(batch, n - start)
        y = None if labels is None else labels[start : start + m]
        out.append(classifier.predict_proba(model.sample(m, seed=seed + i, class_labels=y)).argmax(1))
    return torch.cat(out)


def measure(args, model, classifier, train_labels: torch.Tensor, num_classes: int) -> dict:
    shares = torch.bincount(train_labels, minlength=num_classes).double()
    any_labels = torch.multinomial(shares / shares.sum(), args.n, replacement=True, generator=make_generator(args.seed))
    unconditional = sample_classes(model, classifier, args.n, None, args.seed)
    anyc = sample_classes(model, classifier, args.n, any_labels, args.seed + 10_000)
    return {
        "training": histogram(train_labels, num_classes),
        "unconditional": histogram(unconditional, num_classes),
        "any": histogram(anyc, num_classes),
        "any_class_accuracy_of_cut_class": (
            (anyc[any_labels == args.cut_class] == args.cut_class).float().mean().item()
            if (any_labels == args.cut_class).any()
            else None
        ),
    }


def verdict(balanced: dict, skewed: dict, k: int, n: int) -> str:
    """Whether the model trained on the cut data under-represents the class or drops it."""
    before, after = balanced["unconditional"][k] / n, skewed["unconditional"][k] / n
    train_share = skewed["training"][k] / sum(skewed["training"])
    if after < 0.002:
        return f"dropped: {after:.1%} of its unconditional samples (balanced model: {before:.1%})"
    return (
        f"under-represented: {after:.1%} of its unconditional samples against {before:.1%} for the balanced "
        f"model ({train_share:.1%} of its training images)"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python scripts/bias.py " + " ".join(argv if argv is not None else sys.argv[1:])
    info = get_info(args.dataset)
    root = Path(args.weights) if args.weights else weights.weights_root()
    try:
        images, labels = load_tensors(args.dataset, args.data_root, train=True)
        classifier = weights.load(args.dataset, "classifier", root)
    except (DataError, weights.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.cut_class < info.num_classes or not 0 < args.keep <= 1:
        print(f"error: --cut-class must be 0-{info.num_classes - 1} and --keep in (0, 1]", file=sys.stderr)
        return 2
    sets = {"balanced": (images, labels), "skewed": cut(images, labels, args.cut_class, args.keep, args.seed)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (x, y) in sets.items():
            model = train(args, x, y, Path(tmp) / name)
            results[name] = measure(args, model, classifier, y, info.num_classes)
            print(json.dumps({name: results[name]}), flush=True)
    out = root / args.dataset / weights.BIAS
    record = {
        "dataset": args.dataset,
        "family": args.family,
        "cut_class": args.cut_class,
        "cut_class_name": info.class_names[args.cut_class],
        "keep": args.keep,
        "epochs": args.epochs if not args.dry_run else 0,
        "n": args.n,
        "class_names": list(info.class_names),
        "models": results,
        "verdict": verdict(results["balanced"], results["skewed"], args.cut_class, args.n),
        "method": "each model's samples classified by weights/<dataset>/classifier; unconditional: no class "
        "given; any: each image's class drawn from that model's own training shares",
        "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "hardware": hardware(),
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    if out.resolve().is_relative_to(root.resolve()) and (root / weights.MANIFEST).is_file():
        weights.write_manifest(root)
    print(f"wrote {out}: {record['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
