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
summarised by a mixture of Gaussians (weights, means and Cholesky factors of the covariances),
an "ex-post density estimate" of the aggregate posterior (Ghosh et al. 2020, "From Variational
to Deterministic Autoencoders"). The standard-normal prior leaves holes the decoder never saw,
and more of its samples came out as another class.

The likelihood p(x|z, y) is either Bernoulli (the classic choice for MNIST) or a Gaussian whose
one shared variance is the batch's mean squared error, the "optimal sigma" of Rybkin et al.
2021 ("Simple and Effective VAE Training with Calibrated Decoders"): with a fixed likelihood the
balance between reconstruction and KL is an accident of the pixel scale, and on grey images
such as Fashion-MNIST's the codes carried too little, so samples came out as blurred class
averages. The measured effect is in weights/<dataset>/vae/README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from playground.models.common import (
    Cost,
    LatentSpace,
    ModelLatentSpace,
    count_parameters,
    device_of,
    label_tensor,
    make_generator,
)


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
    likelihood: str = "bernoulli"  # or "gaussian": one shared, fitted variance (Rybkin et al. 2021)
    res_blocks: int = 0  # residual 3x3 conv blocks at each resolution of the encoder and the decoder
    prior_components: int = 1  # Gaussians per class in the ex-post density of the codes


LIKELIHOODS = ("bernoulli", "gaussian")
MIN_LOG_SIGMA = -6.0  # the Gaussian likelihood's floor, as in Rybkin et al.'s code


def fit_mixture(codes, components: int, seed: int = 0):
    """A mixture of `components` full-covariance Gaussians fitted by EM to codes (an (N, D) array):
    scikit-learn's GaussianMixture, as the class regions use it."""
    from sklearn.mixture import GaussianMixture  # only when fitting
    from threadpoolctl import threadpool_limits

    # One BLAS thread: with torch's threads about, more made EM 8x slower on 2 cores.
    with threadpool_limits(1):
        return GaussianMixture(components, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(codes)


class ResBlock(nn.Module):
    """x + conv(relu(conv(relu(x)))): more decoder capacity at the same resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class VAE(nn.Module, PyTorchModelHubMixin):
    def __init__(self, config: VAEConfig | dict | None = None):
        super().__init__()
        if isinstance(config, dict):
            config = VAEConfig(**config)
        self.config = c = config or VAEConfig()
        if c.image_size % 4:
            raise ValueError("VAE image_size must be divisible by 4")
        if c.likelihood not in LIKELIHOODS:
            raise ValueError(f"VAE likelihood must be one of {', '.join(LIKELIHOODS)}, not {c.likelihood!r}")
        if c.prior_components < 1:
            raise ValueError("VAE prior_components must be at least 1")
        s, b = c.image_size // 4, c.base_channels

        def res(channels: int) -> list[nn.Module]:
            return [ResBlock(channels) for _ in range(c.res_blocks)]

        self.encoder_embed = nn.Embedding(c.num_classes + 1, c.embed_dim)  # last index: no class
        self.encoder = nn.Sequential(
            nn.Conv2d(c.image_channels, b, 4, 2, 1),
            nn.ReLU(True),
            *res(b),
            nn.Conv2d(b, 2 * b, 4, 2, 1),
            nn.ReLU(True),
            *res(2 * b),
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
            *res(2 * b),
            nn.ConvTranspose2d(2 * b, b, 4, 2, 1),
            nn.ReLU(True),
            *res(b),
            nn.ConvTranspose2d(b, c.image_channels, 4, 2, 1),  # logits of the pixel means
        )
        # The Gaussian likelihood's shared log sigma, as fitted in training (a running average).
        self.register_buffer("log_sigma", torch.zeros(()))
        # Per-class regions of the latent space, fitted after training (fit_class_regions):
        # a mixture of `prior_components` Gaussians per class.
        k, m, d = c.num_classes, c.prior_components, c.latent_dim
        self.register_buffer("class_weights", torch.full((k, m), 1 / m))
        self.register_buffer("class_means", torch.zeros(k, m, d))
        self.register_buffer("class_scales", torch.eye(d).repeat(k, m, 1, 1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Weights saved before the mixture and the Gaussian likelihood: one Gaussian per class."""
        means = state_dict.get(prefix + "class_means")
        if means is not None and means.ndim == 2:
            state_dict[prefix + "class_means"] = means[:, None]
            state_dict[prefix + "class_scales"] = state_dict[prefix + "class_scales"][:, None]
            state_dict.setdefault(prefix + "class_weights", torch.ones(len(means), 1))
        state_dict.setdefault(prefix + "log_sigma", torch.zeros(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor, log_sigma=None) -> torch.Tensor:
        """-log p(x|z, y) of each image, in nats. Gaussian: with `log_sigma` (default the fitted one);
        it is a density of continuous pixels, so it can be negative."""
        if self.config.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        log_sigma = self.log_sigma if log_sigma is None else log_sigma
        log_sigma = MIN_LOG_SIGMA + F.softplus(log_sigma - MIN_LOG_SIGMA)  # a soft floor
        z = (x - torch.sigmoid(logits)) * torch.exp(-log_sigma)
        return (0.5 * z.pow(2) + log_sigma + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)

    def loss(self, logits, x, mean, logvar) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative ELBO per image, as (reconstruction, beta * KL), with the closed-form
        KL(N(mean, var) || N(0, I)) of Kingma & Welling 2014, appendix B. The Gaussian likelihood
        takes its sigma from this batch's mean squared error (the maximum-likelihood sigma) and
        keeps a running average of it for sampling-free uses (reconstruction error in the app)."""
        log_sigma = None
        if self.config.likelihood == "gaussian":
            log_sigma = 0.5 * (x - torch.sigmoid(logits)).pow(2).mean().log()
            if self.training:
                with torch.no_grad():
                    self.log_sigma.lerp_(log_sigma.detach(), 0.01)
        rec = self.reconstruction_nll(logits, x, log_sigma).mean()
        kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / len(x)
        return rec, self.config.beta * kl

    @torch.no_grad()
    def class_codes(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """The encoder means of the images, each encoded with its label: what the class regions summarise."""
        self.eval()
        return torch.cat(
            [self.encode(x, y) for x, y in zip(images.split(batch_size), labels.split(batch_size), strict=True)]
        )

    @torch.no_grad()
    def fit_class_regions(
        self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000, seed: int = 0
    ) -> None:
        """Summarise the encoder means of each class's images (encoded with their label) by a mixture
        of `prior_components` Gaussians (scikit-learn's EM, full covariances)."""
        means = self.class_codes(images, labels, batch_size)
        c, labels = self.config, labels.to(means.device)
        for k in range(c.num_classes):
            m = means[labels == k].double().cpu().numpy()
            if len(m) < 2 * c.prior_components:
                continue
            gmm = fit_mixture(m, c.prior_components, seed)
            self.class_weights[k] = torch.as_tensor(gmm.weights_)
            self.class_means[k] = torch.as_tensor(gmm.means_)
            self.class_scales[k] = torch.linalg.cholesky(torch.as_tensor(gmm.covariances_))

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
        if self.config.prior_components == 1:  # the same draws as before mixtures existed
            j = torch.zeros_like(y)
        else:
            j = torch.multinomial(self.class_weights[y].cpu(), 1, generator=generator)[:, 0].to(y.device)
        return self.class_means[y, j] + torch.einsum("nij,nj->ni", self.class_scales[y, j], eps)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, class_labels=None) -> torch.Tensor:
        """The decoder's pixel means for z and a class (or none), in [0, 1]."""
        self.eval()
        return torch.sigmoid(self.decode_logits(z.to(device_of(self)), class_labels))

    def sample(self, n: int, seed: int | torch.Generator = 0, class_labels=None) -> torch.Tensor:
        g = make_generator(seed)
        return self.decode(self.sample_latent(n, g, class_labels), class_labels)

    SAMPLING_OPTIONS = ()

    def sampling_options(self) -> dict:
        """The options `sample` runs with: a VAE has none."""
        return {}

    def describe_sampling(self) -> str:
        return "one forward pass"

    def latent_space(self) -> LatentSpace:
        return ModelLatentSpace(self)  # the code z; encode: the encoder's mean

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, class_labels=None) -> torch.Tensor:
        """The encoder's mean of q(z|x, y); no class: of q(z|x)."""
        self.eval()
        return self.encode_distribution(x.to(device_of(self)), class_labels)[0]

    def cost(self, class_labels=None) -> Cost:
        params = sum(p.numel() for n, p in self.named_parameters() if n.startswith("decoder"))  # decode only
        return Cost(nfe=1, parameters=params or count_parameters(self))
