"""Conversions at the edges: tensors in [0, 1] to uint8 arrays, PIL images and grids."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → uint8 (N, H, W) for grey images, (N, H, W, C) for colour."""
    a = (images.detach().float().clamp(0, 1).cpu() * 255).round().to(torch.uint8)
    a = a.permute(0, 2, 3, 1).numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """One image (C, H, W) in [0, 1] as a PIL image, enlarged `scale` times with sharp pixels."""
    img = Image.fromarray(to_uint8(image[None])[0])
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def grid(images: torch.Tensor, nrow: int = 10, padding: int = 2, scale: int = 1) -> Image.Image:
    """Images (N, C, H, W) in [0, 1] tiled into one PIL image, `nrow` per row."""
    g = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0)
    if images.shape[1] == 1:
        g = g[:1]
    return to_pil(g, scale)
