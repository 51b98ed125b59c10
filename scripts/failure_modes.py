"""Failure modes on demand, measured: what the Train tab tells a visitor to try, with its figure.

    python scripts/failure_modes.py --dataset mnist --data-root data

Trains small VAEs with the project's training code (playground/training, in a temporary folder;
only the figures ship, in weights/<dataset>/failure_modes.json):
- posterior collapse: the same VAE with beta 1 and with a large beta. Figures: the KL of the test
  images' codes (nats; about 0 means the codes carry nothing) and how clustered by class the
  latent map of those codes is (the share of each point's 5 nearest neighbours of its class);
- copying: the VAE trained on the first --few training images for as many steps as the whole-data
  one. Figure: the median pixel distance from each sample to its nearest image among those few,
  against the same for the whole-data model and for real test images (about 0: a copy).
The diffusion tab's own failure, too few steps or no guidance, is measured by evaluate.py
(`sweep.json`, `metrics.json`), which the tab quotes.
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
from playground.metrics import hardware, nearest_distances
from playground.models import VAE
from playground.training import loop
from playground.training.vae import RECIPE


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", default="data")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the whole-data VAEs")
    p.add_argument("--beta", type=float, default=20.0, help="the large beta of posterior collapse")
    p.add_argument("--few", type=int, default=100, help="training images of the copying VAE")
    p.add_argument("--n", type=int, default=1000, help="test images encoded, samples drawn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="two batches per model (for tests)")
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


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python scripts/failure_modes.py " + " ".join(argv if argv is not None else sys.argv[1:])
    root = Path(args.weights) if args.weights else weights.weights_root()
    try:
        x, y = load_tensors(args.dataset, args.data_root, train=True)
        test_x, test_y = load_tensors(args.dataset, args.data_root, train=False)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    test_x, test_y = test_x[: args.n], test_y[: args.n]
    few_x, few_y = x[: args.few], y[: args.few]
    with tempfile.TemporaryDirectory() as tmp:
        normal = train(args, x, y, Path(tmp) / "normal")
        collapsed = train(args, x, y, Path(tmp) / "collapsed", beta=args.beta)
        whole_steps = args.epochs * (len(x) // 128) if not args.dry_run else None
        reps = max(1, 6400 // len(few_x))  # an "epoch" of the few, repeated: not one checkpoint per batch
        copier = train(args, few_x.repeat(reps, 1, 1, 1), few_y.repeat(reps), Path(tmp) / "few", steps=whole_steps)
    real = torch.median(nearest_distances(test_x.flatten(1), few_x.flatten(1))[0]).item()
    record = {
        "dataset": args.dataset,
        "posterior_collapse": {
            "beta": args.beta,
            "normal": codes(normal, test_x, test_y),
            "collapsed": codes(collapsed, test_x, test_y),
            "try": f"VAE, beta {args.beta:g}",
        },
        "copying": {
            "few": args.few,
            "median_nearest_l2": {
                "trained on the few": copying(copier, few_x, args.n, args.seed),
                "trained on all": copying(normal, few_x, args.n, args.seed),
                "real test images": real,
            },
            "try": f"VAE, {args.few} training images",
        },
        "epochs": args.epochs if not args.dry_run else 0,
        "recipe": RECIPE,
        "n": args.n,
        "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "hardware": hardware(),
    }
    out = root / args.dataset / weights.FAILURE_MODES
    out.write_text(json.dumps(record, indent=2) + "\n")
    if (root / weights.MANIFEST).is_file():
        weights.write_manifest(root)
    print(json.dumps({k: record[k] for k in ("posterior_collapse", "copying")}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
