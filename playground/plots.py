"""Small figures drawn with matplotlib (Agg) to PIL images: loss curves, the noise schedule,
the encoder's mean and spread. Images, not interactive plots: they render the same everywhere,
offline, and a test can look at them."""

from __future__ import annotations

import io
import os
import sys
import threading

import numpy as np
from PIL import Image


class _Pyplot:
    """matplotlib.pyplot (Agg), imported on first use: the app answers its first request before any
    figure is drawn, and matplotlib is a second of its start (README, "Speed and load")."""

    def __getattr__(self, name: str):
        use_agg()
        import matplotlib.pyplot

        return getattr(matplotlib.pyplot, name)


plt = _Pyplot()


def use_agg() -> None:
    """Choose the Agg backend without importing pyplot, spelt as Gradio spells it. Gradio sets
    "agg" around every request, and matplotlib compares the name as written: unless it is already
    "agg", matplotlib calls `pyplot.switch_backend`, and while another thread is importing pyplot
    (a figure of the warm start) that is half-loaded and the request fails (README, "A start that
    answers fast")."""
    if "matplotlib" in sys.modules:
        import matplotlib

        matplotlib.use("agg")
    else:
        os.environ["MPLBACKEND"] = "agg"  # read when matplotlib is first imported


_lock = threading.Lock()  # pyplot's state is global: one figure at a time
COLORS = ["#4f46e5", "#db2777", "#059669", "#d97706", "#0891b2", "#7c3aed"]


def _render(fig) -> Image.Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _render_fixed(fig) -> Image.Image:
    """Like `_render`, without the tight bounding box: the axes stay where they were placed, so a
    data coordinate still converts to a pixel of the image."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def line_plot(
    series: dict[str, tuple[list[float], list[float]]],
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    marker_x: float | None = None,
    logy: bool = False,
    size: tuple[float, float] = (5.5, 3.0),
    logx: bool = False,
    markers: bool = False,
) -> Image.Image:
    """One line per named series of (x, y); an optional vertical marker (e.g. the chosen epoch)."""
    with _lock:
        fig, ax = plt.subplots(figsize=size)
        _draw_lines(ax, series, title, xlabel, ylabel, markers)
        if logx:
            ax.set_xscale("log")
        if marker_x is not None:
            ax.axvline(marker_x, color="#111827", linestyle="--", linewidth=1)
        if logy:
            ax.set_yscale("log")
        return _render(fig)


def _draw_lines(ax, series: dict, title: str, xlabel: str, ylabel: str, markers: bool = False) -> None:
    for i, (name, (x, y)) in enumerate(series.items()):
        ax.plot(x, y, "-o" if markers else "-", label=name, color=COLORS[i % len(COLORS)], linewidth=1.6, markersize=4)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)


LINE_AXES = (0.13, 0.17, 0.83, 0.72)  # left, bottom, width, height: fixed, so x converts to a pixel


def line_plot_fixed(
    series: dict[str, tuple[list[float], list[float]]],
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[float, float] = (5.5, 3.0),
):
    """A line plot on fixed axes, to be drawn once and marked many times (`mark_x`): returns the
    image and a function from a data x to (pixel column, top row, bottom row) of the axes."""
    with _lock:
        fig = plt.figure(figsize=size, dpi=100)
        ax = fig.add_axes(LINE_AXES)
        _draw_lines(ax, series, title, xlabel, ylabel)
        w, h = fig.get_size_inches() * fig.dpi
        (x0, x1), (left, bottom, width, height) = ax.get_xlim(), LINE_AXES
        top_px, bottom_px = (1 - bottom - height) * h, (1 - bottom) * h

        def where(x: float) -> tuple[float, float, float]:
            return (left + width * (x - x0) / (x1 - x0)) * w, top_px, bottom_px

        return _render_fixed(fig), where


def mark_x(image: Image.Image, where, x: float, dash: int = 5) -> Image.Image:
    """A copy of a `line_plot_fixed` image with a dashed vertical line at data x."""
    from PIL import ImageDraw

    out = image.copy()
    px, top, bottom = where(x)
    px = round(px)
    draw = ImageDraw.Draw(out)
    y = top
    while y < bottom:
        draw.line([(px, y), (px, min(y + dash, bottom))], fill="#111827", width=1)
        y += 2 * dash
    return out


def mean_spread_plot(mean: np.ndarray, std: np.ndarray, title: str = "") -> Image.Image:
    """Each latent dimension's mean with a bar of ±1 standard deviation (q(z|x) of a VAE)."""
    with _lock:
        fig, ax = plt.subplots(figsize=(5.5, 2.6))
        d = np.arange(len(mean))
        ax.errorbar(d, mean, yerr=std, fmt="o", color=COLORS[0], ecolor=COLORS[1], capsize=3)
        ax.axhline(0, color="#9ca3af", linewidth=0.8)
        ax.set_xticks(d)
        ax.set_xlabel("latent dimension")
        ax.set_ylabel("mean ± std")
        ax.set_ylim(-4, 4)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
        return _render(fig)


def bars(
    groups: dict[str, list[float]], names: list[str], title: str = "", ylabel: str = "", mark: int | None = None
) -> Image.Image:
    """Grouped bars: one bar per group at each name (e.g. a class histogram per model); the name at
    `mark` is drawn in bold."""
    with _lock:
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        x = np.arange(len(names))
        width = 0.8 / max(len(groups), 1)
        for i, (group, values) in enumerate(groups.items()):
            ax.bar(x + (i - (len(groups) - 1) / 2) * width, values, width, label=group, color=COLORS[i % len(COLORS)])
        ax.set_xticks(x, names, rotation=30 if max(map(len, names)) > 3 else 0, fontsize=8)
        if mark is not None:
            ax.get_xticklabels()[mark].set_fontweight("bold")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=11)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        return _render(fig)


MAP_SIZE = (5.2, 5.2)  # inches at 100 dpi: a 520 × 520 image
MAP_AXES = (0.11, 0.09, 0.86, 0.82)  # left, bottom, width, height of the data area, as figure fractions


def class_colors() -> tuple:
    """One colour per class (matplotlib's tab10)."""
    return plt.get_cmap("tab10").colors


def __getattr__(name: str):
    if name == "CLASS_COLORS":  # plots.CLASS_COLORS, without importing matplotlib with this module
        return class_colors()
    raise AttributeError(name)


def latent_map(
    points: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    extent: tuple[float, float, float, float],
    title: str = "",
    marks: list[tuple[float, float, str]] = (),
    path: np.ndarray | None = None,
):
    """Map points coloured by class; see `scatter_map`."""
    groups = [(name, points[labels == k], class_colors()[k % 10]) for k, name in enumerate(class_names)]
    return scatter_map(groups, extent, title, marks, path)


def scatter_map(
    groups: list[tuple[str, np.ndarray, tuple]],
    extent: tuple[float, float, float, float],
    title: str = "",
    marks: list[tuple[float, float, str]] = (),
    path: np.ndarray | None = None,
    size: float = 7,
):
    """A scatter of named groups of 2-D points, drawn on fixed axes so that a pixel of the image
    converts to map coordinates. Returns (image, Axes). `marks` are (x, y, text) stars; `path`
    an (N, 2) line drawn over the points."""
    from playground.latent import Axes

    with _lock:
        fig = plt.figure(figsize=MAP_SIZE, dpi=100)
        ax = fig.add_axes(MAP_AXES)
        for name, pts, color in groups:
            if len(pts):
                ax.scatter(pts[:, 0], pts[:, 1], s=size, color=color, label=name, alpha=0.75, linewidths=0)
        if path is not None and len(path):
            ax.plot(path[:, 0], path[:, 1], "-o", color="#111827", markersize=3, linewidth=1.5)
        for x, y, text in marks:
            ax.scatter([x], [y], marker="*", s=260, color="#facc15", edgecolors="#111827", linewidths=1.2, zorder=5)
            if text:
                ax.annotate(text, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9, weight="bold")
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel("principal component 1")
        ax.set_ylabel("principal component 2")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, markerscale=2, loc="upper right", framealpha=0.8, ncol=2)
        w, h = fig.get_size_inches() * fig.dpi
        left, bottom, width, height = MAP_AXES
        axes = Axes(left * w, (1 - bottom - height) * h, width * w, height * h, extent)
        return _render_fixed(fig), axes


def mark_stars(image: Image.Image, axes, marks: list[tuple[float, float, str]]) -> Image.Image:
    """A copy of a drawn map (`scatter_map`) with a star at each (x, y, text) in map coordinates:
    drawn with PIL on the cached map in a few milliseconds, instead of redrawing every point."""
    from PIL import ImageDraw, ImageFont

    out = image.copy()
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=14)  # Pillow's own font: nothing to download
    for x, y, text in marks:
        cx, cy = axes.to_pixel(x, y)
        outer, inner = 11, 4.5
        points = [
            (cx + r * np.sin(i * np.pi / 5), cy - r * np.cos(i * np.pi / 5))
            for i, r in zip(range(10), [outer, inner] * 5, strict=True)
        ]
        draw.polygon(points, fill="#facc15", outline="#111827", width=2)
        if text:
            draw.text((cx + 10, cy - 22), text, fill="#111827", font=font)
    return out
