"""Conversions at the edges: tensors in [0, 1] to uint8 arrays, PIL images and grids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def _levels(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as the 256 levels of an 8-bit image: rounded floats from 0 to 255."""
    return (images.detach().float().clamp(0, 1).cpu() * 255).round()


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as they are shown and saved: rounded to 8 bits, back as floats in [0, 1].
    The datasets' images are 8-bit, so generated ones are measured this way too."""
    return _levels(images) / 255


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → uint8 (N, H, W) for grey images, (N, H, W, C) for colour."""
    a = _levels(images).to(torch.uint8)
    a = a.permute(0, 2, 3, 1).numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """One image (C, H, W) in [0, 1] as a PIL image, enlarged `scale` times with sharp pixels."""
    img = Image.fromarray(to_uint8(image[None])[0])
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def grid(images: torch.Tensor, nrow: int = 10, padding: int = 2, scale: int = 1) -> Image.Image:
    """Images (N, C, H, W) in [0, 1] tiled into one PIL image, `nrow` per row."""
    from torchvision.utils import make_grid  # torchvision is seconds of the app's start: when first used

    g = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0)
    if images.shape[1] == 1:
        g = g[:1]
    return to_pil(g, scale)


@dataclass(frozen=True)
class Tiling:
    """Where each of `n` equal cells sits in one picture: `columns` per row, `pad` px of white
    around each, and a `caption` px strip of text under each when captioned. The same layout
    draws the picture (`tile`) and finds the cell under a click (`index_at`)."""

    n: int
    columns: int
    width: int
    height: int
    pad: int = 4
    caption: int = 0

    @property
    def rows(self) -> int:
        return max(1, -(-self.n // self.columns))

    @property
    def size(self) -> tuple[int, int]:
        cols = min(self.n, self.columns) if self.n else 1
        return self.pad + cols * (self.width + self.pad), self.pad + self.rows * (self.height + self.caption + self.pad)

    def box(self, i: int) -> tuple[int, int, int, int]:
        """Cell `i`'s image as (left, top, right, bottom)."""
        row, col = divmod(i, self.columns)
        left = self.pad + col * (self.width + self.pad)
        top = self.pad + row * (self.height + self.caption + self.pad)
        return left, top, left + self.width, top + self.height

    def index_at(self, x: float, y: float) -> int | None:
        """The cell whose image or caption is at pixel (x, y), or None (padding, or past the last)."""
        col, dx = divmod(x - self.pad, self.width + self.pad)
        row, dy = divmod(y - self.pad, self.height + self.caption + self.pad)
        if x < self.pad or y < self.pad or col >= self.columns or dx >= self.width or dy >= self.height + self.caption:
            return None
        i = int(row) * self.columns + int(col)
        return i if i < self.n else None


CAPTION_PX = 16


def tile(cells: list[Image.Image], columns: int, captions: list[str] | None = None) -> tuple[Image.Image, Tiling]:
    """Equal-sized PIL images in one white picture, `columns` per row, each with its caption
    (drawn under it, a line per "\\n", shrunk to fit the cell's width) when given. One picture travels to the
    browser as one file: see the README's "Speed and load"."""
    if captions is not None and len(captions) != len(cells):
        raise ValueError(f"{len(captions)} captions for {len(cells)} images")
    w, h = cells[0].size if cells else (1, 1)
    lines = max((c.count("\n") + 1 for c in captions), default=0) if captions else 0
    layout = Tiling(len(cells), columns, w, h, caption=CAPTION_PX * lines)
    mode = "RGB" if any(c.mode != "L" for c in cells) else "L"
    picture = Image.new(mode, layout.size, "white")
    draw = ImageDraw.Draw(picture)
    for i, cell in enumerate(cells):
        left, top, right, bottom = layout.box(i)
        picture.paste(cell.convert(mode), (left, top))
        for k, text in enumerate(captions[i].split("\n") if captions else []):
            for px in (12, 11, 10, 9):  # the largest type that fits the cell
                font = ImageFont.load_default(size=px)
                if draw.textlength(text, font=font) <= w:
                    break
            y = bottom + CAPTION_PX * (k + 0.5)
            draw.text(((left + right) / 2, y), text, fill="black", font=font, anchor="mm")
    return picture, layout


MAX_PIXELS = 4096 * 4096  # larger uploads are refused, not resized for minutes


def _to_array(value) -> np.ndarray | None:
    """A drawing as Gradio hands it over (editor dict, array, PIL image or path) → float array."""
    if isinstance(value, dict):  # gr.Sketchpad / gr.ImageEditor: {"background", "layers", "composite"}
        value = value.get("composite")
    if value is None:
        return None
    if isinstance(value, str):
        value = Image.open(value)
    if isinstance(value, Image.Image):
        value = np.asarray(value.convert("RGBA") if value.mode in ("P", "LA", "RGBA") else value.convert("RGB"))
    a = np.asarray(value)
    if a.ndim not in (2, 3) or a.size == 0 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"expected an image, got an array of shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ValueError(f"the image is too large ({a.shape[1]} × {a.shape[0]} pixels; at most 4096 × 4096)")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("the image contains NaN or infinite values")
    a = a / 255.0 if a.max() > 1.0 else a
    if a.ndim == 3 and a.shape[2] == 4:  # composite over white, through the alpha channel
        a = a[..., :3] * a[..., 3:] + (1 - a[..., 3:])
    return a


def drawing_to_tensor(value, channels: int = 1, size: int = 28, fit: int = 20) -> torch.Tensor | None:
    """A person's drawing prepared the way MNIST digits were: ink white on black, cropped to its
    bounding box, scaled to fit `fit` pixels and centred by its centre of mass in a `size` square.
    Returns (1, channels, size, size) in [0, 1], or None when nothing was drawn."""
    a = _to_array(value)
    if a is None:
        return None
    grey = a.mean(axis=2) if a.ndim == 3 else a
    ink = 1 - grey if np.median(grey) > 0.5 else grey  # dark strokes on paper, or light on black
    ink = np.clip(ink, 0, 1)
    rows, cols = np.nonzero(ink > 0.1)
    if len(rows) == 0:
        return None
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = ink.shape
    scale = fit / max(h, w)
    small = Image.fromarray((ink * 255).astype(np.uint8)).resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS
    )
    s = np.asarray(small, dtype=np.float64) / 255
    canvas = np.zeros((size, size))
    total = s.sum() or 1.0
    cy, cx = (np.arange(s.shape[0]) @ s.sum(1)) / total, (np.arange(s.shape[1]) @ s.sum(0)) / total
    top = int(np.clip(round(size / 2 - cy), 0, size - s.shape[0]))
    left = int(np.clip(round(size / 2 - cx), 0, size - s.shape[1]))
    canvas[top : top + s.shape[0], left : left + s.shape[1]] = s
    t = torch.as_tensor(canvas, dtype=torch.float32)[None, None]
    return t.repeat(1, channels, 1, 1)


def image_to_tensor(value, channels: int = 1, size: int = 28) -> torch.Tensor | None:
    """Any image (upload, array, path) as (1, channels, size, size) in [0, 1], resized whole
    (box filter: an image shown enlarged with sharp pixels comes back exactly). A grey dataset's
    images are light on dark, so a dark-on-light image is inverted. None when there is no image."""
    a = _to_array(value)
    if a is None:
        return None
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if channels == 1:
        grey = a.mean(axis=2) if a.ndim == 3 else a
        if np.median(grey) > 0.5:
            grey = 1 - grey
        planes = [grey]
    else:
        planes = [a[..., c] for c in range(3)] if a.ndim == 3 else [a] * 3
    out = [
        np.asarray(Image.fromarray((np.clip(p, 0, 1) * 255).round().astype(np.uint8)).resize((size, size), Image.BOX))
        for p in planes
    ]
    return torch.as_tensor(np.stack(out), dtype=torch.float32)[None] / 255


def gif(frames: list[Image.Image], path, ms_per_frame: int = 80, hold_last_ms: int = 1200) -> None:
    """An animated GIF that loops, holding the last frame a little longer."""
    durations = [ms_per_frame] * (len(frames) - 1) + [hold_last_ms]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
