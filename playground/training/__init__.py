"""Training: one loop for every family (`loop.py`: accelerate, checkpoints, logs, snapshots, the
recipe) and each family's own step in its own module (`gan.py`, `vae.py`, `diffusion.py`,
`classifier.py`), in the manner of pytorch/examples' dcgan/main.py. `scripts/train.py` is the
command line over it."""

from __future__ import annotations

import importlib

from playground.training.common import Setup

MODULES = {"gan": "gan", "vae": "vae", "diffusion": "diffusion", "classifier": "classifier"}


def trainer_class(family: str) -> type:
    """The family's Trainer (imported on first use: diffusion's pulls in diffusers)."""
    return importlib.import_module(f"playground.training.{MODULES[family]}").Trainer


__all__ = ["MODULES", "Setup", "trainer_class"]
