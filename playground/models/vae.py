"""A convolutional variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

The VAE itself is unconditional: it never sees a label. Class-conditional sampling uses the
regions of its latent space that each class occupies: after training, the encoder means of
the training images of each class are summarised by a Gaussian (mean and Cholesky factor of
the covariance), and "make a 7" draws z from the 7s' Gaussian. So the latent map of a VAE
shows the classes as clusters it found without being told.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from playground.models.common import Cost, count_parameters, device_of, label_tensor, make_generator


@dataclass
class VAEConfig:
    image_channels: int = 1
    image_size: int = 28  # divisible by 4
    num_classes: int = 10  # only for the per-class latent regions
    latent_dim: int = 16
    base_channels: int = 32
    hidden_dim: int = 256
    beta: float = 1.0  # training only: weight of the KL term (beta = 1 is the ELBO)


class VAE(nn.Module, PyTorchModelHubMixin):
    def __init__(self, config: VAEConfig | dict | None = None):
        super().__init__()
        if isinstance(config, dict):
            config = VAEConfig(**config)
        self.config = c = config or VAEConfig()
        if c.image_size % 4:
            raise ValueError("VAE image_size must be divisible by 4")
        s, b = c.image_size // 4, c.base_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(c.image_channels, b, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(b, 2 * b, 4, 2, 1),
            nn.ReLU(True),
            nn.Flatten(),
            nn.Linear(2 * b * s * s, c.hidden_dim),
            nn.ReLU(True),
            nn.Linear(c.hidden_dim, 2 * c.latent_dim),  # mean and log-variance
        )
        self.decoder_fc = nn.Sequential(
            nn.Linear(c.latent_dim, c.hidden_dim),
            nn.ReLU(True),
            nn.Linear(c.hidden_dim, 2 * b * s * s),
            nn.ReLU(True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * b, b, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(b, c.image_channels, 4, 2, 1),  # logits of Bernoulli pixel means
        )
        # Per-class latent regions, fitted after training (fit_class_regions).
        self.register_buffer("class_means", torch.zeros(c.num_classes, c.latent_dim))
        self.register_buffer("class_scales", torch.eye(c.latent_dim).repeat(c.num_classes, 1, 1))

    # --- the networks -------------------------------------------------------------------
    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) = N(mean, exp(logvar)) for images x in [0, 1]."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)  # (N, D) each
        return mean, logvar.clamp(-30, 20)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        s, b = self.config.image_size // 4, self.config.base_channels
        return self.decoder(self.decoder_fc(z).view(-1, 2 * b, s, s))  # (N, C, H, W)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Returns (reconstruction logits, mean, logvar) with z drawn by the reparameterisation trick."""
        mean, logvar = self.encode_distribution(x)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        z = mean + (0.5 * logvar).exp() * eps
        return self.decode_logits(z), mean, logvar

    @staticmethod
    def loss(logits, x, mean, logvar, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative ELBO per image, as (reconstruction, KL): Bernoulli likelihood and the closed-form
        KL(N(mean, var) || N(0, I)) from Kingma & Welling 2014, appendix B."""
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / len(x)
        return rec, beta * kl

    @torch.no_grad()
    def fit_class_regions(self, means: torch.Tensor, labels: torch.Tensor) -> None:
        """Summarise each class's encoder means by a Gaussian, for class-conditional sampling."""
        d = self.config.latent_dim
        for k in range(self.config.num_classes):
            m = means[labels == k]
            if len(m) < 2:
                continue
            mu = m.mean(0)
            cov = torch.cov(m.T) + 1e-4 * torch.eye(d, device=m.device)
            self.class_means[k] = mu
            self.class_scales[k] = torch.linalg.cholesky(cov)

    # --- the family interface -------------------------------------------------------------
    family = "vae"

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    def sample_latent(self, n: int, generator: torch.Generator, class_labels=None) -> torch.Tensor:
        """z from the prior N(0, I), or from the chosen class's region of the latent space."""
        eps = torch.randn((n, *self.latent_shape), generator=generator).to(device_of(self))
        y = label_tensor(class_labels, n, self.num_classes, device_of(self))
        if y is None:
            return eps
        return self.class_means[y] + torch.einsum("nij,nj->ni", self.class_scales[y], eps)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, class_labels=None, **_) -> torch.Tensor:
        """The decoder's pixel means for z, in [0, 1] (the class lives in z, not in the decoder)."""
        self.eval()
        return torch.sigmoid(self.decode_logits(z.to(device_of(self))))

    def sample(self, n: int, seed: int | torch.Generator = 0, class_labels=None, **kw) -> torch.Tensor:
        g = make_generator(seed)
        return self.decode(self.sample_latent(n, g, class_labels), class_labels, **kw)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, class_labels=None, **_) -> torch.Tensor:
        """The encoder's mean of q(z|x)."""
        self.eval()
        return self.encode_distribution(x.to(device_of(self)))[0]

    def cost(self, **_) -> Cost:
        params = sum(p.numel() for n, p in self.named_parameters() if n.startswith("decoder"))
        return Cost(nfe=1, parameters=params or count_parameters(self))
