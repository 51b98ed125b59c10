"""Live training (playground/live.py, the "Train it yourself" tab's handlers) on the tiny weights'
training subset: it trains with the project's own trainers, pauses and resumes, resets, refuses
bad settings and lets one visitor train at a time."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
from conftest import _pointed_at, run_script

from playground import live
from playground.live import LiveRun, Settings
from playground.ui import train_tab


class Visitor:
    def __init__(self, name: str):
        self.session_hash = name


def settings(family: str = "vae", **kw) -> Settings:
    return Settings(family, "mnist", kw.pop("lr", live.DEFAULT_LR[family]), **kw)


@pytest.mark.parametrize("family", ["gan", "vae", "diffusion"])
def test_a_run_trains_with_the_project_trainer_and_draws_its_grid(use_weights, family, monkeypatch):
    monkeypatch.setattr(live, "SNAPSHOT_STEPS", 2)
    run = LiveRun(settings(family, images=100))
    before = run.samples()
    assert before.shape == (10 * run.per_class, 1, 28, 28) and before.min() >= 0 and before.max() <= 1
    assert run.train_for(0.5) >= 1 and run.step >= 1 and 0 < run.seconds < live.BUDGET_S
    while run.step < 2:  # a busy machine may take one step a slice; a warm-up's first step has lr 0
        run.train_for(0.5)
    assert set(run.history[-1]) - {"step", "seconds"}  # the family's own losses
    assert all(torch.isfinite(torch.tensor(v)) for v in run.history[-1].values())
    assert not torch.equal(before, run.samples())  # the weights moved


def test_the_live_diffusion_model_warms_up_in_a_few_steps(use_weights):
    run = LiveRun(settings("diffusion", images=100))
    assert run.trainer.sched.get_last_lr()[0] == 0  # diffusers' warm-up starts at 0 ...
    while run.step < live.WARMUP_STEPS:
        run.train_for(0.5)
    full = pytest.approx(live.DEFAULT_LR["diffusion"], rel=1e-3)
    assert run.trainer.sched.get_last_lr()[0] == full  # ... and the full rate after it


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"family": "flow"}, "family must be one of"),
        ({"lr": 1.0}, "learning rate must be"),
        ({"latent_dim": 0}, "latent size must be"),
        ({"beta": -1.0}, "beta must be"),
        ({"images": 5}, "training images must be"),
        ({"dataset": "imagenet"}, "unknown dataset"),
    ],
)
def test_bad_settings_are_refused_with_what_is_allowed(kw, message):
    base = {"family": "vae", "dataset": "mnist", "lr": 1e-3}
    with pytest.raises(Exception, match=message):
        Settings(**(base | kw)).checked()


def test_a_run_stops_at_its_budget(use_weights, monkeypatch):
    monkeypatch.setattr(live, "BUDGET_S", 0.3)
    run = LiveRun(settings(images=100))
    run.train_for(5.0)
    assert run.budget_left == 0 and run.seconds < 1.5
    assert run.train_for(1.0) == 0


def test_a_slice_stops_at_the_step_count_nearest_its_time(use_weights, monkeypatch):
    """With steps of 0.1 s, a 0.12 s slice takes one step, not the two that would overrun it by
    0.08 s (a diffusion step is most of the Train tab's slice); the budget's end is still spent."""
    run = LiveRun(settings(images=100))

    def slow(x, y):
        time.sleep(0.1)
        return {"loss": 0.0}

    monkeypatch.setattr(run.trainer, "step", slow)
    assert run.train_for(0.12) == 1
    monkeypatch.setattr(live, "BUDGET_S", run.seconds + 0.12)
    assert run.train_for(5.0) >= 1 and run.budget_left == 0  # spent to its end: the last step overruns it


def take(stream, n: int) -> list:
    return [next(stream) for _ in range(n)]


def test_pause_keeps_the_run_and_train_goes_on_from_there_and_reset_starts_again(use_weights, monkeypatch):
    monkeypatch.setattr(train_tab, "SLICE_S", 0.1)
    me = Visitor("pause-resume")
    args = ("mnist", "vae", 1e-3, 8, 1.0, 100)
    stream = train_tab.live_train(*args, request=me)
    take(stream, 2)
    stream.close()  # what Pause (an event cancelled) or a visitor leaving does to the stream
    step = train_tab._runs["pause-resume"].step
    assert step > 0 and "Paused at step" in train_tab.live_pause(request=me)
    stream = train_tab.live_train(*args, request=me)
    *_, status = next(stream)
    stream.close()
    assert train_tab._runs["pause-resume"].step > step and "step" in status
    _, _, status = train_tab.live_reset(*args, request=me)
    assert train_tab._runs["pause-resume"].step == 0 and "not trained yet" in status


def test_pause_alone_ends_the_stream_and_an_update_on_its_way_says_paused(use_weights, monkeypatch):
    """An API client may call /live_pause without cancelling the stream, and the page's cancel may
    come after an update is already on its way: either way the stream stops, its last status says
    Paused, and Train goes on."""
    monkeypatch.setattr(train_tab, "SLICE_S", 0.05)
    me = Visitor("pause-alone")
    args = ("mnist", "vae", 1e-3, 8, 1.0, 100)
    stream = train_tab.live_train(*args, request=me)
    next(stream)
    assert "Paused at step" in train_tab.live_pause(request=me)
    with pytest.raises(StopIteration):
        next(stream)
    assert not train_tab._slot.locked() and not train_tab._line
    stream = train_tab.live_train(*args, request=me)
    *_, status = next(stream)
    assert "Paused" not in status and "step" in status
    run = train_tab._runs["pause-alone"]
    step = run.trainer.step

    def paused_meanwhile(x, y):  # Pause pressed while this slice trains
        train_tab.live_pause(request=me)
        return step(x, y)

    monkeypatch.setattr(run.trainer, "step", paused_meanwhile)
    *_, status = next(stream)
    assert f"Paused at step {run.step:,}" in status
    with pytest.raises(StopIteration):
        next(stream)


def test_one_visitor_trains_at_a_time_and_the_next_hears_where_they_are(use_weights, monkeypatch):
    monkeypatch.setattr(train_tab, "SLICE_S", 0.05)
    monkeypatch.setattr(train_tab, "WAIT_S", 0.01)
    first = train_tab.live_train("mnist", "vae", 1e-3, 8, 1.0, 100, request=Visitor("first"))
    next(first)  # training: it holds the one slot
    second = train_tab.live_train("mnist", "vae", 1e-3, 8, 1.0, 100, request=Visitor("second"))
    _, _, waiting = next(second)
    assert "number 1 in line" in waiting
    assert train_tab._runs["second"].step == 0
    first.close()  # paused: the slot is free
    *_, status = next(second)
    second.close()
    assert "step" in status and train_tab._runs["second"].step > 0
    assert not train_tab._slot.locked() and not train_tab._line


def test_a_waiting_visitor_who_leaves_gives_up_their_place(use_weights, monkeypatch):
    monkeypatch.setattr(train_tab, "SLICE_S", 0.05)
    first = train_tab.live_train("mnist", "vae", 1e-3, 8, 1.0, 100, request=Visitor("a"))
    next(first)
    waiting = train_tab.live_train("mnist", "vae", 1e-3, 8, 1.0, 100, request=Visitor("b"))
    next(waiting)
    assert len(train_tab._line) == 2
    waiting.close()
    first.close()
    assert not train_tab._line and not train_tab._slot.locked()


def test_the_bias_script_measures_both_models_and_the_tab_draws_them(data_root, tiny_weights, tmp_path, monkeypatch):
    """scripts/bias.py (dry run): the same tiny VAE on the whole data and with class 3 cut to half;
    bias.json holds both training histograms and both models' sample histograms; the tab draws them."""
    root = tmp_path / "weights"
    shutil.copytree(tiny_weights, root)
    argv = ["--dataset", "mnist", "--data-root", str(data_root), "--cut-class", "3", "--keep", "0.5", "--n", "40",
            "--dry-run", "--weights", str(root)]  # fmt: skip
    assert run_script("bias", argv) == 0
    b = json.loads((root / "mnist" / "bias.json").read_text())
    balanced, skewed = b["models"]["balanced"], b["models"]["skewed"]
    assert skewed["training"][3] < balanced["training"][3] and skewed["training"][4] == balanced["training"][4]
    assert all(sum(m[mode]) == 40 for m in (balanced, skewed) for mode in ("unconditional", "any"))
    assert b["cut_class_name"] == "3" and b["verdict"] and "scripts/bias.py" in b["command"]
    gen = _pointed_at(root, monkeypatch)
    next(gen)
    trained_on, made, text = train_tab.bias_view("mnist")
    assert trained_on.size[0] > 100 and made.size[0] > 100 and b["verdict"] in text
    assert train_tab.bias_view("fashion") == (
        None,
        None,
        "*no bias.json for fashion: run python scripts/bias.py --dataset fashion*",
    )


def test_the_failure_modes_script_measures_each_failure_and_the_tab_shows_it(
    data_root, tiny_weights, tmp_path, monkeypatch
):
    """scripts/failure_modes.py (dry run) writes posterior collapse's KL and map order, copying's
    nearest-image distances, mode collapse's class histograms and no guidance's class accuracy; the
    tab's table shows them beside the sweep's too-few-steps figure. A run of one mode keeps the others."""
    root = tmp_path / "weights"
    shutil.copytree(tiny_weights, root)
    argv = ["--dataset", "mnist", "--data-root", str(data_root), "--few", "10", "--n", "20", "--dry-run",
            "--weights", str(root)]  # fmt: skip
    assert run_script("failure_modes", argv) == 0
    f = json.loads((root / "mnist" / "failure_modes.json").read_text())
    assert set(f["posterior_collapse"]["collapsed"]) == {"kl_nats", "map_neighbour_agreement"}
    assert set(f["copying"]["median_nearest_l2"]) == {"trained on the few", "trained on all", "real test images"}
    mc = f["mode_collapse"]
    for name in ("stabilised", "unstabilised"):
        assert len(mc[name]["unconditional_histogram"]) == 10 and 1 <= mc[name]["effective_classes"] <= 10
    assert mc["unstabilised"]["arguments"]["config"]["spectral_norm"] is False
    assert mc["unstabilised"]["arguments"]["gan_ema"] == 0
    ng = f["no_guidance"]
    assert ng["unguided"]["options"]["guidance_scale"] == 1.0 != ng["guided"]["options"]["guidance_scale"]
    modes = ("posterior_collapse", "copying", "mode_collapse", "no_guidance")
    assert all("scripts/failure_modes.py" in f[mode]["command"] for mode in modes)
    assert run_script("failure_modes", [*argv, "--modes", "no_guidance"]) == 0
    again = json.loads((root / "mnist" / "failure_modes.json").read_text())
    assert again["copying"] == f["copying"] and "--modes no_guidance" in again["no_guidance"]["command"]
    gen = _pointed_at(root, monkeypatch)
    next(gen)
    table = train_tab.failure_modes("mnist")
    for failure in ("posterior collapse", "copying", "too few denoising steps", "mode collapse", "no guidance"):
        assert f"**{failure}" in table
    assert f"{f['posterior_collapse']['normal']['kl_nats']:.1f} nats" in table
    assert f"{mc['unstabilised']['effective_classes']:.1f} without" in table


def test_gan_stabilisers_off_train_without_spectral_norm_or_weight_average(use_weights):
    """The Train tab's mode-collapse switch: the same small GAN, its discriminator unconstrained,
    both networks at one learning rate and no weight average; on, the discriminator learns faster."""
    on, off = settings("gan"), settings("gan", stabilisers=False)
    assert "spectral_norm" not in on.config() and off.config()["spectral_norm"] is False
    assert on.arguments()["gan_d_lr"] == live.GAN_D_LR_FACTOR * on.lr and off.arguments()["gan_d_lr"] == off.lr
    assert off.arguments()["gan_ema"] == 0.0 and "gan_ema" not in on.arguments()
    run = LiveRun(settings("gan", images=100, stabilisers=False))
    names = [n for n, _ in run.trainer.gan.discriminator.named_parameters()]
    assert names and not any("parametrizations" in n for n in names)  # no spectral norm
    assert run.train_for(0.3) >= 1
    with pytest.raises(Exception, match="stabilisers must be true or false"):
        train_tab.live_preview("mnist", "gan", 2e-4, 16, 1.0, 100, "yes")
