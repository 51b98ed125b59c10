"""Write the README's table of measured numbers from weights/<dataset>/metrics.json.

    python scripts/metrics_table.py           # rewrite the table in README.md
    python scripts/metrics_table.py --check   # exit 1 if README.md is out of date

The numbers are never typed by hand: scripts/evaluate.py measures them, this script copies them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from playground import weights
from playground.data import DATASETS
from playground.metrics import provenance, speed_machines, training_cost

ROOT = Path(__file__).resolve().parent.parent

START, END = "<!-- metrics-table -->", "<!-- /metrics-table -->"


def any_fid(r: dict) -> str:
    """The FID of a family's "any class" samples and its ratio to the class-conditional FID."""
    a = r.get("any")
    return f"{a['fid']:.2f} ({a['fid_over_conditional']:.2f}×)" if a else "—"


def table(weights_root: Path) -> str:
    lines = []
    for name, info in DATASETS.items():
        path = weights_root / name / "metrics.json"
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        real = m["real_data"]
        lines += [
            f"**{info.title}** — classifier test accuracy {100 * m['classifier']['test_accuracy']:.2f} % "
            f"({m['classifier']['n']} test images); real-data FID floor {real['fid']:.2f} "
            f"({real['method']}). "
            + " ".join(
                f"Measured {when} with `{command}`: {', '.join(what)}." for when, command, what in provenance(m)
            ),
            "",
            '| family | FID (× floor) | FID of "any" (× conditional) | class accuracy | precision | recall '
            "| unconditional classes (min–max) | nearest-train L2 (median) | ms / image | NFE | parameters | size "
            "| training |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for fam, r in m["families"].items():
            hist = r["unconditional_histogram"]
            trained = weights.training_summary(name, fam, weights_root)
            lines.append(
                f"| {fam} | {r['fid']:.2f} ({r['fid_over_floor']:.2f}×) | {any_fid(r)} | {100 * r['class_accuracy']:.1f} % "
                f"| {r['precision']:.2f} | {r['recall']:.2f} | {min(hist)}–{max(hist)} of {r['unconditional_n']} "
                f"| {r['nearest_train_pixel_l2']['median']:.2f} (real: {real['nearest_train_pixel_l2']['median']:.2f}) "
                f"| {r['ms_per_image']:.1f} | {r['nfe']} | {r['parameters'] / 1e6:.2f} M | {r['bytes'] / 1e6:.1f} MB "
                f"| {training_cost(trained) if trained else '—'} |"
            )
        samplers = "; ".join(f"{fam}: {r['sampler']}" for fam, r in m["families"].items())
        fam0 = next(iter(m["families"].values()), None)
        if fam0:
            lines += [
                "",
                f"{fam0['n']} class-conditional samples per family ({fam0['samples']}), seed {fam0['seed']}; "
                f"samplers — {samplers}. FID, precision and recall (k = {fam0['k']}) in the feature space of "
                f"the {m['feature_extractor']}. Unconditional classes: how the classifier labels each family's "
                "unconditional samples (no class given). \"Any\": each image's class drawn from the training set's "
                "class shares, then sampled as that class (what the app opens with), the same number of samples; "
                f"— where not measured yet. Speed: {fam0['ms_method']}; CPU — {speed_machines(m)}. Training: "
                "wall-clock time of scripts/train.py, from each model's training/summary.json.",
                "",
            ]
    return "\n".join(lines).strip() or "No model has been measured yet: run `python scripts/evaluate.py`."


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true")
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--weights", default=str(ROOT / "weights"))
    args = p.parse_args(argv)
    readme = Path(args.readme)
    text = readme.read_text()
    new = re.sub(
        rf"{re.escape(START)}.*?{re.escape(END)}",
        lambda _: f"{START}\n{table(Path(args.weights))}\n{END}",
        text,
        flags=re.S,
    )
    if args.check:
        if new != text:
            print("README.md's metrics table is out of date: run python scripts/metrics_table.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
