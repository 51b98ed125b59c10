"""Train one model of the playground: a GAN, a VAE, a diffusion model or the classifier.

    python scripts/train.py --dataset mnist --family diffusion --data-root data --epochs 20
    accelerate launch scripts/train.py --dataset fashion --family gan ...   # GPUs, many of them

Hugging Face Accelerate runs the same loop on one CPU or on many GPUs. Every epoch it writes
a checkpoint (resume with --resume), one line per epoch (and every --log-every steps) to
<out>/training/log.jsonl and a fixed-noise sample grid to <out>/training/epoch_NNN.png. At the
end the model goes to <out> with save_pretrained, and <out>/training/summary.json records the
wall-clock time and the hardware. --init-from trains an earlier model on (its summary and
training folder are kept, and the wall-clock times add up). summary.json also records the
recipe, every argument that decides what is trained, seed included, and the git commit:

    python scripts/train.py --recipe weights/mnist/gan/training/summary.json   # retrain a shipped model

The loop and each family's training step live in playground/training/.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from playground import weights
from playground.data import DataError, load_tensors
from playground.models import REGISTRY
from playground.training import loop, trainer_class
from playground.training.arguments import parse_args


def refit(args: argparse.Namespace, images: torch.Tensor, labels: torch.Tensor) -> int:
    """--refit: no training, refit what the model in --out estimates from data."""
    if not hasattr(trainer_class(args.family), "refit"):
        print("error: --refit is for the VAE and the GAN", file=sys.stderr)
        return 2
    model = REGISTRY[args.family].model.from_pretrained(args.out)
    what, note = trainer_class(args.family).refit(model, images, labels, args.seed)
    weights.save_refitted(model, args.out, note)
    print(f"refitted {what} in {args.out}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        images, labels = load_tensors(args.dataset, args.data_root, train=True)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    if args.refit:
        return refit(args, images, labels)
    initial = None
    if args.init_from:
        if json.loads(args.config):
            print("error: --init-from trains the model's own config; leave out --config", file=sys.stderr)
            return 2
        try:
            initial = REGISTRY[args.family].model.from_pretrained(args.init_from)
        except Exception as exc:  # missing folder, damaged files: say which
            print(f"error: could not load a {args.family} from {args.init_from}: {exc}", file=sys.stderr)
            return 2
    print(loop.run(args, images, labels, initial))
    return 0


if __name__ == "__main__":
    sys.exit(main())
