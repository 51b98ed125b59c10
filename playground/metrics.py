"""Measuring generated images, in the feature space of the project's own classifier.

FID is torchmetrics' `FrechetInceptionDistance` with our classifier in place of Inception (no
download, and features that know these datasets). Precision and recall follow Kynkäänniemi et
al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models": k-nearest-
neighbour balls around each real (resp. generated) feature vector approximate the manifolds.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING

import torch
from torch import nn

from playground.models import Classifier

if TYPE_CHECKING:
    from torchmetrics.image.fid import FrechetInceptionDistance


class ClassifierFeatures(nn.Module):
    """Our classifier's penultimate layer, shaped as torchmetrics expects a feature extractor."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.config.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)


def make_fid(classifier: Classifier) -> FrechetInceptionDistance:
    """An FID metric over our classifier's features; images are floats in [0, 1]."""
    from torchmetrics.image.fid import FrechetInceptionDistance  # only to measure

    return FrechetInceptionDistance(feature=ClassifierFeatures(classifier), normalize=True, reset_real_features=False)


def fid_against(classifier: Classifier, real: torch.Tensor) -> FrechetInceptionDistance:
    """The FID metric with `real` (e.g. the test images) already in it as the real set."""
    fid = make_fid(classifier)
    for b in real.split(1000):
        fid.update(b, real=True)
    return fid


def fid_score(metric: FrechetInceptionDistance, fake: torch.Tensor, batch_size: int = 1000) -> float:
    """FID of `fake` against the real images already in `metric` (which keeps them)."""
    metric.reset()
    for b in fake.split(batch_size):
        metric.update(b, real=False)
    return float(metric.compute())


def _kth_nn_distance(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    out = []
    for c in x.split(chunk):
        d = torch.cdist(c, x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the row itself is at distance 0
    return torch.cat(out)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """For each point, whether it lies within some centre's ball."""
    out = []
    for c in points.split(chunk):
        out.append((torch.cdist(c, centres) <= radii[None]).any(1))
    return torch.cat(out)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of generated samples inside the real manifold (quality).
    Recall: share of real samples inside the generated manifold (coverage)."""
    real, fake = real.double(), fake.double()
    precision = _inside(fake, real, _kth_nn_distance(real, k)).double().mean().item()
    recall = _inside(real, fake, _kth_nn_distance(fake, k)).double().mean().item()
    return precision, recall


def nearest_distances(
    queries: torch.Tensor, reference: torch.Tensor, chunk: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query row, the Euclidean distance to its nearest reference row and that row's index."""
    idx = torch.cat([torch.cdist(c, reference).argmin(1) for c in queries.split(chunk)])
    # cdist's fast matrix-product form is off by ~1e-2 near 0; measure the winners exactly
    return (queries - reference[idx]).norm(dim=1), idx


def summary(values: torch.Tensor) -> dict[str, float]:
    v = values.double()
    q = torch.quantile(v, torch.tensor([0.01, 0.5], dtype=torch.float64))
    return {"min": v.min().item(), "p01": q[0].item(), "median": q[1].item(), "mean": v.mean().item()}


NEAREST_EDGES = [i / 2 for i in range(41)]  # pixel L2 from 0 to 20 in steps of 0.5; the last bin takes more


def histogram(values: torch.Tensor, edges: list[float] = NEAREST_EDGES) -> dict[str, list]:
    """Counts of `values` in the bins between `edges` (values beyond the ends go to the end bins)."""
    e = torch.tensor(edges, dtype=torch.float64)
    v = values.double().clamp(e[0], e[-1])
    idx = (torch.bucketize(v, e, right=True) - 1).clamp(0, len(edges) - 2)
    return {"edges": list(edges), "counts": torch.bincount(idx, minlength=len(edges) - 1).tolist()}


def provenance(metrics: dict) -> list[tuple[str, str, list[str]]]:
    """(when, command, what) for each run that measured part of a metrics.json: the floor and the
    classifier come from its latest run; each family says which run measured it."""
    runs: dict[tuple[str, str], list[str]] = {(metrics["measured"], metrics["command"]): ["floor", "classifier"]}
    for fam, r in metrics.get("families", {}).items():
        runs.setdefault((r.get("measured", metrics["measured"]), r.get("command", metrics["command"])), []).append(fam)
    return [(when, command, what) for (when, command), what in runs.items()]


def speed_machines(metrics: dict) -> str:
    """Which CPU each family's speed was measured on ("gan, vae: AMD EPYC, 2 cores; ...")."""
    machines: dict[str, list[str]] = {}
    for fam, r in metrics.get("families", {}).items():
        h = r.get("hardware", metrics["hardware"])
        machines.setdefault(f"{h['cpu']}, {h['cpu_cores']} cores", []).append(fam)
    return "; ".join(f"{', '.join(fams)}: {cpu}" for cpu, fams in machines.items())


def training_cost(summary: dict) -> str:
    """A model's training, from its training/summary.json: "14 epochs, 36 min on Intel Xeon, 2 cores".
    A model trained on from an earlier one (train.py --init-from) counts the earlier runs too."""
    runs, s = [], summary
    while s:
        runs.append(s)
        s = s.get("continued_from")
    epochs = sum(r["epochs"] for r in runs)
    seconds = sum(r["wall_clock_s"] for r in runs)
    machines = []
    for r in reversed(runs):  # the first run's machine first
        h = r["hardware"]
        name = f"{h.get('gpu') or h['cpu'].replace('(R)', '').replace(' Processor', '')}, {h['cpu_cores']} cores"
        if name not in machines:
            machines.append(name)
    return f"{epochs} epochs, {seconds / 60:.0f} min on {' then '.join(machines)}"


def hardware() -> dict:
    """The machine a figure was measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
