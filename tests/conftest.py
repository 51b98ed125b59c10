"""Shared fixtures: tiny datasets in the real file formats and tiny weights, made by the tests."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from playground import weights  # noqa: E402
from playground.models import (  # noqa: E402
    GAN,
    VAE,
    Classifier,
    ClassifierConfig,
    DiffusionConfig,
    DiffusionModel,
    GANConfig,
    VAEConfig,
)
from playground.models.diffusion import STUDENT_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def tiny_config(kind: str, channels: int = 1, size: int = 8, num_classes: int = 10):
    """The smallest configs that still exercise every layer (diffusers' dummy-model style)."""
    common = {"image_channels": channels, "image_size": size, "num_classes": num_classes}
    return {
        "gan": lambda: GANConfig(latent_dim=8, base_channels=4, embed_dim=4, **common),
        "vae": lambda: VAEConfig(latent_dim=4, base_channels=4, hidden_dim=16, **common),
        "diffusion": lambda: DiffusionConfig(block_out_channels=(4, 8), norm_num_groups=2, **common),
        "classifier": lambda: ClassifierConfig(channels=4, feature_dim=8, **common),
    }[kind]()


TINY_JSON = {  # the same tiny configs as --config overrides for scripts/train.py
    "gan": '{"latent_dim": 8, "base_channels": 4, "embed_dim": 4}',
    "vae": '{"latent_dim": 4, "base_channels": 4, "hidden_dim": 16}',
    "diffusion": '{"block_out_channels": [4, 8], "norm_num_groups": 2}',
    "classifier": '{"channels": 4, "feature_dim": 8}',
}


def build_tiny(kind: str, channels: int = 1, size: int = 8, seed: int = 0):
    torch.manual_seed(seed)  # test-only: reproducible random initial weights
    config = tiny_config(kind, channels, size)
    if kind == "diffusion":
        return DiffusionModel.from_config(config)
    return {"gan": GAN, "vae": VAE, "classifier": Classifier}[kind](config).eval()


# --- datasets in torchvision's file formats ---------------------------------------------------


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x0803, n, h, w) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x0801, n) + labels.tobytes())


def fake_images(n: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k is a bright bar at row/column k (learnable, and visibly different per class)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, *shape), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + k, ...] = 250
    return images, labels


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (pickled batches), 64 train + 32 test images each."""
    root = tmp_path_factory.mktemp("data")
    for name in ("MNIST", "FashionMNIST"):
        for prefix, n, seed in (("train", 64, 1), ("t10k", 32, 2)):
            write_idx(root / name / "raw", prefix, *fake_images(n, (28, 28), seed))
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir()
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        x, y = fake_images(16, (32, 32, 3), 10 + i)
        batch = {"data": x.transpose(0, 3, 1, 2).reshape(16, -1), "labels": y.tolist()}
        (cifar / name).write_bytes(pickle.dumps(batch))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (cifar / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return root


def run_script(name: str, argv: list[str]) -> int:
    """Run scripts/<name>.py's main() in this process."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, data_root) -> Path:
    """A weights tree for "mnist" made the way the real one is: scripts/train.py (a dry run of each
    tiny model: weights, log, snapshot, summary), scripts/export_examples.py, precompute_maps.py,
    evaluate.py (the metrics and the diffusion sweep) and the manifest."""
    root = tmp_path_factory.mktemp("weights")
    for kind in ("gan", "vae", "diffusion", "classifier"):
        argv = ["--dataset", "mnist", "--family", kind, "--data-root", str(data_root), "--out", str(root / "mnist" / kind),
                "--checkpoint-dir", str(root.parent / f"ckpt-{kind}"), "--config", TINY_JSON[kind], "--batch-size", "16",
                "--snapshot-steps", "2", "--log-every", "1", "--dry-run"]  # fmt: skip
        assert run_script("train", argv) == 0
    teacher = root / "mnist" / "diffusion"  # and its distilled student, beside it as the shipped ones are
    assert run_script("train", ["--dataset", "mnist", "--family", "diffusion", "--data-root", str(data_root),
                                "--init-from", str(teacher), "--out", str(teacher / STUDENT_DIR), "--distill-steps", "2",
                                "--checkpoint-dir", str(root.parent / "ckpt-student"), "--batch-size", "16",
                                "--log-every", "1", "--dry-run"]) == 0  # fmt: skip
    assert run_script("export_examples", ["--dataset", "mnist", "--data-root", str(data_root), "--per-class", "3",
                                          "--out", str(root / "mnist" / weights.EXAMPLES)]) == 0  # fmt: skip
    weights.write_manifest(root)
    assert run_script("precompute_maps", ["--dataset", "mnist", "--n", "30", "--batch-size", "10",
                                          "--weights", str(root)]) == 0  # fmt: skip
    assert run_script("evaluate", ["--dataset", "mnist", "--data-root", str(data_root), "--n", "20", "--n-uncond", "10",
                                   "--n-any", "20", "--n-nearest", "5", "--batch-size", "10", "--steps", "2",
                                   "--weights", str(root)]) == 0  # fmt: skip
    assert run_script("evaluate", ["--dataset", "mnist", "--data-root", str(data_root), "--sweep", "--sweep-n", "20",
                                   "--sweep-steps", '{"ddpm": [2, 3], "ddim": [2], "distilled": [2]}', "--batch-size", "10",
                                   "--weights", str(root)]) == 0  # fmt: skip
    weights.clear_cache()
    return root


@pytest.fixture(scope="session")
def tiny_weights_both(tiny_weights, tmp_path_factory) -> Path:
    """The tiny weights for "mnist" and, copied, for "fashion" (same image shape and class count),
    so that a test can switch the page's dataset."""
    root = tmp_path_factory.mktemp("weights-both")
    shutil.copytree(tiny_weights / "mnist", root / "mnist")
    shutil.copytree(tiny_weights / "mnist", root / "fashion")
    own = '{"guidance_scale": 2.5, "scheduler": "ddpm", "num_inference_steps": 7}'  # a model's own sampler
    (root / "fashion" / "diffusion" / "sampling.json").write_text(own)
    shutil.rmtree(root / "fashion" / "diffusion" / STUDENT_DIR)  # a model without a distilled student
    gan_config = root / "fashion" / "gan" / "config.json"  # and a GAN's own truncation
    gan_config.write_text(json.dumps({**json.loads(gan_config.read_text()), "truncation": 0.5}))
    weights.write_manifest(root)
    return root


@contextlib.contextmanager
def served_app(weights_root: Path):
    """The app launched on `weights_root` (for a module of tests); the environment and the caches
    are restored afterwards. Yields the launched Blocks (its `local_url` is the address)."""
    from playground.ui import build_app, latent_tab, results
    from playground.ui.app import launch

    old = os.environ.get(weights.WEIGHTS_ENV)
    os.environ[weights.WEIGHTS_ENV] = str(weights_root)
    weights.clear_cache()
    latent_tab.clear_cache()
    results.clear()
    demo = build_app()
    launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield demo
    finally:
        demo.close()
        if old is None:
            os.environ.pop(weights.WEIGHTS_ENV, None)
        else:
            os.environ[weights.WEIGHTS_ENV] = old
        weights.clear_cache()
        latent_tab.clear_cache()
        results.clear()


def _pointed_at(root: Path, monkeypatch):
    """Point the library at `root` for one test, with every cache cleared before and after."""
    from playground.ui import latent_tab, results

    monkeypatch.setenv(weights.WEIGHTS_ENV, str(root))
    weights.clear_cache()
    latent_tab.clear_cache()
    results.clear()
    yield root
    weights.clear_cache()
    latent_tab.clear_cache()
    results.clear()


@pytest.fixture
def use_weights(tiny_weights, monkeypatch) -> Path:
    """Point the library at the tiny weights for one test."""
    yield from _pointed_at(tiny_weights, monkeypatch)


@pytest.fixture
def use_both_weights(tiny_weights_both, monkeypatch) -> Path:
    """Point the library at the tiny weights of both datasets for one test."""
    yield from _pointed_at(tiny_weights_both, monkeypatch)


def endpoints(demo) -> dict:
    """The app's API endpoints by name: its events with a function and an api_name of their own (a
    `cancels=` makes a helper event with no function; api_name=False events are named "false_N")."""
    return {
        f.api_name: f
        for f in demo.fns.values()
        if f.fn is not None and f.api_name and not f.api_name.startswith("false")
    }


def cells(picture, columns: int, captioned: bool = False, dataset: str = "mnist") -> list:
    """The images of a picture made by `common.picture` (a path or a PIL image), blank cells left out."""
    from PIL import Image

    from playground.ui import common

    picture = picture if hasattr(picture, "crop") else Image.open(picture)
    layout = common.tiling_of(dataset, picture, columns, captioned)
    found = [common.crop_cell(picture, layout, i) for i in range(layout.n)]
    return [c for c in found if c is not None]
