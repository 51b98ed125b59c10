"""`python -m playground`: samples to .npz and .png, `info`, and one clear line for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from playground import cli, weights
from playground.data import DATASETS, draw_classes


def test_sample_npz(use_weights, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert (
        cli.main(
            [
                "sample",
                "--dataset",
                "mnist",
                "--family",
                "gan",
                "--n",
                "5",
                "--label",
                "3",
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = np.load(out)
    assert data["images"].shape == (5, 28, 28) and data["images"].dtype == np.uint8
    assert data["labels"].tolist() == [3] * 5
    assert "network evaluation" in capsys.readouterr().out
    # the same seed gives the same file contents
    out2 = tmp_path / "t.npz"
    cli.main(
        [
            "sample",
            "--dataset",
            "mnist",
            "--family",
            "gan",
            "--n",
            "5",
            "--label",
            "3",
            "--seed",
            "1",
            "--out",
            str(out2),
        ]
    )
    assert np.array_equal(np.load(out2)["images"], data["images"])


def test_sample_any_class_and_png_grid(use_weights, tmp_path):
    out = tmp_path / "grid.png"
    args = ["sample", "--dataset", "mnist", "--family", "diffusion", "--n", "4", "--steps", "2", "--scheduler", "ddim"]
    assert cli.main([*args, "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 4 * 28
    npz = tmp_path / "a.npz"
    assert cli.main([*args, "--out", str(npz)]) == 0
    assert np.load(npz)["labels"].tolist() == draw_classes(DATASETS["mnist"], 4, 0).tolist()  # each drawn from p(y)
    assert cli.main([*args, "--label", "unconditional", "--out", str(npz)]) == 0
    assert np.load(npz)["labels"].tolist() == [-1] * 4  # no class given


def test_info_lists_weights(use_weights, capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "diffusion" in out and "classifier" in out


BAD = [
    (["sample", "--dataset", "svhn", "--family", "gan", "--out", "x.npz"], "unknown dataset"),
    (["sample", "--dataset", "mnist", "--family", "flow", "--out", "x.npz"], "unknown family"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--label", "10", "--out", "x.npz"], "out of range"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--label", "cat", "--out", "x.npz"], "unknown class"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--n", "0", "--out", "x.npz"], "--n must be"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--n", "1000000", "--out", "x.npz"], "--n must be"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--n", "many", "--out", "x.npz"], "invalid int"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--seed", "-3", "--out", "x.npz"], "--seed"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--out", "x.jpg"], ".npz or .png"),
    (["sample", "--dataset", "mnist", "--family", "diffusion", "--steps", "0", "--out", "x.npz"], "--steps"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--truncation", "0", "--out", "x.npz"], "--truncation"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--truncation", "1.5", "--out", "x.npz"], "--truncation"),
    (["sample", "--dataset", "mnist", "--family", "gan", "--steps", "4", "--out", "x.npz"], "--steps does not apply"),
    (["sample", "--dataset", "mnist", "--family", "vae", "--truncation", "1", "--out", "x.npz"], "does not apply"),
    (
        ["sample", "--dataset", "mnist", "--family", "diffusion", "--scheduler", "euler", "--out", "x.npz"],
        "unknown scheduler",
    ),
    (["sample", "--dataset", "fashion", "--family", "gan", "--out", "x.npz"], "no gan weights for Fashion-MNIST"),
    (["sample", "--dataset", "mnist"], "required"),
    (["explode"], "invalid choice"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[1:5]) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(use_weights, tmp_path, capsys, argv, message):
    argv = [str(tmp_path / a) if a.startswith("x.") else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.slow
def test_as_a_process(use_weights, tmp_path):
    env = {**os.environ, weights.WEIGHTS_ENV: str(use_weights)}
    cmd = [sys.executable, "-m", "playground", "sample", "--dataset", "mnist", "--family", "vae", "--n", "3"]
    ok = subprocess.run([*cmd, "--out", str(tmp_path / "v.npz")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert np.load(tmp_path / "v.npz")["images"].shape == (3, 28, 28)
    bad = subprocess.run(
        [*cmd, "--label", "11", "--out", str(tmp_path / "v.npz")], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["error: class 11 is out of range for MNIST: use 0-9"]


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.py")))
def test_every_script_starts_as_the_readme_runs_it(script):
    """`python scripts/NAME.py --help` in a new process: each script imports what it needs as an
    installed package, with no path tricks (a script that imported a sibling once failed so)."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run(
        [sys.executable, f"scripts/{script}", "--help"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout
