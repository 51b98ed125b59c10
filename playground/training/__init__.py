"""Training: one loop for every family (`loop.py`: accelerate, checkpoints, logs, snapshots, the
recipe) and each family's own step in its own module (`gan.py`, `vae.py`, `diffusion.py`,
`classifier.py`), in the manner of pytorch/examples' dcgan/main.py. `scripts/train.py` is the
command line over it."""

from __future__ import annotations

import importlib

from playground.models import REGISTRY
from playground.training.common import Setup


def trainer_class(family: str) -> type:
    """The family's Trainer, in the module of its name (imported on first use: diffusion's pulls in
    diffusers); KeyError for a family models.REGISTRY does not know."""
    return importlib.import_module(f"playground.training.{REGISTRY[family].name}").Trainer


__all__ = ["Setup", "trainer_class"]
