"""Live training: a small model trained while a visitor watches, with the project's own training
code (playground/training: the same Trainer classes and defaults as scripts/train.py).

A run trains on the shipped training subset (weights/<dataset>/training_subset.safetensors, so it
needs no dataset download), in short slices: `train_for(seconds)` runs steps for that long, and
between slices the caller shows `samples()` (the fixed-noise grid, as the training grids are
drawn) and `history` (the losses). It keeps its state between slices, so a run can be paused and
resumed, and it stops for good after BUDGET_S seconds of training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import cycle

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, TensorDataset

from playground import weights
from playground.data import get_info
from playground.limits import check_number
from playground.models import CONFIGS, FAMILIES
from playground.training import Setup, trainer_class
from playground.training.arguments import as_argv, parse_args

BUDGET_S = 120.0  # seconds of training a run may use in all, paused or not in between
BATCH_SIZE = 64
WARMUP_STEPS = 10  # diffusion: a run is a few hundred steps, so the trainer's 500-step warm-up would fill it
SNAPSHOT_STEPS = 5  # DDPM steps of the tiny diffusion model's grid: its noisy beginnings, quickly (docs/results.md)
PER_CLASS = {"gan": 10, "vae": 10, "diffusion": 1}  # grid images per class: diffusion's cost a sampler run
GRID_REFIT = 640  # the GAN grid's BatchNorm refit: enough for its statistics, quick enough for every update
LR = (1e-5, 1e-2)
LATENT = (2, 128)
BETA = (0.0, 20.0)
IMAGES = (100, 10_000)
# Small enough to show progress within a minute on two cores; each family's own config otherwise.
SMALL = {
    "gan": {"base_channels": 32, "disc_depth": 2, "truncation": 1.0},
    "vae": {"likelihood": "gaussian", "hidden_dim": 256},
    "diffusion": {"block_out_channels": [16, 32, 32]},
}
DEFAULT_LR = {"gan": 2e-4, "vae": 1e-3, "diffusion": 1e-3}
# The GAN's discriminator learns this many times faster than its generator, the two time-scale
# update rule (Heusel et al. 2017): with equal rates the small GAN collapsed (docs/results.md).
GAN_D_LR_FACTOR = 4


@dataclass(frozen=True)
class Settings:
    """What a visitor chooses. `latent_dim` is the GAN's z or the VAE's code (diffusion has none of
    its own: its latent is the image-sized noise); `beta` weighs the VAE's KL term."""

    family: str
    dataset: str
    lr: float
    latent_dim: int = 16
    beta: float = 1.0
    images: int = 10_000
    stabilisers: bool = True  # the GAN's: spectral norm, two learning rates, the generator's weight average

    def checked(self) -> Settings:
        """These settings with their numbers checked, or ValueError saying what is allowed."""
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        get_info(self.dataset)  # DataError for an unknown dataset
        if not isinstance(self.stabilisers, bool):
            raise ValueError(f"stabilisers must be true or false, not {self.stabilisers!r}")
        return Settings(
            self.family,
            self.dataset,
            check_number(self.lr, "learning rate", *LR, integer=False),
            check_number(self.latent_dim, "latent size", *LATENT),
            check_number(self.beta, "beta", *BETA, integer=False),
            check_number(self.images, "training images", *IMAGES),
            self.stabilisers,
        )

    def config(self) -> dict:
        """The family config's overrides for this run."""
        own = {
            "gan": {"latent_dim": self.latent_dim} | ({} if self.stabilisers else {"spectral_norm": False}),
            "vae": {"latent_dim": self.latent_dim, "beta": self.beta},
        }
        return {**SMALL[self.family], **own.get(self.family, {})}

    def arguments(self) -> dict:
        """scripts/train.py's arguments for this run, as keywords (loop.train_and_load takes them)."""
        gan = {}
        if self.family == "gan":  # off: equal learning rates and no weight average
            gan = {"gan_d_lr": self.lr * GAN_D_LR_FACTOR} if self.stabilisers else {"gan_d_lr": self.lr, "gan_ema": 0.0}
        return {"dataset": self.dataset, "family": self.family, "lr": self.lr, "batch_size": BATCH_SIZE,
                "config": self.config(), "snapshot_steps": SNAPSHOT_STEPS, **gan}  # fmt: skip


@dataclass
class LiveRun:
    """One live training run: its trainer, its data and what it has done."""

    settings: Settings
    history: list[dict] = field(default_factory=list)  # one record per slice: step, seconds and mean losses
    step: int = 0
    seconds: float = 0.0  # of training so far
    paused: bool = False  # asked to stop: whoever trains it stops at the end of the slice

    def __post_init__(self):
        s = self.settings = self.settings.checked()
        x, y, _ = weights.load_training_subset(s.dataset)
        x, y = x[: s.images], y[: s.images]
        args = parse_args(as_argv(**s.arguments()))
        info = get_info(s.dataset)
        loader = DataLoader(TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=True, drop_last=len(x) > BATCH_SIZE)
        total = 1_000_000  # the budget in seconds ends a run, not a step count
        setup = Setup(args, info, Accelerator(mixed_precision="no"), loader, len(loader), total, PER_CLASS[s.family],
                      grid_refit=GRID_REFIT, warmup_steps=WARMUP_STEPS)  # fmt: skip
        config = CONFIGS[s.family](
            image_channels=info.channels, image_size=info.image_size, num_classes=info.num_classes, **s.config()
        )
        self.trainer = trainer_class(s.family)(setup, config, None)
        self.batches = cycle(setup.loader)

    @property
    def budget_left(self) -> float:
        return max(0.0, BUDGET_S - self.seconds)

    def train_for(self, seconds: float) -> int:
        """Train for about `seconds` (no longer than the budget left); the steps taken."""
        self.trainer.model.train()
        t0 = now = time.perf_counter()
        end, sums, n, step_s = t0 + min(seconds, self.budget_left), {}, 0, 0.0
        # A slice stops at the step count nearest to `seconds`, not the one past it (a diffusion step
        # is most of a slice); the budget is spent to its end.
        half = 0.5 if seconds < self.budget_left else 0.0
        while now + step_s * half < end:
            x, y = next(self.batches)
            for k, v in self.trainer.step(x, y).items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            t = time.perf_counter()
            step_s, now = t - now, t
        self.seconds += now - t0
        self.step += n
        if n:
            self.history.append({"step": self.step, "seconds": self.seconds, **{k: v / n for k, v in sums.items()}})
        return n

    @property
    def per_class(self) -> int:
        return PER_CLASS[self.settings.family]

    @torch.no_grad()
    def samples(self) -> torch.Tensor:
        """The fixed-noise grid's images, `per_class` of each class in turn, as the training grids are drawn."""
        return self.trainer.snapshot()
