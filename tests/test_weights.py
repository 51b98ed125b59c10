"""Loading weights: the manifest catches damage, and every failure is a clear WeightsError."""

from __future__ import annotations

import shutil

import pytest

from playground import weights


@pytest.fixture
def tree(tiny_weights, tmp_path):
    root = tmp_path / "weights"
    shutil.copytree(tiny_weights, root)
    weights.clear_cache()
    yield root
    weights.clear_cache()


@pytest.mark.parametrize("kind", ["gan", "vae", "diffusion", "classifier"])
def test_every_kind_loads_and_is_cached(tree, kind):
    m = weights.load("mnist", kind, tree)
    assert weights.load("mnist", kind, tree) is m
    assert weights.available(tree) == {"mnist": ["gan", "vae", "diffusion", "classifier"]}


def test_flipped_byte_is_caught(tree):
    f = tree / "mnist" / "gan" / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="mnist/gan/model.safetensors is damaged"):
        weights.load("mnist", "gan", tree)
    weights.load("mnist", "vae", tree)  # the others still load


def test_truncated_file_without_manifest_is_still_a_clear_error(tree):
    (tree / weights.MANIFEST).unlink()
    f = tree / "mnist" / "diffusion" / "unet" / "diffusion_pytorch_model.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(weights.WeightsError, match="could not load the diffusion weights"):
        weights.load("mnist", "diffusion", tree)


def test_a_bad_guidance_in_the_sampling_file_is_a_clear_error(tree):
    (tree / weights.MANIFEST).unlink()  # not caught by the manifest: the file itself says something wrong
    (tree / "mnist" / "diffusion" / "sampling.json").write_text('{"guidance_scale": 1e9}')
    with pytest.raises(weights.WeightsError, match="could not load the diffusion weights.*guidance scale must be"):
        weights.load("mnist", "diffusion", tree)


def test_missing_file_listed_in_manifest(tree):
    (tree / "mnist" / "vae" / "model.safetensors").unlink()
    with pytest.raises(weights.WeightsError, match="missing"):
        weights.load("mnist", "vae", tree)


def test_missing_folder_says_how_to_train(tree):
    shutil.rmtree(tree / "mnist" / "gan")
    with pytest.raises(weights.WeightsError, match="no gan weights for MNIST.*scripts/train.py"):
        weights.load("mnist", "gan", tree)
    with pytest.raises(weights.WeightsError, match="no vae weights for Fashion-MNIST"):
        weights.load("fashion", "vae", tree)


def test_manifest_is_sha256sum_format(tree):
    lines = (tree / weights.MANIFEST).read_text().splitlines()
    assert lines and all(len(line.split("  ")[0]) == 64 for line in lines)
    assert any(line.endswith("mnist/diffusion/unet/diffusion_pytorch_model.safetensors") for line in lines)


def test_step_records_drop_partial_windows_of_old_logs():
    old = [
        {"kind": "step", "epoch": 1, "step": 100},
        {"kind": "epoch", "epoch": 1, "step": 150},
        {"kind": "step", "epoch": 2, "step": 200},  # averaged 50 steps but divided by 100: dropped
        {"kind": "step", "epoch": 2, "step": 300},
        {"kind": "step", "epoch": 3, "step": 400, "window": 100},  # new logs say their window
    ]
    assert [r["step"] for r in weights.step_records(old)] == [100, 300, 400]
