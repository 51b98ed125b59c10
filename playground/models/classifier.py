"""The classifier: the discriminative counterpart of the generators.

It labels what the generators make (class accuracy of conditional samples) and its
penultimate-layer features are the feature space in which FID, precision/recall and
nearest-neighbour distances are measured (no Inception network to download).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from playground.models.common import device_of


@dataclass
class ClassifierConfig:
    image_channels: int = 1
    image_size: int = 28  # divisible by 4
    num_classes: int = 10
    channels: int = 32  # first block's width; the second block has twice as many
    feature_dim: int = 128  # size of the feature vector used by the metrics
    dropout: float = 0.3


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(True),
        nn.MaxPool2d(2),
    )


class Classifier(nn.Module, PyTorchModelHubMixin):
    def __init__(self, config: ClassifierConfig | dict | None = None):
        super().__init__()
        if isinstance(config, dict):
            config = ClassifierConfig(**config)
        self.config = c = config or ClassifierConfig()
        s = c.image_size // 4
        self.body = nn.Sequential(
            _block(c.image_channels, c.channels),  # (N, c, H/2, W/2)
            _block(c.channels, 2 * c.channels),  # (N, 2c, H/4, W/4)
            nn.Flatten(),
            nn.Dropout(c.dropout),
            nn.Linear(2 * c.channels * s * s, c.feature_dim),
            nn.ReLU(True),
        )
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.feature_dim, c.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for images in [0, 1]."""
        return self.head(self.body(x * 2 - 1))

    @torch.inference_mode()
    def features(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Penultimate-layer features (N, feature_dim), the space the metrics work in."""
        self.eval()
        return torch.cat([self.body(b.to(device_of(self)) * 2 - 1) for b in x.split(batch_size)])

    @torch.inference_mode()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        self.eval()
        return torch.cat([self(b.to(device_of(self))).softmax(1) for b in x.split(batch_size)])
