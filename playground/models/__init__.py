"""The model families. A plain dict is the registry."""

from __future__ import annotations

from playground.models.classifier import Classifier, ClassifierConfig
from playground.models.common import Cost, make_generator
from playground.models.diffusion import DiffusionConfig, DiffusionModel
from playground.models.gan import GAN, GANConfig
from playground.models.vae import VAE, VAEConfig

FAMILIES = {"gan": GAN, "vae": VAE, "diffusion": DiffusionModel}
CONFIGS = {"gan": GANConfig, "vae": VAEConfig, "diffusion": DiffusionConfig, "classifier": ClassifierConfig}
FAMILY_TITLES = {"gan": "GAN", "vae": "VAE", "diffusion": "Diffusion"}

__all__ = [
    "CONFIGS",
    "FAMILIES",
    "FAMILY_TITLES",
    "GAN",
    "VAE",
    "Classifier",
    "ClassifierConfig",
    "Cost",
    "DiffusionConfig",
    "DiffusionModel",
    "GANConfig",
    "VAEConfig",
    "make_generator",
]
