"""Ship a few real test images with the weights, for the app's "real image" inputs.

    python scripts/export_examples.py --dataset mnist --data-root data

Writes weights/<dataset>/examples.safetensors: the first `--per-class` test images of every
class (uint8) and their labels. The app needs no dataset download to show real images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playground import weights  # noqa: E402
from playground.data import DataError, get_info, load_tensors  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", default="data")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--out", help="default weights/<dataset>/examples.safetensors")
    args = p.parse_args(argv)
    info = get_info(args.dataset)
    try:
        x, y = load_tensors(args.dataset, args.data_root, train=False)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keep = torch.cat([torch.nonzero(y == k).flatten()[: args.per_class] for k in range(info.num_classes)])
    keep = keep.sort().values  # test-set order, classes interleaved as in the data
    out = Path(args.out or weights.weights_root() / args.dataset / weights.EXAMPLES)
    out.parent.mkdir(parents=True, exist_ok=True)
    images = (x[keep] * 255).round().to(torch.uint8).contiguous()
    save_file({"images": images, "labels": y[keep].contiguous(), "test_index": keep.contiguous()}, out)
    if out.resolve().is_relative_to(weights.weights_root().resolve()):
        weights.write_manifest()
    print(f"wrote {len(keep)} {info.title} test images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
