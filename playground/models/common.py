"""What every family shares: the cost of an image, seeds and class labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from playground.limits import MAX_SEED, check_number


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


class LatentSpace(Protocol):
    """The vector a family decodes into an image, and the way back: the one interface the latent
    panel, the compare view, the CLI and the scripts use. For diffusion it is the noise space.

    `decoding` says, in a sentence for the app (or ""), how a vector is decoded where that is not
    one network pass."""

    shape: tuple[int, ...]
    decoding: str

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n vectors from the prior, shape (n, *shape)."""
        ...

    def decode(self, v: torch.Tensor, label: int | Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] for the vectors v (and a class, or None for the unconditional mode)."""
        ...

    def encode(self, x: torch.Tensor, label: int | Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """A vector for each image x in [0, 1] that decodes back to (close to) it."""
        ...


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A local CPU `torch.Generator`: the same seed draws the same latents for every user."""
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        seed = 0
    return torch.Generator().manual_seed(check_number(seed, "seed", 0, MAX_SEED))


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


class ModelLatentSpace:
    """A latent space that is the model's own `latent_shape`, `sample_latent`, `decode` and `encode`
    (the GAN's z, the VAE's code)."""

    decoding = ""

    def __init__(self, model):
        self.model, self.shape = model, model.latent_shape

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.model.sample_latent(n, generator)

    def decode(self, v: torch.Tensor, label=None) -> torch.Tensor:
        return self.model.decode(v, label)

    def encode(self, x: torch.Tensor, label=None) -> torch.Tensor:
        return self.model.encode(x, label)
