"""Interpolation and clickable maps: the geometry must be right for a click to mean anything."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import plots
from playground.latent import LatentMap, interpolate, lerp, slerp


def test_slerp_keeps_norms_and_ends_at_its_endpoints():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, generator=g), torch.randn(64, generator=g)
    path = slerp(a, b, torch.linspace(0, 1, 9))
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    norms = path.norm(dim=1)
    expected = torch.linspace(a.norm(), b.norm(), 9)
    assert torch.allclose(norms, expected, atol=1e-4)


def test_lerp_through_a_gaussian_loses_norm_and_slerp_does_not():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(512, generator=g), torch.randn(512, generator=g)  # nearly orthogonal, norm ≈ √512
    mid_lerp = lerp(a, b, torch.tensor([0.5]))[0].norm()
    mid_slerp = slerp(a, b, torch.tensor([0.5]))[0].norm()
    assert mid_lerp < 0.8 * a.norm()  # the midpoint falls inside, where the prior puts no samples
    assert abs(mid_slerp - (a.norm() + b.norm()) / 2) < 1e-3


def test_interpolate_shapes_and_errors():
    a, b = torch.zeros(1, 8, 8), torch.ones(1, 8, 8)
    assert interpolate(a, b, 5, "lerp").shape == (5, 1, 8, 8)
    assert interpolate(a + 1, b, 5, "slerp").shape == (5, 1, 8, 8)  # parallel vectors fall back to lerp
    with pytest.raises(ValueError):
        interpolate(a, b, 1)
    with pytest.raises(ValueError):
        interpolate(a, b, 4, "cubic")


@pytest.fixture(scope="module")
def fitted():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(300, 16, generator=g) * torch.tensor([5.0, 4.0] + [0.3] * 14)  # two clear main directions
    return LatentMap.fit(z, torch.arange(300) % 10), z


def test_map_is_deterministic(fitted):
    m, z = fitted
    again = LatentMap.fit(z, torch.arange(300) % 10)
    assert np.allclose(np.abs(m.points), np.abs(again.points))
    assert m.explained() > 0.5


def test_a_click_decodes_to_a_latent_that_projects_back_to_the_click(fitted):
    m, _ = fitted
    image, axes = plots.latent_map(m.points, m.labels, tuple("0123456789"), m.extent, "test")
    assert image.size == (520, 520)
    for px, py in [(150, 200), (300, 120), (420, 400)]:
        assert axes.contains(px, py)
        x, y = axes.to_data(px, py)
        assert np.allclose(axes.to_pixel(x, y), (px, py))
        z = m.unproject(np.array([x, y]))
        assert z.shape == (1, 16)
        assert np.allclose(m.project(z)[0], (x, y), atol=1e-6)


def test_map_pixels_land_on_the_drawn_points(fitted):
    """A point drawn by matplotlib sits at the pixel Axes predicts (within a marker's size)."""
    m, _ = fitted
    pts = np.array(
        [[m.extent[0] + 0.25 * (m.extent[1] - m.extent[0]), m.extent[2] + 0.6 * (m.extent[3] - m.extent[2])]]
    )
    image, axes = plots.latent_map(pts, np.array([3]), tuple("0123456789"), m.extent, "")
    px, py = axes.to_pixel(*pts[0])
    rgb = np.asarray(image)[int(round(py)) - 1 : int(round(py)) + 2, int(round(px)) - 1 : int(round(px)) + 2]
    drawn = 0.75 * np.array(plots.CLASS_COLORS[3]) * 255 + 0.25 * 255  # the colour at alpha 0.75 on white
    assert (np.abs(rgb.astype(int) - drawn).sum(-1) < 30).any()


def test_latent_at_a_point_projects_back_and_keeps_the_rest(fitted):
    m, z = fitted
    x, y = m.points[7] + np.array([0.3, -0.2])
    v = m.latent_at(x, y)
    assert np.allclose(m.project(v)[0], (x, y), atol=1e-5)
    # outside the map's plane it is the nearest mapped vector, untouched
    i = int(np.argmin(((m.points - np.array([x, y])) ** 2).sum(1)))
    comps = torch.as_tensor(m.pca.components_, dtype=torch.float32)
    off_plane = lambda u: u.flatten() - comps.T @ (comps @ u.flatten())  # noqa: E731
    assert torch.allclose(off_plane(v[0]), off_plane(z[i]), atol=1e-4)
