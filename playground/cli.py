"""The command line: `python -m playground sample ...` and `python -m playground info`.

Bad input gets one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from playground import weights
from playground.data import DATASETS, UNCONDITIONAL, DataError, draw_classes, get_info, parse_label
from playground.images import grid, to_uint8
from playground.limits import MAX_CLI_IMAGES, MAX_SEED
from playground.models import FAMILIES
from playground.models.diffusion import SCHEDULER_NAMES

OPTION_FLAGS = {"num_inference_steps": "steps", "scheduler": "scheduler", "guidance_scale": "guidance-scale",
                "truncation": "truncation"}  # fmt: skip


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m playground", description="Sample the playground's generative models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("sample", help="generate images to a .npz or .png file")
    s.add_argument("--dataset", required=True, help=f"one of: {', '.join(DATASETS)}")
    s.add_argument("--family", required=True, help=f"one of: {', '.join(FAMILIES)}")
    s.add_argument("--n", type=int, default=16, help=f"number of images, 1-{MAX_CLI_IMAGES}")
    s.add_argument(
        "--label",
        default=None,
        help="class index or name; omit (or 'any') for any class, each drawn as often as in the training data; "
        "'unconditional' for the model's no-class mode",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--steps", type=int, help="diffusion sampler steps (default: the model's own)")
    s.add_argument(
        "--scheduler",
        help=f"diffusion sampler: {', '.join(SCHEDULER_NAMES)} (default: the model's own; "
        "distilled: the model's distilled student, at its own steps and guidance)",
    )
    s.add_argument("--guidance-scale", type=float, help="diffusion classifier-free guidance (default: the model's own)")
    s.add_argument("--truncation", type=float, help="GAN truncation ψ, in (0, 1] (default: the model's own)")
    s.add_argument("--out", required=True, help="FILE.npz (images, labels) or FILE.png (a grid)")
    i = sub.add_parser("info", help="list the installed weights")
    i.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def sample(args: argparse.Namespace) -> int:
    info = get_info(args.dataset)
    if args.family not in FAMILIES:
        raise UsageError(f"unknown family {args.family!r}; choose one of {', '.join(FAMILIES)}")
    unconditional = (args.label or "").strip().lower() == UNCONDITIONAL
    label = None if unconditional else parse_label(info, args.label)
    if not 1 <= args.n <= MAX_CLI_IMAGES:
        raise UsageError(f"--n must be from 1 to {MAX_CLI_IMAGES}, not {args.n}")
    out = Path(args.out)
    if out.suffix not in (".npz", ".png"):
        raise UsageError(f"--out must end in .npz or .png, not {out.name!r}")
    given = {"num_inference_steps": args.steps, "scheduler": args.scheduler, "guidance_scale": args.guidance_scale,
             "truncation": args.truncation}  # fmt: skip
    given = {k: v for k, v in given.items() if v is not None}
    foreign = sorted(set(given) - set(FAMILIES[args.family].SAMPLING_OPTIONS))
    if foreign:
        raise UsageError(f"--{OPTION_FLAGS[foreign[0]]} does not apply to the {args.family}")
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be from 0 to {MAX_SEED}, not {args.seed}")
    if label is None and not unconditional:  # any class: p(x) = Σ p(y) p(x | y)
        label = draw_classes(info, args.n, args.seed)
    model = weights.load(args.dataset, args.family)
    for option, value in given.items():  # the model checks each value; the message names the flag
        try:
            model.sampling_options(**{option: value})
        except ValueError as exc:
            raise UsageError(f"--{OPTION_FLAGS[option]}: {exc}") from None
    kw = model.sampling_options(**given)
    t0 = time.perf_counter()
    images = model.sample(args.n, seed=args.seed, class_labels=label, **kw)
    ms = (time.perf_counter() - t0) * 1000
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        labels = np.full(args.n, -1, dtype=np.int64) if label is None else np.broadcast_to(np.asarray(label), args.n)
        np.savez_compressed(out, images=to_uint8(images), labels=labels)
    else:
        grid(images, nrow=min(args.n, 10)).save(out)
    cost = model.cost(class_labels=label, **kw)
    print(f"wrote {args.n} {info.title} {args.family} images to {out} in {ms:.0f} ms ({cost.describe()})")
    return 0


def info_command(args: argparse.Namespace) -> int:
    root = weights.weights_root()
    rows = []
    for dataset, kinds in weights.available(root).items():
        metrics_path = root / dataset / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        for kind in kinds:
            d = weights.model_dir(dataset, kind, root)
            size = sum(p.stat().st_size for p in d.rglob("*.safetensors"))
            try:
                model = weights.load(dataset, kind, root)
                params = sum(p.numel() for p in model.parameters())
                status = "ok"
            except weights.WeightsError as exc:
                params, status = None, str(exc)
            rows.append(
                {
                    "dataset": dataset,
                    "model": kind,
                    "parameters": params,
                    "bytes": size,
                    "status": status,
                    "metrics": metrics.get("families", {}).get(kind),
                }
            )
    if args.json:
        print(json.dumps({"weights": str(root), "models": rows}, indent=2))
        return 0
    if not rows:
        print(f"no weights installed under {root}; train some with scripts/train.py")
        return 0
    print(f"weights under {root}")
    print(f"{'dataset':<9} {'model':<11} {'parameters':>11} {'size':>9}  status / metrics")
    for r in rows:
        params = f"{r['parameters'] / 1e6:.2f} M" if r["parameters"] else "-"
        extra = (
            r["status"]
            if r["status"] != "ok"
            else (json.dumps(r["metrics"]) if r["metrics"] else "ok (no metrics yet)")
        )
        print(f"{r['dataset']:<9} {r['model']:<11} {params:>11} {r['bytes'] / 1e6:>7.2f} MB  {extra}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return sample(args) if args.command == "sample" else info_command(args)
    except (UsageError, DataError, weights.WeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
