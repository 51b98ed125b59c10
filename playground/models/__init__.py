"""The model families, and the one registry of them (`REGISTRY`); the other names are views of it."""

from __future__ import annotations

from dataclasses import dataclass

from playground.models.classifier import Classifier, ClassifierConfig
from playground.models.common import Cost, LatentSpace, make_generator
from playground.models.diffusion import DiffusionConfig, DiffusionModel
from playground.models.gan import GAN, GANConfig
from playground.models.vae import VAE, VAEConfig


@dataclass(frozen=True)
class Family:
    """One kind of model: its name in files and URLs, its title in the app, its classes."""

    name: str
    title: str
    model: type
    config: type
    generative: bool = True  # the classifier is trained and shipped alike, but measures the others


REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (
        Family("gan", "GAN", GAN, GANConfig),
        Family("vae", "VAE", VAE, VAEConfig),
        Family("diffusion", "Diffusion", DiffusionModel, DiffusionConfig),
        Family("classifier", "Classifier", Classifier, ClassifierConfig, generative=False),
    )
}
FAMILIES = {k: f.model for k, f in REGISTRY.items() if f.generative}  # the generative families, in tab order
FAMILY_TITLES = {k: f.title for k, f in REGISTRY.items() if f.generative}
CONFIGS = {k: f.config for k, f in REGISTRY.items()}

__all__ = [
    "CONFIGS",
    "FAMILIES",
    "FAMILY_TITLES",
    "GAN",
    "REGISTRY",
    "VAE",
    "Classifier",
    "ClassifierConfig",
    "Cost",
    "DiffusionConfig",
    "DiffusionModel",
    "Family",
    "GANConfig",
    "LatentSpace",
    "VAEConfig",
    "make_generator",
]
