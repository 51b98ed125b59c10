"""What every family shares: the cost of an image, seeds and class labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Cost:
    """What one image costs: network evaluations (forward passes) and the network's size."""

    nfe: int
    parameters: int
    precision: str = "fp32"  # the arithmetic the network ran in (see playground/models/kernels.py)

    def describe(self) -> str:
        return (
            f"{self.nfe} network evaluation{'s' if self.nfe != 1 else ''} per image, "
            f"{self.parameters / 1e6:.2f} M parameters, {self.precision}"
        )


MAX_SEED = 2**63 - 1


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A local CPU `torch.Generator`: the same seed draws the same latents for every user."""
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or int(seed) != seed or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be an integer from 0 to {MAX_SEED}, not {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def label_tensor(
    class_labels: int | Sequence[int] | torch.Tensor | None, n: int, num_classes: int, device: torch.device
) -> torch.Tensor | None:
    """Class labels as an int64 tensor of length `n` (None stays None: "any class")."""
    if class_labels is None:
        return None
    labels = torch.as_tensor(class_labels, dtype=torch.int64)
    if labels.ndim == 0:
        labels = labels.expand(n)
    if labels.shape != (n,):
        raise ValueError(f"expected {n} class labels, got shape {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"class labels must lie in 0-{num_classes - 1}")
    return labels.to(device)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device
