"""Compute the latent vectors behind the app's latent maps once, and ship them.

    python scripts/precompute_maps.py --dataset mnist

Writes weights/<dataset>/latent_maps.safetensors, for each family the vectors a map is fitted
on and the class of each (the app fits its 2-D PCA from them at start, in milliseconds), and the
points of the image-space map (`image_map_*`: real images and each family's samples in one PCA of
pixels, and one diffusion run), which the app draws instead of sampling them again:
- vae: the encoder means of the shipped test images, coloured by their true class;
- gan: vectors z drawn from the prior, coloured by the class our classifier sees in the image
  the generator makes from them with no class given;
- diffusion: vectors of its noise space (x_T and the noise of each sampler step) drawn from the
  prior, coloured by the class our classifier sees in the image each decodes to. They are not
  stored, only their seed and shape (8,624 numbers each on 28 x 28 images would make the file
  tens of megabytes); playground.weights draws them again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from playground import weights
from playground.data import get_info
from playground.latent import image_space_points
from playground.models import make_generator
from playground.models.diffusion import NOISE_SPACE_STEPS


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--n", type=int, default=1000, help="vectors per map")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--weights", help="the weights folder (default: $PLAYGROUND_WEIGHTS or weights/)")
    p.add_argument("--out", help="default <weights>/<dataset>/latent_maps.safetensors")
    args = p.parse_args(argv)
    root = Path(args.weights) if args.weights else weights.weights_root()
    info = get_info(args.dataset)
    try:
        images, labels = weights.load_examples(args.dataset, root)
        vae, gan, diffusion, classifier = (
            weights.load(args.dataset, k, root) for k in ("vae", "gan", "diffusion", "classifier")
        )
    except weights.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    images, labels = images[: args.n], labels[: args.n]
    t0 = time.time()
    tensors = {"vae_latents": vae.latent_space().encode(images), "vae_labels": labels}
    space = gan.latent_space()
    z = space.sample(args.n, make_generator(args.seed))
    made = torch.cat([space.decode(b) for b in z.split(args.batch_size)])
    tensors.update(gan_latents=z, gan_labels=classifier.predict_proba(made).argmax(1))
    space = diffusion.latent_space()
    v = space.sample(args.n, make_generator(args.seed))
    made = torch.cat([space.decode(b) for b in v.split(args.batch_size)])
    tensors.update(
        diffusion_labels=classifier.predict_proba(made).argmax(1),
        diffusion_seed=torch.tensor([args.seed]),
        diffusion_shape=torch.tensor(v.shape[1:]),
    )
    # the image-space map: real test images and each family's samples in one PCA of pixels
    real = weights.load_examples(args.dataset, root)[0]  # all of them, as the app's own fallback fits
    points = image_space_points(real, {"gan": gan, "vae": vae, "diffusion": diffusion})
    tensors.update({f"image_map_{k}": torch.from_numpy(v).float() for k, v in points.items()})
    how = {
        "vae": f"encoder means of {len(images)} shipped test images; colour: true class",
        "gan": f"{args.n} prior samples (seed {args.seed}); colour: our classifier's label of the unconditional image",
        "diffusion": f"{args.n} prior samples (seed {args.seed}) of the noise space: x_T and the noise of each of "
        f"{NOISE_SPACE_STEPS} sampler steps; colour: our classifier's label of the unconditional image",
    }
    out = Path(args.out or root / args.dataset / weights.LATENT_MAPS)
    save_file({k: v.cpu().clone().contiguous() for k, v in tensors.items()}, out, metadata={"how": json.dumps(how)})
    if out.resolve().is_relative_to(root.resolve()):
        weights.write_manifest(root)
    print(f"wrote latent maps for {info.title} to {out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
