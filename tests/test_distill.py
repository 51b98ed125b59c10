"""Progressive distillation (playground/training/distill.py): its DDIM algebra against diffusers'
sampler, and `scripts/train.py --distill-steps` end to end on a tiny teacher."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY_JSON, build_tiny
from diffusers import DDIMScheduler, DDPMScheduler
from test_train import run, train

from playground import weights
from playground.models import DiffusionModel
from playground.training.distill import Distillation, Schedule, ddim_step, one_step_target, student_timesteps


def v_scheduler() -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 16])
def test_the_student_steps_where_the_ddim_sampler_steps(steps):
    ddim = DDIMScheduler.from_config(v_scheduler().config, timestep_spacing="trailing")
    ddim.set_timesteps(steps)
    assert student_timesteps(1000, steps).tolist() == ddim.timesteps.tolist()


def test_a_ddim_step_is_diffusers_ddim_step():
    """With no clipping, our step from (z_t, x0) is diffusers' DDIM step from the v that implies x0,
    the last step included (to the clean image)."""
    noise = v_scheduler()
    ddim = DDIMScheduler.from_config(noise.config, timestep_spacing="trailing", clip_sample=False)
    ddim.set_timesteps(4)
    s = Schedule(noise.alphas_cumprod)
    g = torch.Generator().manual_seed(0)
    z, v = torch.randn(3, 1, 6, 6, generator=g), torch.randn(3, 1, 6, 6, generator=g) * 0.3
    for t in ddim.timesteps:
        tt = torch.full((3,), int(t))
        a, sigma = s.at(tt, z)
        ours = ddim_step(s, z, a * z - sigma * v, tt, tt - 250)
        theirs = ddim.step(v, t, z).prev_sample
        assert torch.allclose(ours, theirs, atol=1e-5), int(t)


def test_the_one_step_target_lands_where_the_teacher_does():
    s = Schedule(v_scheduler().alphas_cumprod)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4, 1, 6, 6, generator=g)
    t, t_end = torch.tensor([999, 749, 499, 249]), torch.tensor([749, 499, 249, -1])
    z_end = torch.randn(4, 1, 6, 6, generator=g)
    x = one_step_target(s, z, z_end, t, t_end)
    assert torch.allclose(ddim_step(s, z, x, t, t_end), z_end, atol=1e-4)
    # a teacher whose clean image never changes takes two steps to where one step with it goes
    c = torch.rand(4, 1, 6, 6, generator=g) * 2 - 1
    mid = (t + t_end) // 2
    two = ddim_step(s, ddim_step(s, z, c, t, mid), c, mid, t_end)
    assert torch.allclose(one_step_target(s, z, two, t, t_end), c, atol=1e-3)


def test_the_targets_of_a_teacher_and_their_weights():
    teacher = build_tiny("diffusion")
    d = Distillation(teacher, steps=2, guidance=1.5)
    assert not any(p.requires_grad for p in teacher.parameters())
    torch.manual_seed(0)
    t, mid, end = d.sample_t(64, "cpu")
    assert set(t.tolist()) == {999, 499} and (end == t - 500).all() and ((mid > end) & (mid < t)).all()
    z = torch.randn(4, 1, 8, 8)
    y = torch.tensor([0, 3, 10, 10])  # two rows of the null class
    t, mid, end = (
        torch.tensor([999, 499, 999, 499]),
        torch.tensor([749, 249, 749, 249]),
        torch.tensor([499, -1, 499, -1]),
    )
    x = d.target(z, y, t, mid, end)
    assert x.shape == z.shape and torch.isfinite(x).all()
    w = d.weight(t, z)
    assert (w >= 1).all() and w[0].item() == 1.0  # max(SNR, 1): the noisiest step weighs 1


@pytest.mark.slow
def test_a_student_is_distilled_from_a_teacher_and_samples_in_its_steps(data_root, tmp_path):
    assert run(data_root, tmp_path, "mnist", "diffusion", "--dry-run") == 0
    teacher = tmp_path / "weights" / "mnist" / "diffusion"
    student = tmp_path / "student"
    args = ["--dataset", "mnist", "--family", "diffusion", "--data-root", str(data_root), "--batch-size", "16",
            "--checkpoint-dir", str(tmp_path / "ckpt2"), "--log-every", "1", "--dry-run", "--out", str(student),
            "--init-from", str(teacher)]  # fmt: skip
    assert train.main([*args, "--distill-steps", "2"]) == 0
    model = DiffusionModel.from_pretrained(student)
    assert model.prediction_type == "v_prediction"
    assert json.loads((student / "sampling.json").read_text()) == {
        "guidance_scale": 1.0, "scheduler": "ddim", "num_inference_steps": 2,
    }  # fmt: skip
    summary = json.loads((student / "training" / "summary.json").read_text())
    assert summary["distilled"]["teacher_steps"] == 4 and summary["recipe"]["distill_steps"] == 2
    assert (
        summary["distilled"]["teacher_guidance_scale"]
        == weights.load("mnist", "diffusion", tmp_path / "weights").guidance_scale
    )
    assert (student / "training" / "epoch_001.png").is_file()
    log = [json.loads(line) for line in (student / "training" / "log.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in log)
    assert model.sample(2, seed=0, class_labels=1).shape == (2, 1, 28, 28)
    assert model.cost().nfe == 2  # two steps, no guidance pass
    # the student halves again: it is the next teacher
    assert train.main([*args[:-1], str(student), "--out", str(tmp_path / "student1"), "--distill-steps", "1"]) == 0
    assert json.loads((tmp_path / "student1" / "sampling.json").read_text())["num_inference_steps"] == 1


@pytest.mark.parametrize(
    "extra",
    [
        ["--distill-steps", "2"],  # no teacher
        ["--distill-steps", "0", "--init-from", "x"],
        ["--distill-steps", "2", "--init-from", "x", "--prediction-type", "epsilon"],
    ],
)
def test_distillation_arguments_are_checked(data_root, tmp_path, extra):
    with pytest.raises(SystemExit):
        run(data_root, tmp_path, "mnist", "diffusion", "--dry-run", *extra)


def test_only_diffusion_distils(data_root, tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--dataset", "mnist", "--family", "gan", "--config", TINY_JSON["gan"], "--dry-run",
                    "--out", str(tmp_path / "g"), "--init-from", "x", "--distill-steps", "2"])  # fmt: skip
