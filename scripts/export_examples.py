"""Ship a few real test images with the weights, for the app's "real image" inputs.

    python scripts/export_examples.py --dataset mnist --data-root data

Writes weights/<dataset>/examples.safetensors: the first `--per-class` test images of every
class (uint8) and their labels. The app needs no dataset download to show real images. And
weights/<dataset>/training_subset.safetensors: `--train-subset` training images drawn at random
(seed 0), the haystack in which the Compare tab looks for a generated image's nearest neighbours.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from playground import weights
from playground.data import DataError, get_info, load_tensors


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", default="data")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--train-subset", type=int, default=10_000, help="training images to ship (0: none)")
    p.add_argument("--out", help="default weights/<dataset>/examples.safetensors")
    p.add_argument("--train-out", help="default weights/<dataset>/training_subset.safetensors")
    args = p.parse_args(argv)
    info = get_info(args.dataset)
    try:
        x, y = load_tensors(args.dataset, args.data_root, train=False)
        train_x, train_y = load_tensors(args.dataset, args.data_root, train=True) if args.train_subset else (None, None)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keep = torch.cat([torch.nonzero(y == k).flatten()[: args.per_class] for k in range(info.num_classes)])
    keep = keep.sort().values  # test-set order, classes interleaved as in the data
    out = Path(args.out or weights.weights_root() / args.dataset / weights.EXAMPLES)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"images": to_uint8(x[keep]), "labels": y[keep].contiguous(), "test_index": keep.contiguous()}, out)
    print(f"wrote {len(keep)} {info.title} test images to {out}")
    if args.train_subset:
        pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[: args.train_subset]
        pick = pick.sort().values
        train_out = Path(args.train_out or out.parent / weights.TRAINING_SUBSET)
        tensors = {"images": to_uint8(train_x[pick]), "labels": train_y[pick].contiguous(), "train_index": pick}
        save_file(tensors, train_out)
        print(f"wrote {len(pick)} of the {len(train_x)} {info.title} training images to {train_out}")
    if out.resolve().is_relative_to(weights.weights_root().resolve()):
        weights.write_manifest()
    return 0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.uint8).contiguous()


if __name__ == "__main__":
    sys.exit(main())
