"""A class-conditional DCGAN: a generator (the forger) and a discriminator (the detective).

Conditioning: the generator gets a learned class embedding beside `z`; the discriminator is a
projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator"). One
extra "null" class, used for a fraction of the training batches, teaches both networks the
unconditional game too, so "any class" means a genuinely unconditional sample (and mode
collapse, if any, shows in the class histogram of those samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from playground.models.common import (
    Cost,
    LatentSpace,
    ModelLatentSpace,
    count_parameters,
    device_of,
    label_tensor,
    make_generator,
)

# The ψ a new GAN samples with unless told; a trained GAN carries its own (`GANConfig.truncation`).
# Both shipped GANs use 1.0: the measurements behind it are in docs/results.md, "GAN truncation".
DEFAULT_TRUNCATION = 0.9
INVERSION_STEPS = 200  # GAN inversion's optimisation steps, wherever an image is encoded


@dataclass
class GANConfig:
    image_channels: int = 1
    image_size: int = 28  # divisible by 4: the generator upsamples twice from image_size // 4
    num_classes: int = 10
    latent_dim: int = 64  # the size of z, the vector a GAN decodes
    base_channels: int = 64  # width of the last generator / first discriminator layer
    embed_dim: int = 32  # class embedding fed to the generator
    null_class_prob: float = 0.2  # training only: share of batches shown with the "null" label
    disc_depth: int = 2  # discriminator convolutions: 2 stride-2 ones, then stride-1 ones at s/4
    truncation: float = DEFAULT_TRUNCATION  # sampling: the ψ this model samples with unless told
    spectral_norm: bool = True  # the discriminator's stabiliser (Miyato et al. 2018); off: a failure mode


def subpixel_conv(cin: int, cout: int) -> nn.Sequential:
    """Double the resolution: a 3x3 convolution to 4x the channels, then PixelShuffle (Shi et al.
    2016). Initialised with ICNR (Aitken et al. 2017): the four sub-pixels start with the same
    kernel, so at the start it is exactly nearest-neighbour upsampling followed by a convolution,
    free of the checkerboard artefacts of stride-2 transposed convolutions (Odena et al. 2016)."""
    conv = nn.Conv2d(cin, 4 * cout, 3, 1, 1, bias=False)
    with torch.no_grad():
        base = torch.empty(cout, cin, 3, 3)
        nn.init.kaiming_uniform_(base, a=5**0.5)  # nn.Conv2d's own default initialisation
        conv.weight.copy_(base.repeat_interleave(4, dim=0))
    return nn.Sequential(conv, nn.PixelShuffle(2))


class Generator(nn.Module):
    """z and a class embedding → a (2b, s/4, s/4) map → two sub-pixel upsamplings → image."""

    def __init__(self, c: GANConfig):
        super().__init__()
        self.c = c
        s, b = c.image_size // 4, c.base_channels
        self.embed = nn.Embedding(c.num_classes + 1, c.embed_dim)  # last index: no class
        self.fc = nn.Sequential(
            nn.Linear(c.latent_dim + c.embed_dim, 2 * b * s * s, bias=False),
            nn.BatchNorm1d(2 * b * s * s),
            nn.ReLU(True),
        )
        self.net = nn.Sequential(
            subpixel_conv(2 * b, b),  # (b, s/2, s/2)
            nn.BatchNorm2d(b),
            nn.ReLU(True),
            subpixel_conv(b, c.image_channels),  # (C, s, s)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s, b = self.c.image_size // 4, self.c.base_channels
        h = self.fc(torch.cat([z, self.embed(y)], dim=1)).view(-1, 2 * b, s, s)  # (N, 2b, s/4, s/4)
        return self.net(h)  # (N, C, s, s) in [-1, 1]


class Discriminator(nn.Module):
    """Spectrally normalised convolutions (two stride-2 ones, then `disc_depth - 2` 3x3 ones at
    s/4, each doubling the width), then a projection head: the logit is a linear score of the
    features plus their inner product with the class embedding. With `spectral_norm` off, the
    same layers unconstrained: the Train tab's mode-collapse demonstration."""

    def __init__(self, c: GANConfig):
        super().__init__()
        if c.disc_depth < 2:
            raise ValueError(f"disc_depth must be at least 2, not {c.disc_depth}")
        s, b = c.image_size // 4, c.base_channels
        sn = spectral_norm if c.spectral_norm else (lambda layer: layer)
        layers = [sn(nn.Conv2d(c.image_channels, b, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        layers += [sn(nn.Conv2d(b, 2 * b, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        width = 2 * b
        for _ in range(c.disc_depth - 2):
            layers += [sn(nn.Conv2d(width, 2 * width, 3, 1, 1)), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out = sn(nn.Linear(width * s * s, 1))
        self.embed = sn(nn.Embedding(c.num_classes + 1, width * s * s))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.net(x)  # (N, width * s/4 * s/4)
        return self.out(h).squeeze(1) + (self.embed(y) * h).sum(1)  # logit of "real"


class GAN(nn.Module, PyTorchModelHubMixin):
    """Generator and discriminator, saved together; the family interface is on the generator side."""

    def __init__(self, config: GANConfig | dict | None = None):
        super().__init__()
        if isinstance(config, dict):
            config = GANConfig(**config)
        self.config = config = config or GANConfig()
        if config.image_size % 4:
            raise ValueError("GAN image_size must be divisible by 4")
        if not 0.0 < config.truncation <= 1.0:
            raise ValueError(f"GAN truncation must be in (0, 1], not {config.truncation}")
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    # --- the family interface -------------------------------------------------------------
    family = "gan"

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    def sample_latent(self, n: int, generator: torch.Generator, class_labels=None) -> torch.Tensor:
        """z ~ N(0, I); the class is given to `decode`, not drawn into z."""
        return torch.randn((n, *self.latent_shape), generator=generator).to(device_of(self))

    def _labels(self, class_labels, n: int) -> torch.Tensor:
        y = label_tensor(class_labels, n, self.num_classes, device_of(self))
        return torch.full((n,), self.num_classes, device=device_of(self)) if y is None else y

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, class_labels=None) -> torch.Tensor:
        """One generator pass: z (and a class, or none) → images in [0, 1]."""
        self.generator.eval()
        z = z.to(device_of(self))
        return (self.generator(z, self._labels(class_labels, len(z))) + 1) / 2

    def sample(
        self,
        n: int,
        seed: int | torch.Generator = 0,
        class_labels=None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        """`truncation` ψ < 1 draws z closer to the prior's centre, z = ψ · z (the ψ-truncation of
        Karras et al. 2019, applied to z): fewer odd images, less variety. None: the model's own
        (`config.truncation`)."""
        truncation = self.sampling_options(truncation)["truncation"]
        g = make_generator(seed)
        return self.decode(truncation * self.sample_latent(n, g, class_labels), class_labels)

    SAMPLING_OPTIONS = ("truncation",)

    def sampling_options(self, truncation: float | None = None) -> dict:
        """The options `sample` runs with: each one given, or None for the model's own; ValueError
        if one is out of range."""
        truncation = self.config.truncation if truncation is None else truncation
        if isinstance(truncation, bool) or not isinstance(truncation, int | float) or not 0.0 < truncation <= 1.0:
            raise ValueError(f"truncation must be in (0, 1], not {truncation!r}")
        return {"truncation": float(truncation)}

    def describe_sampling(self, truncation: float | None = None) -> str:
        return f"one forward pass, truncation ψ = {self.sampling_options(truncation)['truncation']:g}"

    def latent_space(self) -> LatentSpace:
        return ModelLatentSpace(self)  # z; encode: GAN inversion, INVERSION_STEPS long

    @torch.no_grad()
    def refit_batchnorm(self, num_samples: int = 51200, batch_size: int = 256, seed: int = 0) -> None:
        """Re-estimate the generator's BatchNorm statistics for the weights it has now.

        The statistics a generator collects in training belong to its live weights, but the
        weights that ship are their moving average (EMA), whose activations differ. So run the
        shipped weights over `num_samples` fresh z (and labels, the null class as often as in
        training) and average the batch statistics: BigGAN's "standing statistics" (Brock et al.
        2019). Deterministic for a given seed."""
        g, k = make_generator(seed), self.num_classes
        norms = [m for m in self.generator.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over all the batches below
        self.generator.train()
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            z = torch.randn(n, self.config.latent_dim, generator=g).to(device_of(self))
            y = torch.randint(0, k, (n,), generator=g)
            y = torch.where(torch.rand(n, generator=g) < self.config.null_class_prob, k, y).to(device_of(self))
            self.generator(z, y)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        self.generator.eval()

    @torch.inference_mode()
    def discriminate(self, x: torch.Tensor, class_labels=None) -> torch.Tensor:
        """The discriminator's probability that each image (in [0, 1]) is real."""
        self.discriminator.eval()
        x = x.to(device_of(self)) * 2 - 1
        return torch.sigmoid(self.discriminator(x, self._labels(class_labels, len(x))))

    def encode(
        self, x: torch.Tensor, class_labels=None, num_steps: int = INVERSION_STEPS, seed: int = 0, lr: float = 0.05
    ) -> torch.Tensor:
        """GAN inversion: a GAN has no encoder, so search for the z whose image is closest to x.

        Adam on the pixel error plus a small pull towards the prior's typical set
        (Creswell & Bharath 2016, "Inverting the Generator of a GAN").
        """
        self.generator.eval()
        for p in self.generator.parameters():
            p.requires_grad_(False)
        x = x.to(device_of(self)) * 2 - 1
        y = self._labels(class_labels, len(x))
        z = self.sample_latent(len(x), make_generator(seed)).clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        with torch.enable_grad():
            for _ in range(num_steps):
                opt.zero_grad()
                loss = F.mse_loss(self.generator(z, y), x) + 1e-3 * (z.pow(2).mean() - 1).pow(2)
                loss.backward()
                opt.step()
        for p in self.generator.parameters():
            p.requires_grad_(True)
        return z.detach()

    def cost(self, class_labels=None, truncation: float | None = None) -> Cost:
        return Cost(nfe=1, parameters=count_parameters(self.generator))
