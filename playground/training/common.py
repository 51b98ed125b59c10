"""What a family's trainer is given, and what it gives back to the loop."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Protocol

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from playground.data import DatasetInfo


@dataclass
class Setup:
    """One run's fixed facts: its arguments, the dataset, accelerate and the data."""

    args: argparse.Namespace
    info: DatasetInfo
    accelerator: Accelerator
    loader: DataLoader
    steps_per_epoch: int
    total_steps: int
    per_class: int = 10  # images per class in the fixed-noise grids
    grid_refit: int | None = None  # GAN: samples its grid refits BatchNorm on (None: 40 batches)
    warmup_steps: int | None = None  # diffusion: the learning rate's linear warm-up (None: a tenth, at most 500)


@dataclass(frozen=True)
class Defaults:
    epochs: int
    batch_size: int
    lr: float


class Trainer(Protocol):
    """A family's part of training. The constructor builds (or takes) the model and its optimisers
    and prepares them, and the loader, with accelerate; it registers with accelerate whatever else a
    checkpoint must hold (an EMA)."""

    defaults: Defaults
    model: torch.nn.Module  # as prepared by accelerate

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One optimisation step on a batch; the losses to log."""
        ...

    def snapshot(self, n_per_class: int) -> torch.Tensor | None:
        """The fixed-noise grid's images, one row per class (None: no grid)."""
        ...

    def finish(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[object, dict]:
        """What to save with save_pretrained, after what the family does at the end (EMA weights,
        refits), and what summary.json should add."""
        ...


def fixed_noise(shape: tuple[int, ...]) -> torch.Tensor:
    """The same noise for every epoch's grid."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(1234))


def fixed_labels(num_classes: int, per_class: int = 10) -> torch.Tensor:
    return torch.arange(num_classes).repeat_interleave(per_class)


def fixed_grid(num_classes: int, per_class: int, *latent_shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The epoch grids' classes (`per_class` of each in turn) and the fixed noise they decode."""
    y = fixed_labels(num_classes, per_class)
    return y, fixed_noise((len(y), *latent_shape))


def drop_labels(y: torch.Tensor, null_class: int, p: float) -> torch.Tensor:
    """Replace a share p of the labels by the "null" class, so the same network learns the
    unconditional model too (what "unconditional" and classifier-free guidance use)."""
    return torch.where(torch.rand(len(y), device=y.device) < p, null_class, y)
