"""Choose the number of Gaussians in the VAE's sampling prior by held-out likelihood, and refit it.

    python scripts/vae_prior.py --dataset fashion --components 5,10,20,40      # compare
    python scripts/vae_prior.py --dataset fashion --set 20                     # refit with 20, save

The VAE samples a class from a mixture of K Gaussians fitted to where its encoder puts that class's
training images (an ex-post density estimate, Ghosh et al. 2020). More Gaussians fit the training
codes more closely; whether they fit the density or just those images shows on codes the mixture
was not fitted to. For each K this fits every class's mixture on 5/6 of its training codes and
prints the mean log-likelihood per code on them and on the other 1/6, and the K that scores best
held out. `--set K` fits K Gaussians per class on all the training codes and saves the model in
place (its config says K; `training/summary.json` notes the refit).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from playground import weights
from playground.data import DataError, load_tensors
from playground.models.vae import VAE, fit_mixture

HELD_OUT = 6  # every 6th code of a class is held out


def held_out_scores(codes: torch.Tensor, labels: torch.Tensor, components: int, seed: int = 0) -> tuple[float, float]:
    """Mean log-likelihood per code (nats) of per-class mixtures of `components` Gaussians, on the
    codes they were fitted to and on the held-out ones, averaged over the classes by code count."""
    fit_sum = held_sum = 0.0
    fit_n = held_n = 0
    for k in labels.unique().tolist():
        c = codes[labels == k].double().numpy()
        held = torch.zeros(len(c), dtype=torch.bool)
        held[::HELD_OUT] = True
        train, test = c[~held.numpy()], c[held.numpy()]
        if len(train) < 2 * components:
            raise ValueError(f"class {k} has {len(train)} codes to fit, too few for {components} Gaussians")
        gmm = fit_mixture(train, components, seed)
        fit_sum, fit_n = fit_sum + gmm.score(train) * len(train), fit_n + len(train)
        held_sum, held_n = held_sum + gmm.score(test) * len(test), held_n + len(test)
    return fit_sum / fit_n, held_sum / held_n


def with_components(vae: VAE, components: int) -> VAE:
    """The same VAE with room for `components` Gaussians per class (the class regions still to fit)."""
    out = VAE(dataclasses.replace(vae.config, prior_components=components))
    state = {k: v for k, v in vae.state_dict().items() if not k.startswith("class_")}
    missing, unexpected = out.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("class_") for k in missing)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-root", default="data")
    p.add_argument("--vae", type=Path, help="the VAE's folder (default: <weights>/<dataset>/vae)")
    p.add_argument("--components", default="1,5,10,20,40", help="the K to compare, comma-separated")
    p.add_argument("--set", type=int, metavar="K", help="refit the prior with K Gaussians per class and save")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    folder = args.vae or weights.weights_root() / args.dataset / "vae"
    try:
        ks = sorted({int(k) for k in args.components.split(",")})
    except ValueError:
        p.error("--components is a comma-separated list of whole numbers, such as 5,10,20")
    if min(ks) < 1 or (args.set is not None and args.set < 1):
        p.error("a prior has at least 1 Gaussian per class")
    try:
        vae = VAE.from_pretrained(folder)
        images, labels = load_tensors(args.dataset, args.data_root, train=True, download=False)
    except (DataError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.set is not None:
        t0 = time.time()
        vae = with_components(vae, args.set)
        vae.fit_class_regions(images, labels, seed=args.seed)
        weights.save_refitted(vae, folder, {"prior_refit": f"scripts/vae_prior.py --set {args.set} (seed {args.seed})"})
        print(f"refitted the prior of {folder}: {args.set} Gaussians per class, in {time.time() - t0:.0f} s")
        return 0
    codes = vae.class_codes(images, labels).cpu()
    print(f"{folder}: {len(codes)} training codes of {codes.shape[1]} numbers; every {HELD_OUT}th of a class held out")
    print("K    fitted  held-out   (mean log-likelihood per code, nats)")
    best = None
    for k in ks:
        try:
            fitted, held = held_out_scores(codes, labels, k, args.seed)
        except ValueError as exc:
            print(f"{k:<4} {exc}")
            continue
        print(f"{k:<4} {fitted:7.3f} {held:9.3f}", flush=True)
        if best is None or held > best[1]:
            best = (k, held)
    if best:
        print(f"best held out: K = {best[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
