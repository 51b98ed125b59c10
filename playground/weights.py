"""Finding, checking and loading the shipped weights.

Layout: `weights/<dataset>/<family>/` (family: gan, vae, diffusion, classifier), and one
manifest of sha256 sums for the whole tree (`weights/manifest.sha256`, the format of
`sha256sum`, so `cd weights && sha256sum -c manifest.sha256` checks it too). A file whose sum
does not match is refused with a message saying which file and why, instead of a stack trace.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from playground.data import DATASETS, get_info
from playground.models import REGISTRY, make_generator
from playground.models.diffusion import DISTILLED, STUDENT_DIR, read_sampling

MODEL_KINDS = tuple(REGISTRY)
MANIFEST = "manifest.sha256"
EXAMPLES = "examples.safetensors"  # a few real test images per dataset (scripts/export_examples.py)
TRAINING_SUBSET = "training_subset.safetensors"  # training images for "does it copy?" (export_examples.py)
LATENT_MAPS = "latent_maps.safetensors"  # the vectors behind the latent maps (scripts/precompute_maps.py)
WEIGHTS_ENV = "PLAYGROUND_WEIGHTS"


class WeightsError(Exception):
    """Weights that are missing or damaged; the message says which and what to do."""


def weights_root() -> Path:
    """`$PLAYGROUND_WEIGHTS`, else the repository's `weights/` folder."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "weights"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def write_manifest(root: Path | None = None) -> Path:
    """Record the sha256 of every file under `root` (training logs and snapshots included)."""
    root = Path(root or weights_root())
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    names = [n for n in names if not n.endswith("README.md")]
    (root / MANIFEST).write_text("".join(f"{sha256(root / n)}  {n}\n" for n in names))
    return root / MANIFEST


def save_refitted(model, folder: Path, note: dict) -> None:
    """Save a model refitted without training in place: `note` goes into its training/summary.json
    (it is no longer exactly what training saved), and the manifest is rewritten where it is shipped."""
    summary = Path(folder) / "training" / "summary.json"
    if note and summary.is_file():
        summary.write_text(json.dumps({**json.loads(summary.read_text()), **note}, indent=2) + "\n")
    model.save_pretrained(folder)
    if Path(folder).resolve().is_relative_to(weights_root().resolve()):
        write_manifest()


def verify(root: Path, prefix: str) -> None:
    """Check every manifest entry under `prefix` (e.g. "mnist/gan/"); raise WeightsError if one is off."""
    for name, digest in read_manifest(root).items():
        if not name.startswith(prefix):
            continue
        path = root / name
        if not path.is_file():
            raise WeightsError(f"weights file {name} is missing (listed in {MANIFEST}); restore it from the repository")
        if sha256(path) != digest:
            raise WeightsError(
                f"weights file {name} is damaged (its sha256 does not match {MANIFEST}); "
                "restore it from the repository or retrain it"
            )


def model_dir(dataset: str, kind: str, root: Path | None = None) -> Path:
    return Path(root or weights_root()) / dataset / kind


def fingerprint(dataset: str, kind: str, root: Path | None = None) -> str:
    """A short id of a model's weights (the sha256 of its safetensors files, training snapshots
    aside): a measurement records it, so a later look can tell whether the model has changed since."""
    folder = model_dir(dataset, kind, root)
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        if "training" not in path.relative_to(folder).parts:
            h.update(f"{path.relative_to(folder).as_posix()} {sha256(path)}\n".encode())
    return h.hexdigest()[:16]


def has_weights(dataset: str, kind: str, root: Path | None = None) -> bool:
    d = model_dir(dataset, kind, root)
    return (d / "config.json").is_file() or (d / "unet" / "config.json").is_file()


def available(root: Path | None = None) -> dict[str, list[str]]:
    """{dataset: [model kinds with weights]} for the datasets that have any."""
    found = {}
    for name in DATASETS:
        kinds = [k for k in MODEL_KINDS if has_weights(name, k, root)]
        if kinds:
            found[name] = kinds
    return found


_cache: dict[tuple[str, str, str], object] = {}
_lock = threading.Lock()


def load(dataset: str, kind: str, root: Path | None = None):
    """The model `kind` ("gan", "vae", "diffusion" or "classifier") trained on `dataset`, in eval
    mode, checked against the manifest and cached. Raises WeightsError with a clear message."""
    info = get_info(dataset)
    if kind not in MODEL_KINDS:
        raise WeightsError(f"unknown model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
    root = Path(root or weights_root())
    key = (str(root), dataset, kind)
    with _lock:
        if key in _cache:
            return _cache[key]
        if not has_weights(dataset, kind, root):
            raise WeightsError(
                f"no {kind} weights for {info.title} in {root}/{dataset}/{kind}; "
                f"train them with: python scripts/train.py --dataset {dataset} --family {kind}"
            )
        verify(root, f"{dataset}/{kind}/")
        try:
            model = REGISTRY[kind].model.from_pretrained(model_dir(dataset, kind, root))
        except Exception as exc:  # safetensors, json and shape errors all mean the same to a user
            raise WeightsError(
                f"could not load the {kind} weights for {info.title} ({exc.__class__.__name__}: {exc})"
            ) from None
        _cache[key] = model.eval()
        return model


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _load_data_file(dataset: str, root: Path | None, name: str, what: str, script: str, read):
    """A checked, cached data file under <root>/<dataset>/: `read(path)` gives its contents."""
    info = get_info(dataset)
    root = Path(root or weights_root())
    key = (str(root), dataset, name)
    with _lock:
        if key in _cache:
            return _cache[key]
        path = root / dataset / name
        if not path.is_file():
            raise WeightsError(
                f"no {what} for {info.title} in {path}; make them with: python scripts/{script} --dataset {dataset}"
            )
        verify(root, f"{dataset}/{name}")
        try:
            _cache[key] = read(path)
        except Exception as exc:
            raise WeightsError(
                f"could not read the {what} for {info.title} ({exc.__class__.__name__}: {exc})"
            ) from None
        return _cache[key]


def _read_examples(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = load_file(path)
    return tensors["images"].float().div(255), tensors["labels"].long()  # (N, C, H, W) in [0, 1]


def load_examples(dataset: str, root: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped real test images of `dataset`: (images (N, C, H, W) float in [0, 1], labels)."""
    return _load_data_file(dataset, root, EXAMPLES, "example images", "export_examples.py", _read_examples)


def _read_training(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return *_read_examples(path), load_file(path)["train_index"].long()


def load_training_subset(dataset: str, root: Path | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shipped random subset of the training images: (images in [0, 1], labels, their
    positions in the full training set)."""
    return _load_data_file(dataset, root, TRAINING_SUBSET, "training images", "export_examples.py", _read_training)


BIAS = "bias.json"  # the same model on balanced and on skewed data (scripts/bias.py)
FAILURE_MODES = "failure_modes.json"  # failures on demand, measured (scripts/failure_modes.py)
SWEEP = "sweep.json"  # diffusion's FID per sampler and step count (scripts/evaluate.py --sweep)
MEASURED_BY = {BIAS: "bias.py", FAILURE_MODES: "failure_modes.py", SWEEP: "evaluate.py --sweep"}


def load_measurement(dataset: str, name: str, root: Path | None = None) -> dict:
    """A measurement file of `dataset` (BIAS, FAILURE_MODES, SWEEP); WeightsError if its script has not run."""
    path = Path(root or weights_root()) / dataset / name
    if not path.is_file():
        raise WeightsError(f"no {name} for {dataset}: run python scripts/{MEASURED_BY[name]} --dataset {dataset}")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise WeightsError(f"{name} for {dataset} is damaged: {exc}") from None


def training_log(dataset: str, kind: str, root: Path | None = None) -> list[dict]:
    """The records of <dataset>/<kind>/training/log.jsonl (empty if there is none)."""
    path = model_dir(dataset, kind, root) / "training" / "log.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def step_records(records: list[dict], log_every: int = 100) -> list[dict]:
    """The "step" records that average a full window of `log_every` steps. (Logs written before
    the windows could span epochs have a partial first window in each epoch; it is left out.)"""
    out, epoch_end = [], 0
    for r in records:
        if r["kind"] == "epoch":
            epoch_end = r["step"]
        elif r["step"] - epoch_end >= log_every or r["epoch"] == 1 or "window" in r:
            out.append(r)
    return out


def snapshots(dataset: str, kind: str, root: Path | None = None) -> list[Path]:
    """The per-epoch fixed-noise grids, in epoch order."""
    return sorted((model_dir(dataset, kind, root) / "training").glob("epoch_*.png"))


def _read_latent_maps(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        how = json.loads((f.metadata() or {}).get("how", "{}"))
    if "diffusion_seed" in tensors:
        # Diffusion's noise-space vectors (8,624 numbers each on 28 x 28 images) are too many to
        # ship; the file keeps the seed and shape they were drawn with, as
        # DiffusionModel.sample_noise_space draws them, and their labels.
        seed, shape = int(tensors.pop("diffusion_seed")), tensors.pop("diffusion_shape").tolist()
        n = len(tensors["diffusion_labels"])
        tensors["diffusion_latents"] = torch.randn((n, *shape), generator=make_generator(seed))
    return tensors, how


def training_summary(dataset: str, kind: str, root: Path | None = None) -> dict | None:
    """A shipped model's training record (<kind>/training/summary.json, written by scripts/train.py),
    or None when there is none or it cannot be read. A diffusion model that samples with its
    distilled student gives the student's record, which holds the teacher's as `continued_from`:
    what its default samples cost to train."""
    folder = Path(root or weights_root()) / dataset / kind
    try:
        if kind == "diffusion" and (folder / STUDENT_DIR).is_dir() and read_sampling(folder)[0] == DISTILLED:
            folder = folder / STUDENT_DIR
        return json.loads((folder / "training" / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def load_latent_maps(dataset: str, root: Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The precomputed latent vectors and labels of every family, and how each was made."""
    return _load_data_file(dataset, root, LATENT_MAPS, "latent maps", "precompute_maps.py", _read_latent_maps)
