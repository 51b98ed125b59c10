"""How fast the app answers: time each handler as a click would call it, on the shipped weights.

    python scripts/bench.py --dataset mnist --repeat 5

Prints the median and worst milliseconds per action, and for diffusion the time to the first
streamed frame. A latent-map click is timed as the app runs it: the clicked pixel to map
coordinates, the decode, and the map redrawn with the point marked. Machines are shared and
noisy: compare figures from one run, not across runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from types import SimpleNamespace  # noqa: E402

from playground import weights  # noqa: E402
from playground.images import to_pil  # noqa: E402
from playground.ui import compare_tab, diffusion_tab, gan_tab, latent_tab, vae_tab  # noqa: E402


def clock(fn, *args) -> float:
    t0 = time.perf_counter()
    out = fn(*args)
    if hasattr(out, "__next__"):
        for _ in out:
            pass
    return (time.perf_counter() - t0) * 1000


def first_frame(fn, *args) -> float:
    t0 = time.perf_counter()
    next(fn(*args))
    return (time.perf_counter() - t0) * 1000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    d = args.dataset
    default = diffusion_tab.default_sampler(d)  # the Diffusion tab's settings when it opens
    guidance = default[2]
    actions = {
        "gan_sample (16 images)": (clock, gan_tab.gan_sample, d, "any", 16, 0),
        "gan_discriminate (16 + 16 images)": (clock, gan_tab.gan_discriminate, d, "any", 16, 0),
        "gan_timeline": (clock, gan_tab.gan_timeline, d, 1),
        "vae_sample (16 images)": (clock, vae_tab.vae_sample, d, "3", 16, 0),
        "vae_reconstruct (8 draws)": (clock, vae_tab.vae_reconstruct, d, "test image", None, 0, 8, 0),
        "vae_traverse (9 stops)": (clock, vae_tab.vae_traverse, d, "any", 0, 0, 3, 9),
        "diffusion_forward": (clock, diffusion_tab.diffusion_forward, d, 0, 500),
        "diffusion_sample first frame (8 images, default)": (first_frame, diffusion_tab.diffusion_sample, d, "7", 8, 0, *default),
        "diffusion_sample whole run (8 images, default)": (clock, diffusion_tab.diffusion_sample, d, "7", 8, 0, *default),
        "diffusion_sample whole run (8 images, ddpm, 50 steps)": (clock, diffusion_tab.diffusion_sample, d, "7", 8, 0, "ddpm", 50, guidance),
    }  # fmt: skip
    for fam in ("gan", "vae", "diffusion"):
        latent_tab.latent_map(d, fam)  # the map is drawn when the tab opens, before any click
        _, axes = latent_tab.plain_map(d, fam)
        click = SimpleNamespace(index=[round(axes.left + axes.width * 0.4), round(axes.top + axes.height * 0.6)])
        actions[f"latent map click -> decoded image ({fam})"] = (clock, latent_tab.on_map_select, d, fam, click)
    probe = to_pil(weights.load_examples(d)[0][0], 4)
    actions.update({
        "latent_interpolate (vae, 8 steps, slerp)": (clock, latent_tab.latent_interpolate, d, "vae", "seed", 1, "seed", 2, 8, "slerp"),
        "same_seed": (clock, latent_tab.same_seed, d, "any", 0),
        "encode_three_ways (test image)": (clock, latent_tab.encode_three_ways, d, "test image", None, 0),
        "compare (8 images per family)": (clock, compare_tab.compare, d, "any", 8, 0),
        "classify (one image)": (clock, compare_tab.classify, d, probe),
        "nearest_training (pixels, 6)": (clock, compare_tab.nearest_training, d, probe, 6, "pixels"),
        "nearest_training (classifier features, 6)": (clock, compare_tab.nearest_training, d, probe, 6, "classifier features"),
    })  # fmt: skip
    print(f"dataset {d}, torch threads {torch.get_num_threads()}, {args.repeat} repeats after one warm-up")
    print(f"{'action':<58} {'median ms':>10} {'worst ms':>10}")
    for name, (how, fn, *fargs) in actions.items():
        how(fn, *fargs)  # warm-up: loads the model, fills caches
        times = [how(fn, *fargs) for _ in range(args.repeat)]
        print(f"{name:<58} {statistics.median(times):>10.0f} {max(times):>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
