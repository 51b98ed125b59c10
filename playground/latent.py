"""Latent spaces made visible: interpolation paths and 2-D PCA maps that can be clicked.

A map is a scikit-learn PCA fitted once on a family's latent vectors, drawn to an image with
known axes, so a clicked pixel converts to map coordinates, and map coordinates back to a full
latent vector (PCA's inverse transform: the mean plus the two principal directions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from sklearn.decomposition import PCA


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight-line interpolation between two latents, for every t in [0, 1]."""
    t = t.reshape(-1, *([1] * a.ndim))
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016, "Sampling Generative Networks"):
    along the great circle between the two directions, with the norm moving linearly, so the
    path stays where a Gaussian prior's samples live instead of cutting through its centre."""
    fa, fb = a.flatten().double(), b.flatten().double()
    na, nb = fa.norm(), fb.norm()
    cos = torch.clamp(fa @ fb / (na * nb), -1.0, 1.0)
    omega = torch.arccos(cos)
    t = t.double().reshape(-1, 1)
    if omega.abs() < 1e-6:  # (anti)parallel: nothing to bend
        return lerp(a, b, t.flatten().to(a.dtype))
    ua, ub = fa / na, fb / nb
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    direction = direction / direction.norm(dim=1, keepdim=True)
    norm = (1 - t) * na + t * nb
    return (direction * norm).to(a.dtype).reshape(-1, *a.shape)


INTERPOLATIONS = {"lerp": lerp, "slerp": slerp}


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """`steps` latents from a to b (both included)."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; choose lerp or slerp")
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    return INTERPOLATIONS[method](a, b, torch.linspace(0, 1, steps))


@dataclass
class LatentMap:
    """A 2-D PCA of latent vectors, with the points it was fitted on and their classes."""

    pca: PCA
    latents: torch.Tensor  # (N, *latent_shape) the vectors the map was fitted on
    points: np.ndarray  # (N, 2) map coordinates of the fitted vectors
    labels: np.ndarray  # (N,) class of each point, for colour
    latent_shape: tuple[int, ...]
    extent: tuple[float, float, float, float]  # x0, x1, y0, y1 of the drawn area

    @classmethod
    def fit(cls, latents: torch.Tensor, labels: torch.Tensor, seed: int = 0, margin: float = 0.08) -> LatentMap:
        flat = latents.detach().flatten(1).double().cpu().numpy()
        # "auto": exact for the GAN and VAE, randomized (seeded) for diffusion's 8,624 numbers, where a
        # full SVD took 15 s against 1
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, svd_solver="auto", random_state=seed).fit(flat)
        points = pca.transform(flat)
        lo, hi = points.min(0), points.max(0)
        pad = (hi - lo) * margin
        extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
        shape = tuple(latents.shape[1:])
        return cls(
            pca, latents.detach().cpu().float(), points, labels.cpu().numpy(), shape, tuple(float(v) for v in extent)
        )

    def project(self, latents: torch.Tensor) -> np.ndarray:
        """Latent vectors → (N, 2) map coordinates."""
        return self.pca.transform(latents.detach().flatten(1).double().cpu().numpy())

    def unproject(self, xy: np.ndarray) -> torch.Tensor:
        """Map coordinates → latent vectors: the mean plus the two principal directions. The other
        directions are left at the mean — the best guess a 2-D map can make."""
        z = self.pca.inverse_transform(np.atleast_2d(np.asarray(xy, dtype=np.float64)))
        return torch.as_tensor(z, dtype=torch.float32).reshape(-1, *self.latent_shape)

    def latent_at(self, x: float, y: float) -> torch.Tensor:
        """A full latent vector at map point (x, y): the nearest mapped vector, moved within the
        map's plane so that it projects exactly to (x, y). Its other directions stay those of a
        real latent, so it decodes like one; a plain inverse transform would leave them at the
        mean (for diffusion's 784-number noise, a nearly empty image)."""
        target = np.array([[x, y]], dtype=np.float64)
        i = int(np.argmin(((self.points - target) ** 2).sum(1)))
        shift = self.unproject(target)[0] - self.unproject(self.points[i : i + 1])[0]
        return (self.latents[i] + shift)[None]

    def explained(self) -> float:
        """Share of the latents' variance the two axes show."""
        return float(self.pca.explained_variance_ratio_.sum())

    def neighbour_agreement(self, k: int = 5) -> float:
        """Share of each point's k nearest neighbours on the map that share its class: how clustered
        by class the map is (about 1 / number of classes when there are no clusters)."""
        pts = torch.as_tensor(self.points)
        d = torch.cdist(pts, pts)
        d.fill_diagonal_(float("inf"))
        nn = d.topk(k, largest=False).indices
        labels = torch.as_tensor(self.labels)
        return (labels[nn] == labels[:, None]).float().mean().item()


@dataclass(frozen=True)
class Axes:
    """Where the map's data area lies in the drawn image, in pixels, and what it spans."""

    left: float
    top: float
    width: float
    height: float
    extent: tuple[float, float, float, float]

    def to_data(self, px: float, py: float) -> tuple[float, float]:
        x0, x1, y0, y1 = self.extent
        return x0 + (px - self.left) / self.width * (x1 - x0), y1 - (py - self.top) / self.height * (y1 - y0)

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        x0, x1, y0, y1 = self.extent
        return self.left + (x - x0) / (x1 - x0) * self.width, self.top + (y1 - y) / (y1 - y0) * self.height

    def contains(self, px: float, py: float) -> bool:
        return self.left <= px <= self.left + self.width and self.top <= py <= self.top + self.height


IMAGE_MAP_SAMPLES = {"gan": 300, "vae": 300, "diffusion": 100}  # per family, seed 0
IMAGE_MAP_GROUPS = ("real", *IMAGE_MAP_SAMPLES)


def image_space_points(real: torch.Tensor, models: dict) -> dict[str, np.ndarray]:
    """The image-space map's points: one PCA of pixels fitted on real images, and in it the real
    images, each family's samples ("gan", "vae", "diffusion" in `models`, each at its own settings,
    seed 0) and one diffusion run (seed 1, unconditional) as a path from its starting noise
    (clipped to the pixel range) to its sample. Also `explained`, the variance the two axes hold."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="full").fit(real.flatten(1).double().numpy())

    def project(x: torch.Tensor) -> np.ndarray:
        return pca.transform(x.flatten(1).double().cpu().numpy())

    points = {"real": project(real)}
    for family, n in IMAGE_MAP_SAMPLES.items():
        points[family] = project(models[family].sample(n, seed=0))
    diffusion = models["diffusion"]
    g = torch.Generator().manual_seed(1)
    z = diffusion.sample_latent(1, g)
    frames = [f["x_t"] for f in diffusion.trajectory(z, None, generator=g)]
    points["path"] = project(torch.cat([(z.clamp(-1, 1) + 1) / 2, *frames]))
    points["explained"] = np.array([pca.explained_variance_ratio_.sum()])
    return points
