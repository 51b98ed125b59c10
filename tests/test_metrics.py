"""The measuring tools, on cases whose answers are known, and scripts/evaluate.py end to end."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from conftest import ROOT, build_tiny

from playground.metrics import (
    fid_score,
    histogram,
    make_fid,
    nearest_distances,
    precision_recall,
    speed_machines,
    training_cost,
)
from playground.models.diffusion import DEFAULT_SCHEDULER


def test_precision_recall_known_cases():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 4, generator=g)
    same = torch.randn(400, 4, generator=g)
    p, r = precision_recall(real, same, k=3)
    assert p > 0.9 and r > 0.9
    collapsed = real[:5].repeat(80, 1) + 1e-3 * torch.randn(400, 4, generator=g)  # a mode-collapsed generator
    p, r = precision_recall(real, collapsed, k=3)
    assert p > 0.9 and r < 0.2
    far = same + 10
    p, r = precision_recall(real, far, k=3)
    assert p == 0 and r == 0


def test_nearest_neighbour_of_a_training_image_is_itself():
    train = torch.rand(300, 784, generator=torch.Generator().manual_seed(1))
    d, i = nearest_distances(train[[5, 17, 250]], train)
    assert d.tolist() == [0, 0, 0] and i.tolist() == [5, 17, 250]


def test_fid_uses_our_classifier_and_sees_a_shift():
    clf = build_tiny("classifier", 1, 8)
    g = torch.Generator().manual_seed(0)
    real = torch.rand(200, 1, 8, 8, generator=g)
    fid = make_fid(clf)
    for b in real.split(100):
        fid.update(b, real=True)
    close = fid_score(fid, torch.rand(200, 1, 8, 8, generator=g))
    far = fid_score(fid, torch.rand(200, 1, 8, 8, generator=g) * 0.2)
    assert 0 <= close < far


@pytest.fixture
def evaluate():
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "scripts" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_writes_every_figure_with_its_method(evaluate, use_weights, data_root, tmp_path):
    out = tmp_path / "metrics.json"
    argv = ["--dataset", "mnist", "--data-root", str(data_root), "--n", "20", "--n-uncond", "10", "--n-any", "20",
            "--n-nearest", "5", "--batch-size", "10", "--steps", "2", "--out", str(out)]  # fmt: skip
    assert evaluate.main(argv) == 0
    m = json.loads(out.read_text())
    assert m["real_data"]["fid"] >= 0 and "test set" in m["real_data"]["method"]
    assert set(m["families"]) == {"gan", "vae", "diffusion"}
    for r in m["families"].values():
        assert r["n"] == 20 and r["class_accuracy_n"] == 20 and 0 <= r["class_accuracy"] <= 1
        assert "rounded to 8 bits" in r["samples"]
        assert sum(r["unconditional_histogram"]) == 10
        assert r["any"]["n"] == 20 and r["any"]["fid_over_conditional"] == pytest.approx(r["any"]["fid"] / r["fid"])
        assert 0 <= r["any"]["precision"] <= 1 and "training set's class shares" in r["any"]["samples"]
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
        assert r["ms_per_image"] > 0 and r["parameters"] > 0 and r["bytes"] > 0
        assert r["fid_over_floor"] == pytest.approx(r["fid"] / m["real_data"]["fid"])
    assert (
        m["families"]["diffusion"]["nfe"] == 4
        and f"{DEFAULT_SCHEDULER}, 2 steps" in m["families"]["diffusion"]["sampler"]
    )
    assert all(r["hardware"] == m["hardware"] for r in m["families"].values())  # each family's own machine
    assert all(r["arithmetic"] == "fp32" for r in m["families"].values())
    assert "classifier" in m["feature_extractor"]
    for r in [m["real_data"], *m["families"].values()]:
        assert sum(r["nearest_train_pixel_l2_histogram"]["counts"]) == 5


def test_evaluating_some_families_keeps_the_others(evaluate, use_weights, data_root, tmp_path):
    out = tmp_path / "metrics.json"
    base = ["--dataset", "mnist", "--data-root", str(data_root), "--n", "20", "--n-uncond", "10", "--n-any", "20",
            "--n-nearest", "5", "--batch-size", "10", "--steps", "2", "--out", str(out)]  # fmt: skip
    assert evaluate.main([*base, "--families", "gan", "vae"]) == 0
    first = json.loads(out.read_text())["families"]
    assert evaluate.main([*base, "--families", "vae", "--seed", "0"]) == 0
    second = json.loads(out.read_text())["families"]
    assert set(second) == {"gan", "vae"}
    assert second["gan"] == first["gan"]  # kept as measured, with its own command
    assert "--families gan vae" in second["gan"]["command"] and "--families vae" in second["vae"]["command"]


def test_evaluate_runs_the_unet_in_the_precision_asked(evaluate, use_weights, data_root, tmp_path, monkeypatch):
    ran = []
    real = torch.autocast

    def autocast(*args, **kw):  # record the UNet's bf16 passes
        ran.append(kw.get("dtype"))
        return real(*args, **kw)

    monkeypatch.setattr(torch, "autocast", autocast)
    out = tmp_path / "sweep.json"
    argv = ["--dataset", "mnist", "--data-root", str(data_root), "--sweep", "--sweep-n", "10", "--batch-size", "10",
            "--sweep-steps", '{"dpm++": [2]}', "--precision", "bf16", "--out", str(out)]  # fmt: skip
    assert evaluate.main(argv) == 0
    assert json.loads(out.read_text())["arithmetic"] == "bf16" and torch.bfloat16 in ran
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--dataset", "mnist", "--precision", "fp16"])


def test_speed_says_which_machine_measured_each_family():
    m = {"hardware": {"cpu": "B", "cpu_cores": 2}, "families": {
        "gan": {"hardware": {"cpu": "A", "cpu_cores": 2}}, "vae": {}, "diffusion": {"hardware": {"cpu": "A", "cpu_cores": 2}}}}  # fmt: skip
    assert speed_machines(m) == "gan, diffusion: A, 2 cores; vae: B, 2 cores"


def test_histogram_counts_every_value_once():
    h = histogram(torch.tensor([0.0, 0.4, 0.5, 19.9, 25.0, -1.0]))
    assert h["counts"][:2] == [3, 1] and h["counts"][-1] == 2 and sum(h["counts"]) == 6
    assert len(h["edges"]) == len(h["counts"]) + 1


def test_training_cost_adds_up_a_model_trained_on():
    first = {"epochs": 5, "wall_clock_s": 1800, "hardware": {"cpu": "AMD EPYC", "cpu_cores": 2}}
    later = {"epochs": 10, "wall_clock_s": 3000, "hardware": {"cpu": "Intel(R) Xeon(R) Processor", "cpu_cores": 2},
             "continued_from": first}  # fmt: skip
    assert training_cost(first) == "5 epochs, 30 min on AMD EPYC, 2 cores"
    assert training_cost(later) == "15 epochs, 80 min on AMD EPYC, 2 cores then Intel Xeon, 2 cores"


def test_evaluate_rounds_samples_to_8_bits_like_the_real_images(evaluate):
    class Smooth:  # a model whose samples fall between the 8-bit levels
        def sample(self, n, seed, class_labels=None):
            return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))

    raw = torch.cat([Smooth().sample(2, 0), Smooth().sample(2, 1), Smooth().sample(1, 2)])
    x = evaluate.sample_many(Smooth(), 5, None, 0, 2)
    assert not torch.equal(raw * 255, (raw * 255).round())
    assert x.shape == raw.shape and torch.equal(x * 255, (x * 255).round())  # on the 8-bit grid
    assert (x - raw).abs().max() <= 0.5 / 255 + 1e-7  # the nearest level
