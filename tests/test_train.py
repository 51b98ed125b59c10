"""scripts/train.py end to end on tiny datasets in the real file formats."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import asdict

import pytest
import torch
from accelerate.state import AcceleratorState
from conftest import ROOT, TINY_JSON

from playground import weights
from playground.models.gan import GANConfig
from playground.models.vae import VAE
from playground.training.diffusion import min_snr_weights

spec = importlib.util.spec_from_file_location("train_script", ROOT / "scripts" / "train.py")
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
spec = importlib.util.spec_from_file_location("vae_prior_script", ROOT / "scripts" / "vae_prior.py")
vae_prior = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vae_prior)


def run(data_root, tmp_path, dataset, family, *extra) -> int:
    return train.main([
        "--dataset", dataset, "--family", family, "--data-root", str(data_root),
        "--out", str(tmp_path / "weights" / dataset / family), "--checkpoint-dir", str(tmp_path / "ckpt"),
        "--config", TINY_JSON[family], "--batch-size", "16", "--snapshot-steps", "2", "--log-every", "1", *extra,
    ])  # fmt: skip


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
@pytest.mark.parametrize("family", ["gan", "vae", "diffusion", "classifier"])
def test_dry_run_trains_saves_and_loads(data_root, tmp_path, dataset, family):
    out = tmp_path / "weights" / dataset / family
    (out / "training").mkdir(parents=True)
    (out / "training" / "epoch_009.png").write_bytes(b"an earlier model's grid")
    assert run(data_root, tmp_path, dataset, family, "--dry-run") == 0
    assert not (out / "training" / "epoch_009.png").exists()  # a fresh start removes stale grids
    log = [json.loads(line) for line in (out / "training" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "step"] == [1, 2]
    assert all(torch.isfinite(torch.tensor(v)) for r in log for k, v in r.items() if k.startswith("loss"))
    summary = json.loads((out / "training" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["hardware"]["cpu_cores"] >= 1
    if family != "classifier":
        assert (out / "training" / "epoch_001.png").is_file()
    else:
        assert 0 <= summary["test_accuracy"] <= 1
    recipe = summary["recipe"]  # the whole recipe: every argument, the seed, and the commit beside it
    assert recipe["dataset"] == dataset and recipe["family"] == family and recipe["seed"] == summary["seed"] == 0
    assert recipe["config"] == json.loads(TINY_JSON[family]) and recipe["batch_size"] == 16
    assert "commit" in summary and not {"out", "data_root", "checkpoint_dir"} & set(recipe)
    model = weights.load(dataset, family, tmp_path / "weights")
    if family != "classifier":
        channels = 3 if dataset == "cifar10" else 1
        kw = {"num_inference_steps": 2} if family == "diffusion" else {}
        assert model.sample(2, seed=0, class_labels=1, **kw).shape[1] == channels


def test_the_shipped_mnist_gan_retrains_from_its_own_recipe(data_root, tmp_path):
    """`--recipe weights/mnist/gan/training/summary.json` builds the shipped GAN again: the same
    config, the same recipe recorded (a dry run here; the real run is the same command without it)."""
    shipped = ROOT / "weights" / "mnist" / "gan"
    out = tmp_path / "again"
    argv = ["--recipe", str(shipped / "training" / "summary.json"), "--data-root", str(data_root),
            "--out", str(out), "--checkpoint-dir", str(tmp_path / "ckpt"), "--dry-run"]  # fmt: skip
    assert train.main(argv) == 0
    # a field the shipped config.json predates is the default it was trained with
    expected = asdict(GANConfig(**json.loads((shipped / "config.json").read_text())))
    assert json.loads((out / "config.json").read_text()) == expected
    again = json.loads((out / "training" / "summary.json").read_text())
    before = json.loads((shipped / "training" / "summary.json").read_text())
    assert {k: again["recipe"][k] for k in before["recipe"]} == before["recipe"]
    newer = {k: v for k, v in again["recipe"].items() if k not in before["recipe"]}
    # arguments newer than the recipe, at their defaults
    assert newer == {"distill_steps": None, "teacher_substeps": 2, "adversarial": None}
    assert again["recipe"]["epochs"] == before["epochs"] == 14 and again["lr_schedule"] == "constant"
    assert train.main([*argv, "--epochs", "3"]) == 0  # an argument given beside the recipe wins
    assert json.loads((out / "training" / "summary.json").read_text())["recipe"]["epochs"] == 3


def test_a_missing_recipe_is_a_clear_error(tmp_path):
    (tmp_path / "summary.json").write_text('{"dataset": "mnist"}')
    with pytest.raises(SystemExit, match="no recipe there"):
        train.main(["--recipe", str(tmp_path / "summary.json")])


def test_vae_regions_refit_without_training(data_root, tmp_path):
    assert run(data_root, tmp_path, "mnist", "vae", "--dry-run") == 0
    before = weights.load("mnist", "vae", tmp_path / "weights").class_means.clone()
    assert before.abs().sum() > 0  # fitted when training ended (they start at zero)
    assert run(data_root, tmp_path, "mnist", "vae", "--refit-regions") == 0
    weights.clear_cache()
    after = weights.load("mnist", "vae", tmp_path / "weights").class_means
    assert torch.allclose(before, after, atol=1e-5)  # the same model and data: the same regions
    assert run(data_root, tmp_path, "mnist", "classifier", "--refit") == 2  # nothing to refit


def test_held_out_likelihood_prefers_the_mixture_the_codes_come_from():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-4.0, 0.0], [4.0, 0.0]])  # each class: two clusters
    codes = centres[torch.randint(0, 2, (1200,), generator=g)] + 0.5 * torch.randn(1200, 2, generator=g)
    labels = torch.arange(1200) % 2
    scores = {k: vae_prior.held_out_scores(codes, labels, k) for k in (1, 2, 40)}
    assert scores[2][1] > scores[1][1] + 1  # one Gaussian cannot fit two clusters, held out either
    assert scores[40][0] > scores[2][0]  # 40 Gaussians fit the codes they saw more closely ...
    assert scores[40][1] < scores[40][0]  # ... and score worse on codes they did not see
    with pytest.raises(ValueError, match="too few"):
        vae_prior.held_out_scores(codes[:30], labels[:30], 10)


def test_vae_prior_compares_and_refits_the_number_of_gaussians(data_root, tmp_path, capsys):
    assert run(data_root, tmp_path, "mnist", "vae", "--dry-run") == 0
    folder = tmp_path / "weights" / "mnist" / "vae"
    argv = ["--dataset", "mnist", "--data-root", str(data_root), "--vae", str(folder)]
    assert vae_prior.main([*argv, "--components", "1,2,50"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^1 +-?\d+\.\d+ +-?\d+\.\d+$", out, re.M) and "too few for 50 Gaussians" in out
    assert re.search(r"best held out: K = [12]$", out, re.M)
    before = VAE.from_pretrained(folder)
    assert vae_prior.main([*argv, "--set", "2"]) == 0
    after = VAE.from_pretrained(folder)
    assert after.config.prior_components == 2 and after.class_means.shape == (10, 2, before.config.latent_dim)
    assert torch.equal(before.decoder[0].weight, after.decoder[0].weight)  # the networks are untouched
    assert torch.allclose(after.class_weights.sum(1), torch.ones(10, dtype=after.class_weights.dtype))
    assert after.sample(4, seed=0, class_labels=3).shape == (4, 1, 28, 28)
    summary = json.loads((folder / "training" / "summary.json").read_text())
    assert summary["prior_refit"].startswith("scripts/vae_prior.py --set 2")
    assert vae_prior.main([*argv, "--vae", str(tmp_path / "none")]) == 2
    with pytest.raises(SystemExit):
        vae_prior.main([*argv, "--components", "0,3"])


@pytest.mark.slow
def test_gan_batchnorm_refit_without_training(data_root, tmp_path):
    assert run(data_root, tmp_path, "mnist", "gan", "--dry-run") == 0
    summary = json.loads((tmp_path / "weights" / "mnist" / "gan" / "training" / "summary.json").read_text())
    assert "refitted" in summary["generator_batchnorm"]
    shipped = weights.load("mnist", "gan", tmp_path / "weights")
    stats = shipped.generator.fc[1].running_mean.clone()
    shipped.refit_batchnorm(seed=0)
    assert torch.equal(stats, shipped.generator.fc[1].running_mean)  # training ended with the same refit
    assert run(data_root, tmp_path, "mnist", "gan", "--refit", "--seed", "1") == 0
    weights.clear_cache()
    refitted = weights.load("mnist", "gan", tmp_path / "weights").generator.fc[1].running_mean
    assert not torch.equal(stats, refitted) and torch.allclose(stats, refitted, atol=0.1)  # other z, same weights
    summary = json.loads((tmp_path / "weights" / "mnist" / "gan" / "training" / "summary.json").read_text())
    assert "after training" in summary["generator_batchnorm"]


@pytest.mark.slow
def test_resume_continues_where_it_stopped(data_root, tmp_path):
    # 64 images, batch 16: 4 steps per epoch. Stop after 2, then resume up to 6.
    assert run(data_root, tmp_path, "mnist", "vae", "--steps", "2") == 0
    assert json.loads((tmp_path / "ckpt" / "progress.json").read_text())["step"] == 2
    assert run(data_root, tmp_path, "mnist", "vae", "--steps", "6", "--resume") == 0
    out = tmp_path / "weights" / "mnist" / "vae"
    summary = json.loads((out / "training" / "summary.json").read_text())
    assert summary["steps"] == 6
    epochs = [
        r["epoch"]
        for r in map(json.loads, (out / "training" / "log.jsonl").read_text().splitlines())
        if r["kind"] == "epoch"
    ]
    assert epochs == [1, 2]


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert run(tmp_path / "nothing", tmp_path, "mnist", "gan", "--dry-run") == 2
    assert "could not read MNIST" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gan", "diffusion"])
def test_init_from_trains_an_earlier_model_on(data_root, tmp_path, family):
    assert run(data_root, tmp_path, "mnist", family, "--dry-run") == 0
    first = tmp_path / "weights" / "mnist" / family
    on = tmp_path / "on"
    args = ["--dataset", "mnist", "--family", family, "--data-root", str(data_root), "--batch-size", "16",
            "--checkpoint-dir", str(tmp_path / "ckpt2"), "--snapshot-steps", "2", "--dry-run"]  # fmt: skip
    assert train.main([*args, "--out", str(on), "--init-from", str(first)]) == 0
    before = json.loads((first / "training" / "summary.json").read_text())
    summary = json.loads((on / "training" / "summary.json").read_text())
    assert summary["continued_from"] == before
    assert summary["total_wall_clock_s"] == pytest.approx(before["wall_clock_s"] + summary["wall_clock_s"], abs=0.2)
    assert (on / "training" / "before" / "log.jsonl").read_text() == (first / "training" / "log.jsonl").read_text()
    assert not [f for f in on.rglob("*.json") if str(tmp_path) in f.read_text()]  # no machine path shipped
    # the same architecture (the earlier model's config, not the default one), other weights
    first_files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*.json") if "training" not in p.parts)
    on_files = sorted(p.relative_to(on).as_posix() for p in on.rglob("*.json") if "training" not in p.parts)
    assert first_files == on_files
    for name in first_files:
        if name.endswith("config.json"):
            assert json.loads((first / name).read_text()) == json.loads((on / name).read_text())
    # an earlier model trained on in its own folder keeps its history too
    assert train.main([*args, "--out", str(on), "--init-from", str(on)]) == 0
    assert (on / "training" / "before" / "before" / "log.jsonl").is_file()
    # a config with --init-from, or nothing to start from: clear errors
    assert train.main([*args, "--out", str(on), "--init-from", str(first), "--config", '{"latent_dim": 4}']) == 2
    assert train.main([*args, "--out", str(on), "--init-from", str(tmp_path / "none")]) == 2


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one state per process, fixed by the first Accelerator: train.main runs in
    this process for every test, so a run at another precision needs it reset before and after."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gan", "diffusion"])
def test_bf16_trains_in_autocast_and_saves_fp32_weights(data_root, tmp_path, family, fresh_accelerate_state):
    assert run(data_root, tmp_path, "mnist", family, "--dry-run", "--precision", "bf16") == 0
    out = tmp_path / "weights" / "mnist" / family
    summary = json.loads((out / "training" / "summary.json").read_text())
    assert summary["precision"] == "bf16"
    log = [json.loads(line) for line in (out / "training" / "log.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(v)) for r in log for k, v in r.items() if k.startswith("loss"))
    model = weights.load("mnist", family, tmp_path / "weights")
    net = model.unet if family == "diffusion" else model
    assert {p.dtype for p in net.parameters()} == {torch.float32}  # autocast computes in bf16, stores fp32


@pytest.mark.slow
def test_bf16_reaches_the_gan_networks(data_root, tmp_path, fresh_accelerate_state):
    """The GAN step calls its two networks directly, not through the prepared model: the same seed at
    bf16 must give other losses than at fp32, or the autocast never reached them."""

    def losses(precision: str) -> list[float]:
        AcceleratorState._reset_state(reset_partial_state=True)
        assert run(data_root, tmp_path / precision, "mnist", "gan", "--dry-run", "--precision", precision) == 0
        log = (tmp_path / precision / "weights" / "mnist" / "gan" / "training" / "log.jsonl").read_text()
        return [r["loss_d"] for r in map(json.loads, log.splitlines()) if r["kind"] == "step"]

    fp32, bf16 = losses("fp32"), losses("bf16")
    assert len(fp32) == len(bf16) == 2
    assert fp32 != bf16


SCHEDULES = {  # flags: (summary's lr_schedule, the (D, G) learning rates after the last of 4 steps)
    (): ("constant", [2e-3, 1e-3]),
    ("--gan-lr-decay",): ("linear to 0", [0.0, 0.0]),
    ("--gan-lr-halve-at", "1"): ("halved after epoch 1", [1e-3, 5e-4]),
}


@pytest.mark.slow
@pytest.mark.parametrize("flags", list(SCHEDULES), ids=["constant", "decay", "halve"])
def test_gan_learning_rate_schedules(data_root, tmp_path, flags):
    # 32 images in batches of 16: two steps per epoch, so "epoch 1" ends at step 2 of 4
    extra = ["--steps", "4", "--limit", "32", "--lr", "1e-3", "--gan-d-lr", "2e-3"]
    assert run(data_root, tmp_path, "mnist", "gan", *extra, *flags) == 0
    summary = json.loads((tmp_path / "weights" / "mnist" / "gan" / "training" / "summary.json").read_text())
    assert summary["steps"] == 4
    schedule, rates = SCHEDULES[flags]
    assert summary["lr_schedule"] == schedule
    # the schedulers are saved with the training state (accelerate: scheduler.bin, scheduler_1.bin)
    last = [
        torch.load(tmp_path / "ckpt" / f, weights_only=True)["_last_lr"][0]
        for f in ("scheduler.bin", "scheduler_1.bin")
    ]
    assert last == pytest.approx(rates)


def test_gan_schedules_are_exclusive(data_root, tmp_path):
    with pytest.raises(SystemExit):
        run(data_root, tmp_path, "mnist", "gan", "--dry-run", "--gan-lr-decay", "--gan-lr-halve-at", "3")


def test_min_snr_weights_follow_the_formula():
    from diffusers import DDPMScheduler

    alpha_bar = DDPMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod
    w = min_snr_weights(alpha_bar, 5.0)
    snr = alpha_bar.double() / (1 - alpha_bar.double())
    assert w.shape == alpha_bar.shape and torch.all(w <= 1) and torch.all(w > 0)
    assert torch.all(w[snr <= 5] == 1)  # the noisy timesteps keep their weight
    assert torch.allclose(w[snr > 5].double(), 5 / snr[snr > 5])  # the clean ones weigh gamma / SNR
    assert (snr > 5).any() and (snr <= 5).any()
    assert w[0] < 0.01  # the nearly clean first timestep counts for almost nothing


@pytest.mark.slow
def test_min_snr_gamma_weights_the_diffusion_loss(data_root, tmp_path):
    def first_loss(folder, *extra):
        assert run(data_root, tmp_path / folder, "mnist", "diffusion", "--dry-run", *extra) == 0
        log = tmp_path / folder / "weights" / "mnist" / "diffusion" / "training"
        summary = json.loads((log / "summary.json").read_text())
        return json.loads((log / "log.jsonl").read_text().splitlines()[0])["loss"], summary["loss_weighting"]

    plain, plain_kind = first_loss("plain")
    weighted, weighted_kind = first_loss("weighted", "--min-snr-gamma", "5")
    assert (plain_kind, weighted_kind) == ("unweighted", "Min-SNR, gamma 5")
    # the same seed, so the same batch, timesteps and noise: only the weights (all <= 1) differ
    assert weighted < plain
    for bad in (["--min-snr-gamma", "0"], ["--min-snr-gamma", "-1"]):
        with pytest.raises(SystemExit):
            run(data_root, tmp_path / "bad", "mnist", "diffusion", "--dry-run", *bad)
    with pytest.raises(SystemExit):
        run(data_root, tmp_path / "bad", "mnist", "gan", "--dry-run", "--min-snr-gamma", "5")


def test_precision_is_checked(data_root, tmp_path):
    with pytest.raises(SystemExit):
        run(data_root, tmp_path, "mnist", "diffusion", "--dry-run", "--precision", "fp8")


def test_bench_training_prints_a_figure_per_size_and_precision(capsys):
    spec = importlib.util.spec_from_file_location("bench_training", ROOT / "scripts" / "bench_training.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tiny = TINY_JSON["diffusion"]
    assert bench.main(["--config", tiny, "--batch-size", "4", "--steps", "1", "--train-images", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("batch 4, 2 steps per epoch")
    assert [line.split("  ")[-1].split(":")[0] for line in lines[1:]] == ["fp32", "bf16"]
    assert all("ms/step" in line and "M parameters" in line for line in lines[1:])
    assert bench.main(["--config", '{"no_such_field": 1}']) == 2
    assert "DiffusionConfig" in capsys.readouterr().err
