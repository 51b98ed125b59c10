"""Does a generative model copy its training data? Nearest training images of any image.

The haystack is the shipped random subset of the training set (scripts/export_examples.py),
searched with scikit-learn's exact nearest neighbours, either in pixel space or in the feature
space of the project's classifier (where "near" means "looks alike to a model that knows the
classes", not "the same pixels").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from playground import weights

if TYPE_CHECKING:
    from sklearn.neighbors import NearestNeighbors

SPACES = {
    "pixels": "Euclidean distance between the images' pixels (in [0, 1])",
    "classifier features": "Euclidean distance between the classifier's penultimate-layer features",
}


@dataclass
class Neighbours:
    images: torch.Tensor  # (N, k, C, H, W) the nearest training images of each query, nearest first
    labels: torch.Tensor  # (N, k)
    distances: torch.Tensor  # (N, k)
    train_index: torch.Tensor  # (N, k) positions in the full training set


def _embed(dataset: str, images: torch.Tensor, space: str) -> torch.Tensor:
    if space == "pixels":
        return images.flatten(1)
    return weights.load(dataset, "classifier").features(images)


def _fitted(dataset: str, space: str) -> NearestNeighbors:
    return _fit(str(weights.weights_root()), dataset, space)


@functools.cache
def _fit(root: str, dataset: str, space: str) -> NearestNeighbors:
    """The index of the shipped training subset, in `space`, for the weights under `root`."""
    from sklearn.neighbors import NearestNeighbors  # scikit-learn is a second of the app's start

    x, _, _ = weights.load_training_subset(dataset)
    return NearestNeighbors(n_neighbors=1, algorithm="brute").fit(_embed(dataset, x, space).numpy())


def nearest(dataset: str, images: torch.Tensor, k: int = 5, space: str = "pixels") -> Neighbours:
    """The `k` nearest shipped training images of each of `images` (N, C, H, W) in [0, 1]."""
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; choose one of: {', '.join(SPACES)}")
    index = _fitted(dataset, space)
    train_x, train_y, positions = weights.load_training_subset(dataset)
    if images.shape[1:] != train_x.shape[1:]:
        raise ValueError(f"expected images of shape {tuple(train_x.shape[1:])}, got {tuple(images.shape[1:])}")
    k = min(k, len(train_x))
    dist, idx = index.kneighbors(_embed(dataset, images.float(), space).numpy(), n_neighbors=k)
    idx = torch.as_tensor(idx)
    return Neighbours(train_x[idx], train_y[idx], torch.as_tensor(dist, dtype=torch.float32), positions[idx])


def clear() -> None:
    _fit.cache_clear()
