"""Failure modes on demand, measured: what the Train tab tells a visitor to try, with its figure.

    python scripts/failure_modes.py --dataset mnist --data-root data [--modes mode_collapse ...]

Trains small models with the project's training code (playground/training, in a temporary folder;
only the figures ship, in weights/<dataset>/failure_modes.json; --modes measures some of them
and keeps the others' figures):
- posterior collapse: the same VAE with beta 1 and with a large beta. Figures: the KL of the test
  images' codes (nats; about 0 means the codes carry nothing) and how clustered by class the
  latent map of those codes is (the share of each point's 5 nearest neighbours of its class);
- copying: the VAE trained on the first --few training images for as many steps as the whole-data
  one. Figure: the median pixel distance from each sample to its nearest image among those few,
  against the same for the whole-data model and for real test images (about 0: a copy);
- mode collapse: the Train tab's GAN, with and without its stabilisers, for --gan-steps steps on
  the tab's training images. Figures: the classifier's histogram of unconditional samples, its
  effective number of classes (the exponential of its entropy: 10 for an even spread, 1 for one
  class), and the samples' spread within a class (mean pixel distance between two samples of the
  same class) against real images';
- no guidance: the shipped diffusion model's class-conditional samples with its own guidance and
  with none (scale 1). Figures: class accuracy and FID against the test images.
Too few denoising steps is measured by evaluate.py --sweep (`sweep.json`), which the tab quotes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

import torch

from playground import weights
from playground.data import DataError, load_tensors
from playground.latent import LatentMap
from playground.live import DEFAULT_LR, Settings
from playground.metrics import fid_against, fid_score, hardware, nearest_distances
from playground.models import VAE
from playground.training import loop
from playground.training.vae import RECIPE

MODES = ("posterior_collapse", "copying", "mode_collapse", "no_guidance")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", default="data")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="the failures to measure")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the whole-data VAEs")
    p.add_argument("--beta", type=float, default=20.0, help="the large beta of posterior collapse")
    p.add_argument("--few", type=int, default=100, help="training images of the copying VAE")
    p.add_argument("--gan-steps", type=int, default=3000, help="steps of each GAN (the Train tab reaches about "
                   "this many in its budget)")  # fmt: skip
    p.add_argument("--n", type=int, default=1000, help="test images encoded, samples drawn")
    p.add_argument("--n-guidance", type=int, default=500, help="diffusion samples with and without guidance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="two batches per model, few samples (for tests)")
    p.add_argument("--weights", help="the weights folder (default: $PLAYGROUND_WEIGHTS or weights/)")
    return p.parse_args(argv)


def train(args, images, labels, folder: Path, steps: int | None = None, **config) -> VAE:
    return loop.train_and_load(folder, images, labels, dataset=args.dataset, family="vae", epochs=args.epochs,
                               seed=args.seed, config=RECIPE | config, steps=steps, dry_run=args.dry_run)  # fmt: skip


@torch.no_grad()
def codes(vae: VAE, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The KL of the test images' codes (no class given, as the latent map uses them) and the map's order."""
    mean, logvar = vae.encode_distribution(x, None)
    kl = (-0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(1)).mean().item()
    return {"kl_nats": kl, "map_neighbour_agreement": LatentMap.fit(mean, y).neighbour_agreement()}


def copying(vae: VAE, few: torch.Tensor, n: int, seed: int) -> float:
    """The median pixel distance from n samples to their nearest image among `few`."""
    samples = vae.sample(n, seed=seed, class_labels=torch.arange(n) % vae.num_classes)
    return torch.median(nearest_distances(samples.flatten(1), few.flatten(1))[0]).item()


def vae_failures(args, modes: list[str]) -> dict:
    """Posterior collapse and copying: VAEs trained on the whole training set and on a few images."""
    x, y = load_tensors(args.dataset, args.data_root, train=True)
    test_x, test_y = load_tensors(args.dataset, args.data_root, train=False)
    test_x, test_y = test_x[: args.n], test_y[: args.n]
    few_x, few_y = x[: args.few], y[: args.few]
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        normal = train(args, x, y, Path(tmp) / "normal")
        if "posterior_collapse" in modes:
            collapsed = train(args, x, y, Path(tmp) / "collapsed", beta=args.beta)
            found["posterior_collapse"] = {
                "beta": args.beta,
                "normal": codes(normal, test_x, test_y),
                "collapsed": codes(collapsed, test_x, test_y),
                "try": f"VAE, beta {args.beta:g}",
            }
        if "copying" in modes:
            whole_steps = args.epochs * (len(x) // 128) if not args.dry_run else None
            reps = max(1, 6400 // len(few_x))  # an "epoch" of the few, repeated: not one checkpoint per batch
            copier = train(args, few_x.repeat(reps, 1, 1, 1), few_y.repeat(reps), Path(tmp) / "few", steps=whole_steps)
            found["copying"] = {
                "few": args.few,
                "median_nearest_l2": {
                    "trained on the few": copying(copier, few_x, args.n, args.seed),
                    "trained on all": copying(normal, few_x, args.n, args.seed),
                    "real test images": torch.median(nearest_distances(test_x.flatten(1), few_x.flatten(1))[0]).item(),
                },
                "try": f"VAE, {args.few} training images",
            }
    for mode in found.values():
        mode |= {"epochs": args.epochs if not args.dry_run else 0, "recipe": RECIPE, "n": args.n}
    return found


def spread(images: torch.Tensor, labels: torch.Tensor, per_class: int = 50) -> float:
    """The mean pixel distance between two images of the same class, over the classes."""
    means = [torch.pdist(images[labels == k][:per_class].flatten(1)).mean() for k in labels.unique()]
    return torch.stack(means).mean().item()


@torch.no_grad()
def class_spread(model, classifier, n: int, seed: int) -> dict:
    """The classifier's histogram of n unconditional samples, and the spread within a class."""
    k = model.num_classes
    shares = torch.bincount(classifier.predict_proba(model.sample(n, seed=seed)).argmax(1), minlength=k) / n
    labels = torch.arange(50 * k) % k
    return {
        "unconditional_histogram": shares.tolist(),
        "effective_classes": torch.exp(-(shares[shares > 0] * shares[shares > 0].log()).sum()).item(),
        "within_class_spread": spread(model.sample(len(labels), seed=seed + 1, class_labels=labels), labels),
    }


def mode_collapse(args, classifier) -> dict:
    """The Train tab's GAN with and without its stabilisers, on the tab's own training images."""
    x, y, _ = weights.load_training_subset(args.dataset)
    steps = 2 if args.dry_run else args.gan_steps
    found = {"steps": steps, "n": args.n, "try": "GAN, stabilisers off", "real_within_class_spread": spread(x, y)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, on in (("stabilised", True), ("unstabilised", False)):
            s = Settings("gan", args.dataset, DEFAULT_LR["gan"], stabilisers=on).checked()
            gan = loop.train_and_load(Path(tmp) / name, x, y, steps=steps, seed=args.seed, **s.arguments())
            found[name] = class_spread(gan, classifier, args.n, args.seed) | {"arguments": s.arguments()}
    return {"mode_collapse": found}


def no_guidance(args, root: Path, classifier) -> dict:
    """The shipped diffusion model's class-conditional samples with its own guidance and with none."""
    test_x, _ = load_tensors(args.dataset, args.data_root, train=False)
    model = weights.load(args.dataset, "diffusion", root)
    n = 20 if args.dry_run else args.n_guidance
    labels = torch.arange(n) % model.num_classes
    fid = fid_against(classifier, test_x)
    found = {"n": n, "try": "Diffusion tab, guidance 1"}  # FIDs to compare with each other, at one count
    for name, w in (("guided", None), ("unguided", 1.0)):
        options = model.sampling_options(guidance_scale=w)
        x = torch.cat(
            [
                model.sample(len(b), seed=args.seed + i, class_labels=b, **options)
                for i, b in enumerate(labels.split(100))
            ]
        )
        found[name] = {
            "options": options,
            "class_accuracy": (classifier.predict_proba(x).argmax(1) == labels).float().mean().item(),
            "fid": fid_score(fid, x),
        }
    return {"no_guidance": found}


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python scripts/failure_modes.py " + " ".join(argv if argv is not None else sys.argv[1:])
    root = Path(args.weights) if args.weights else weights.weights_root()
    out = root / args.dataset / weights.FAILURE_MODES
    try:
        classifier = weights.load(args.dataset, "classifier", root)
        found = vae_failures(args, args.modes) if {"posterior_collapse", "copying"} & set(args.modes) else {}
        if "mode_collapse" in args.modes:
            found |= mode_collapse(args, classifier)
        if "no_guidance" in args.modes:
            found |= no_guidance(args, root, classifier)
    except (DataError, weights.WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    provenance = {
        "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "hardware": hardware(),
    }
    record = kept(out) | {mode: figures | provenance for mode, figures in found.items()}
    out.write_text(json.dumps({"dataset": args.dataset} | record, indent=2) + "\n")
    if (root / weights.MANIFEST).is_file():
        weights.write_manifest(root)
    print(json.dumps(found, indent=2))
    print(f"wrote {out}")
    return 0


def kept(out: Path) -> dict:
    """The failure modes already measured in `out`, each with its own provenance."""
    if not out.is_file():
        return {}
    old = json.loads(out.read_text())
    shared = {k: old[k] for k in ("measured", "command", "hardware", "epochs", "recipe", "n") if k in old}
    return {mode: shared | old[mode] for mode in MODES if mode in old}


if __name__ == "__main__":
    sys.exit(main())
