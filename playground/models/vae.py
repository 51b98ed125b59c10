"""A class-conditional convolutional variational autoencoder (Kingma & Welling 2014,
"Auto-Encoding Variational Bayes"; the conditional form of Sohn et al. 2015, "Learning
Structured Output Representation using Deep Conditional Generative Models").

The encoder q(z|x, y) and the decoder p(x|z, y) both see a class embedding. One extra "null"
class, used for a fraction of the training batches, teaches the same networks the
unconditional model q(z|x), p(x|z) too: with the null class the latent space must carry the
class itself, so the latent map of encoded test images shows the classes as clusters the VAE
found; with a class given, z mostly carries the style (slant, thickness, ...).

"Make a 7" decodes, with the label 7, a z drawn from where the encoder puts real 7s: after
training, the encoder means of each class's training images (encoded with their label) are
summarised by a Gaussian (mean and Cholesky factor of the covariance), an "ex-post density
estimate" of the aggregate posterior (Ghosh et al. 2020, "From Variational to Deterministic
Autoencoders"). The standard-normal prior leaves holes the decoder never saw, and more of its
samples came out as another class.
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
    num_classes: int = 10
    latent_dim: int = 16
    base_channels: int = 32
    hidden_dim: int = 256
    embed_dim: int = 16  # class embedding given to the encoder and to the decoder
    null_class_prob: float = 0.2  # training only: share of images shown with the "null" label
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
        self.encoder_embed = nn.Embedding(c.num_classes + 1, c.embed_dim)  # last index: no class
        self.encoder = nn.Sequential(
            nn.Conv2d(c.image_channels, b, 4, 2, 1),
            nn.ReLU(True),
            nn.Conv2d(b, 2 * b, 4, 2, 1),
            nn.ReLU(True),
            nn.Flatten(),
        )
        self.encoder_fc = nn.Sequential(
            nn.Linear(2 * b * s * s + c.embed_dim, c.hidden_dim),
            nn.ReLU(True),
            nn.Linear(c.hidden_dim, 2 * c.latent_dim),  # mean and log-variance
        )
        self.decoder_embed = nn.Embedding(c.num_classes + 1, c.embed_dim)
        self.decoder_fc = nn.Sequential(
            nn.Linear(c.latent_dim + c.embed_dim, c.hidden_dim),
            nn.ReLU(True),
            nn.Linear(c.hidden_dim, 2 * b * s * s),
            nn.ReLU(True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * b, b, 4, 2, 1),
            nn.ReLU(True),
            nn.ConvTranspose2d(b, c.image_channels, 4, 2, 1),  # logits of Bernoulli pixel means
        )
        # Per-class regions of the latent space, fitted after training (fit_class_regions).
        self.register_buffer("class_means", torch.zeros(c.num_classes, c.latent_dim))
        self.register_buffer("class_scales", torch.eye(c.latent_dim).repeat(c.num_classes, 1, 1))

    # --- the networks -------------------------------------------------------------------
    def _labels(self, class_labels, n: int, device) -> torch.Tensor:
        """Class indices, or the null class for None (a tensor of indices, as training passes,
        may hold the null class itself)."""
        if isinstance(class_labels, torch.Tensor) and class_labels.ndim == 1:
            return class_labels.to(device)
        y = label_tensor(class_labels, n, self.num_classes, device)
        return torch.full((n,), self.num_classes, device=device) if y is None else y

    def encode_distribution(self, x: torch.Tensor, class_labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x, y) = N(mean, exp(logvar)) for images x in [0, 1]; no class: q(z|x)."""
        y = self._labels(class_labels, len(x), x.device)
        h = torch.cat([self.encoder(x), self.encoder_embed(y)], dim=1)
        mean, logvar = self.encoder_fc(h).chunk(2, dim=1)  # (N, D) each
        return mean, logvar.clamp(-30, 20)

    def decode_logits(self, z: torch.Tensor, class_labels=None) -> torch.Tensor:
        s, b = self.config.image_size // 4, self.config.base_channels
        y = self._labels(class_labels, len(z), z.device)
        h = self.decoder_fc(torch.cat([z, self.decoder_embed(y)], dim=1))
        return self.decoder(h.view(-1, 2 * b, s, s))  # (N, C, H, W)

    def forward(self, x: torch.Tensor, class_labels=None, generator: torch.Generator | None = None):
        """Returns (reconstruction logits, mean, logvar) with z drawn by the reparameterisation trick."""
        mean, logvar = self.encode_distribution(x, class_labels)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        z = mean + (0.5 * logvar).exp() * eps
        return self.decode_logits(z, class_labels), mean, logvar

    @staticmethod
    def loss(logits, x, mean, logvar, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative ELBO per image, as (reconstruction, KL): Bernoulli likelihood and the closed-form
        KL(N(mean, var) || N(0, I)) from Kingma & Welling 2014, appendix B."""
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / len(x)
        return rec, beta * kl

    @torch.no_grad()
    def fit_class_regions(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000) -> None:
        """Summarise the encoder means of each class's images (encoded with their label) by a Gaussian."""
        self.eval()
        means = torch.cat(
            [self.encode(x, y) for x, y in zip(images.split(batch_size), labels.split(batch_size), strict=True)]
        )
        d, labels = self.config.latent_dim, labels.to(means.device)
        for k in range(self.config.num_classes):
            m = means[labels == k]
            if len(m) < 2:
                continue
            cov = torch.cov(m.T) + 1e-4 * torch.eye(d, device=m.device)
            self.class_means[k] = m.mean(0)
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
        """z from the prior N(0, I), or for a class from that class's region of the latent space
        (the class is also given to `decode`)."""
        eps = torch.randn((n, *self.latent_shape), generator=generator).to(device_of(self))
        y = label_tensor(class_labels, n, self.num_classes, device_of(self))
        if y is None:
            return eps
        return self.class_means[y] + torch.einsum("nij,nj->ni", self.class_scales[y], eps)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, class_labels=None, **_) -> torch.Tensor:
        """The decoder's pixel means for z and a class (or none), in [0, 1]."""
        self.eval()
        return torch.sigmoid(self.decode_logits(z.to(device_of(self)), class_labels))

    def sample(self, n: int, seed: int | torch.Generator = 0, class_labels=None, **kw) -> torch.Tensor:
        g = make_generator(seed)
        return self.decode(self.sample_latent(n, g, class_labels), class_labels, **kw)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, class_labels=None, **_) -> torch.Tensor:
        """The encoder's mean of q(z|x, y); no class: of q(z|x)."""
        self.eval()
        return self.encode_distribution(x.to(device_of(self)), class_labels)[0]

    def cost(self, **_) -> Cost:
        params = sum(p.numel() for n, p in self.named_parameters() if n.startswith("decoder"))  # decode only
        return Cost(nfe=1, parameters=params or count_parameters(self))
