"""Datasets: a plain registry of what the playground knows, and loaders built on torchvision.

Images leave this module as float tensors `(N, C, H, W)` in `[0, 1]` and labels as int64,
the one convention used everywhere below the UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # the key used on the command line and in weights/<name>/
    title: str  # shown to people
    channels: int
    image_size: int
    class_names: tuple[str, ...]
    citation: str
    # Training images per class: "any class" draws each image's class this often, p(y).
    train_class_counts: tuple[int, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_prior(self) -> torch.Tensor:
        """p(y): each class's share of the training set (uniform where the counts are not known)."""
        counts = torch.tensor(self.train_class_counts or (1,) * self.num_classes, dtype=torch.float64)
        return counts / counts.sum()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST",
        channels=1,
        image_size=28,
        class_names=tuple(str(d) for d in range(10)),
        citation="Y. LeCun, C. Cortes, C. J. C. Burges. The MNIST database of handwritten digits.",
        train_class_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    ),
    "fashion": DatasetInfo(
        name="fashion",
        title="Fashion-MNIST",
        channels=1,
        image_size=28,
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        citation="H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for "
        "Benchmarking Machine Learning Algorithms. arXiv:1708.07747, 2017.",
        train_class_counts=(6000,) * 10,
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        title="CIFAR-10",
        channels=3,
        image_size=32,
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        citation="A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images. 2009.",
        train_class_counts=(5000,) * 10,
    ),
}


ANY = "any"  # each image's class drawn from p(y), then the image from p(x | y): samples of p(x)
UNCONDITIONAL = "unconditional"  # no class given at all: the model's own unconditional mode


def draw_classes(info: DatasetInfo, n: int, seed: int) -> torch.Tensor:
    """`n` classes drawn from the training set's class shares, the same for the same seed. The
    stream is the seed's own but offset, so the classes do not echo the model's first noise."""
    g = torch.Generator().manual_seed((int(seed) * 0x9E3779B97F4A7C15 + 1) % 2**63)
    return torch.multinomial(info.class_prior, n, replacement=True, generator=g)


class DataError(Exception):
    """A dataset that is unknown or cannot be read; the message says what to do."""


def get_info(name: str) -> DatasetInfo:
    """The registry entry for `name`, or a `DataError` naming the known datasets."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


def parse_label(info: DatasetInfo, label: int | str | None) -> int | None:
    """A class index from an index or a class name ("7", "Sneaker"); None or "any" means any class."""
    if label is None:
        return None
    if isinstance(label, str):
        text = label.strip()
        if text.lower() in ("", "any", "-1"):
            return None
        names = [c.lower() for c in info.class_names]
        if text.lower() in names:
            return names.index(text.lower())
        try:
            label = int(text)
        except ValueError:
            raise DataError(
                f"unknown class {text!r} for {info.title}; choose 0-{info.num_classes - 1} "
                f"or one of: {', '.join(info.class_names)}"
            ) from None
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise DataError(f"class must be an integer or a class name, not {label!r}")
    if label == -1:
        return None
    if not 0 <= label < info.num_classes:
        raise DataError(f"class {label} is out of range for {info.title}: use 0-{info.num_classes - 1}")
    return int(label)


def _cifar10_files(torchvision):
    """CIFAR-10 read from its python batches without checking their md5 sums.

    torchvision checks the sums of the official archive; a copy the user made (or the tiny files
    the tests write in the same format) is read as long as the files are there.
    """

    class CIFAR10Files(torchvision.datasets.CIFAR10):
        def _check_integrity(self) -> bool:
            root = Path(self.root) / self.base_folder
            return all((root / name).is_file() for name, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            if not (Path(self.root) / self.base_folder / self.meta["filename"]).is_file():
                raise RuntimeError("CIFAR-10's batches.meta is missing")
            self.classes = list(DATASETS["cifar10"].class_names)
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return CIFAR10Files


def _torchvision_dataset(name: str, root: str, train: bool, download: bool):
    import torchvision  # seconds of the app's start, which reads no dataset: only when one is read

    cls = {
        "mnist": torchvision.datasets.MNIST,
        "fashion": torchvision.datasets.FashionMNIST,
        "cifar10": _cifar10_files(torchvision),
    }[name]
    try:
        return cls(root, train=train, download=False)
    except RuntimeError:
        if not download:
            raise
    if name == "cifar10":
        cls = torchvision.datasets.CIFAR10
    return cls(root, train=train, download=True)


def load_tensors(
    name: str, root: str | os.PathLike = "data", train: bool = True, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as `(images (N, C, H, W) float in [0, 1], labels (N,) int64)`.

    Reads torchvision's layout under `root`; where the files are missing and `download` is
    true, torchvision fetches them (which needs a network). Small datasets fit in memory, and
    tensors in memory make two-core training much faster than a per-item DataLoader.
    """
    info = get_info(name)
    root = str(root)
    try:
        ds = _torchvision_dataset(name, root, train, download)
    except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError...
        raise DataError(
            f"could not read {info.title} under {root!r} ({exc.__class__.__name__}: {exc}). "
            f"Put the files there in torchvision's layout or run where a network is reachable."
        ) from None
    data = ds.data
    data = torch.as_tensor(np.asarray(data))
    if data.ndim == 3:  # (N, H, W) grey
        data = data.unsqueeze(1)
    else:  # CIFAR: (N, H, W, C)
        data = data.permute(0, 3, 1, 2)
    images = data.contiguous().float().div_(255.0)
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    if images.shape[1:] != info.image_shape:
        raise DataError(f"{info.title} images have shape {tuple(images.shape[1:])}, expected {info.image_shape}")
    return images, labels
