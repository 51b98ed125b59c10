"""The VAE's training step: the negative ELBO (reconstruction + beta * KL) of a batch, and at the
end the class regions its sampling prior draws from."""

from __future__ import annotations

import torch

from playground.models import VAE
from playground.training.common import Defaults, Setup, drop_labels, fixed_grid

# The shipped MNIST VAE's config overrides (weights/mnist/vae/training/summary.json): what the
# measuring scripts (bias.py, failure_modes.py) train.
RECIPE = {"likelihood": "gaussian", "latent_dim": 32, "hidden_dim": 512, "prior_components": 10}


class Trainer:
    defaults = Defaults(epochs=15, batch_size=128, lr=1e-3)

    def __init__(self, setup: Setup, config, initial: VAE | None = None):
        self.setup = setup
        model = initial or VAE(config)
        self.config = model.config
        opt = torch.optim.Adam(model.parameters(), lr=setup.args.lr)
        self.model, self.opt, setup.loader = setup.accelerator.prepare(model, opt, setup.loader)
        self.fixed_y, self.fixed_z = fixed_grid(self.config.num_classes, setup.per_class, self.config.latent_dim)

    @property
    def vae(self) -> VAE:
        return self.setup.accelerator.unwrap_model(self.model)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        vae = self.vae
        y = drop_labels(y, vae.config.num_classes, vae.config.null_class_prob)
        self.opt.zero_grad()
        logits, mean, logvar = self.model(x, y)
        rec, kl = vae.loss(logits, x, mean, logvar)
        self.setup.accelerator.backward(rec + kl)
        self.opt.step()
        return {"loss": (rec + kl).item(), "reconstruction": rec.item(), "kl": kl.item()}

    @torch.no_grad()
    def snapshot(self) -> torch.Tensor:
        images = self.vae.decode(self.fixed_z, self.fixed_y)
        self.vae.train()
        return images

    def finish(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[VAE, dict]:
        device = self.setup.accelerator.device
        self.vae.fit_class_regions(images.to(device), labels.to(device))
        return self.vae, {}

    @staticmethod
    def refit(model: VAE, images: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[str, dict]:
        """No training: the class regions of the codes, from the training images."""
        model.fit_class_regions(images, labels)
        return f"the class regions of the VAE from {len(images)} training images", {}
