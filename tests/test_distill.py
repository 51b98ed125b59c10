"""Progressive distillation (playground/training/distill.py): its DDIM algebra against diffusers'
sampler, and `scripts/train.py --distill-steps` end to end on a tiny teacher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_JSON, build_tiny
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from test_train import run, train

from playground import weights
from playground.models import GAN, DiffusionModel
from playground.models.diffusion import DISTILLED, DISTILLED_FILE, STUDENT_DIR
from playground.training.distill import (
    Distillation,
    Schedule,
    ddim_step,
    dpm_solver_path,
    one_step_target,
    student_timesteps,
)


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


@pytest.mark.parametrize("steps", [2, 4, 10])
def test_the_teachers_path_is_diffusers_dpm_solver(steps):
    """With no clipping, the teacher's DPM-Solver++(2M) path from pure noise to the clean image is
    diffusers' DPMSolverMultistepScheduler at the same timesteps, its first-order last step included."""
    noise = v_scheduler()
    dpm = DPMSolverMultistepScheduler.from_config(
        noise.config,
        timestep_spacing="trailing",
        algorithm_type="dpmsolver++",
        solver_order=2,
        final_sigmas_type="zero",
    )
    dpm.set_timesteps(steps)
    s = Schedule(noise.alphas_cumprod)
    g = torch.Generator().manual_seed(2)
    z, c = torch.randn(3, 1, 6, 6, generator=g), torch.randn(3, 1, 6, 6, generator=g) * 0.3

    def v_of(z, t):  # any smooth function of (z, t) stands in for the network
        return 0.5 * z + c * torch.cos(torch.as_tensor(t, dtype=torch.float32) / 300)

    def x0_at(z, t):
        a, sigma = s.at(t, z)
        return a * z - sigma * v_of(z, t.view(-1, 1, 1, 1))

    theirs = z.clone()
    for t in dpm.timesteps:
        theirs = dpm.step(v_of(theirs, t), t, theirs).prev_sample
    ts = [torch.full((3,), int(t)) for t in dpm.timesteps] + [torch.full((3,), -1)]
    assert torch.allclose(dpm_solver_path(s, z, x0_at, ts), theirs, atol=1e-4)
    d = Distillation(build_tiny("diffusion"), steps=1, guidance=1.0, substeps=steps)
    assert [int(t[0]) for t in d.teacher_timesteps(torch.tensor([999]), torch.tensor([-1]))] == [int(t[0]) for t in ts]


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
    t, end = d.sample_t(64, "cpu")
    assert set(t.tolist()) == {999, 499} and (end == t - 500).all()
    assert [m.tolist() for m in d.teacher_timesteps(torch.tensor([999, 499]), torch.tensor([499, -1]))] == [
        [999, 499], [749, 249], [499, -1],
    ]  # fmt: skip
    z = torch.randn(4, 1, 8, 8)
    y = torch.tensor([0, 3, 10, 10])  # two rows of the null class
    t, end = torch.tensor([999, 499, 999, 499]), torch.tensor([499, -1, 499, -1])
    x = d.target(z, y, t, end)
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
    teacher_guidance = weights.load("mnist", "diffusion", tmp_path / "weights").guidance_scale
    assert model.built_in_guidance == teacher_guidance
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
    again = ["--out", str(tmp_path / "student1"), "--distill-steps", "1", "--teacher-substeps", "3"]
    assert train.main([*args[:-1], str(student), *again]) == 0
    assert json.loads((tmp_path / "student1" / "sampling.json").read_text())["num_inference_steps"] == 1
    assert DiffusionModel.from_pretrained(tmp_path / "student1").built_in_guidance == teacher_guidance  # carried on
    summary = json.loads((tmp_path / "student1" / "training" / "summary.json").read_text())
    assert summary["distilled"]["teacher_steps"] == 3 and summary["recipe"]["teacher_substeps"] == 3


@pytest.mark.parametrize(
    "extra",
    [
        ["--distill-steps", "2"],  # no teacher
        ["--distill-steps", "0", "--init-from", "x"],
        ["--distill-steps", "2", "--init-from", "x", "--prediction-type", "epsilon"],
        ["--distill-steps", "2", "--init-from", "x", "--teacher-substeps", "1"],
        ["--adversarial", "x"],  # adversarial distillation without --distill-steps
        ["--distill-steps", "2", "--init-from", "x", "--adversarial", "no-such-gan"],
    ],
)
def test_distillation_arguments_are_checked(data_root, tmp_path, extra):
    with pytest.raises(SystemExit):
        run(data_root, tmp_path, "mnist", "diffusion", "--dry-run", *extra)


@pytest.mark.slow
def test_a_student_is_distilled_adversarially_against_a_gans_discriminator(data_root, tmp_path):
    assert run(data_root, tmp_path, "mnist", "diffusion", "--dry-run") == 0
    assert run(data_root, tmp_path, "mnist", "gan", "--dry-run") == 0
    gan = tmp_path / "weights" / "mnist" / "gan"
    before = {k: v.clone() for k, v in GAN.from_pretrained(gan).discriminator.state_dict().items()}
    student = tmp_path / "student"
    assert train.main(["--dataset", "mnist", "--family", "diffusion", "--data-root", str(data_root),
                       "--batch-size", "16", "--checkpoint-dir", str(tmp_path / "ckpt2"), "--log-every", "1",
                       "--dry-run", "--out", str(student), "--init-from", str(tmp_path / "weights" / "mnist" / "diffusion"),
                       "--distill-steps", "2", "--adversarial", str(gan)]) == 0  # fmt: skip
    model = DiffusionModel.from_pretrained(student)
    assert model.prediction_type == "v_prediction" and model.cost().nfe == 2
    summary = json.loads((student / "training" / "summary.json").read_text())
    assert summary["distilled"]["method"] == "progressive distillation with an adversarial term"
    assert summary["recipe"]["adversarial"] == f"(outside the checkout) {gan.name}"  # no machine's path
    log = [json.loads(line) for line in (student / "training" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["kind"] == "step"]
    assert steps and all(0 < r["d_real"] < 1 and torch.isfinite(torch.tensor(r["loss_adv"])) for r in steps)
    assert model.sample(2, seed=0, class_labels=1).shape == (2, 1, 28, 28)
    # the GAN it borrowed the discriminator from is left as it was (the discriminator trains on a copy)
    after = GAN.from_pretrained(gan).discriminator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_only_diffusion_distils(data_root, tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--dataset", "mnist", "--family", "gan", "--config", TINY_JSON["gan"], "--dry-run",
                    "--out", str(tmp_path / "g"), "--init-from", "x", "--distill-steps", "2"])  # fmt: skip


def with_student(tmp_path, steps: int = 2, guidance: float = 1.5, **own) -> Path:
    """A tiny teacher saved with a tiny student beside it (as scripts/train.py --distill-steps
    saves one, plus the move into the teacher's STUDENT_DIR), in tmp_path/"model"."""
    folder = tmp_path / "model"
    teacher, student = build_tiny("diffusion", seed=0), build_tiny("diffusion", seed=1)
    student.sampler, student.num_inference_steps, student.guidance_scale = "ddim", steps, 1.0
    student.built_in_guidance = guidance
    teacher.guidance_scale = guidance
    teacher.save_pretrained(folder)
    student.save_pretrained(folder / STUDENT_DIR)
    if own:
        (folder / "sampling.json").write_text(json.dumps({"guidance_scale": guidance, **own}))
    return folder


def test_a_model_samples_with_its_distilled_student(tmp_path):
    folder = with_student(tmp_path, steps=2, guidance=1.5)
    model = DiffusionModel.from_pretrained(folder)
    assert model.student is not None and model.distilled_guidance == 1.5
    assert model.distilled_sampling() == {"scheduler": DISTILLED, "num_inference_steps": 2, "guidance_scale": 1.5}
    # the student's own settings unless told; its images are the student's DDIM, guidance 1
    options = model.sampling_options(scheduler=DISTILLED)
    assert options == model.distilled_sampling()
    ours = model.sample(3, seed=4, class_labels=2, **options)
    theirs = model.student.sample(
        3, seed=4, class_labels=2, num_inference_steps=2, scheduler="ddim", guidance_scale=1.0
    )
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, model.sample(3, seed=4, class_labels=2, scheduler="ddim", num_inference_steps=2))
    # one evaluation per step with a class: its guidance is built in
    assert model.cost(class_labels=2, **options).nfe == 2
    assert model.cost(class_labels=2, scheduler="ddim", num_inference_steps=2, guidance_scale=1.5).nfe == 4
    frames = list(model.trajectory(torch.randn(1, 1, 8, 8), 1, **options))
    assert [f["step"] for f in frames] == [1, 2] and frames[-1]["last"]
    assert "built in" in model.describe_sampling(scheduler=DISTILLED)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_inference_steps": 3}, "samples in 2 steps"),
        ({"guidance_scale": 2.0}, "built in at 1.5"),
    ],
)
def test_the_student_refuses_steps_and_guidance_it_did_not_learn(tmp_path, options, message):
    model = DiffusionModel.from_pretrained(with_student(tmp_path))
    with pytest.raises(ValueError, match=message):
        model.sampling_options(scheduler=DISTILLED, **options)
    with pytest.raises(ValueError, match=message):
        model.sample(1, scheduler=DISTILLED, **{"num_inference_steps": 2, "guidance_scale": 1.5, **options})


def test_the_student_can_be_the_models_own_sampler(tmp_path):
    folder = with_student(tmp_path, steps=2, guidance=1.5, scheduler=DISTILLED, num_inference_steps=2)
    model = DiffusionModel.from_pretrained(folder)
    assert model.sampling_options() == model.distilled_sampling()
    assert model.cost(class_labels=0).nfe == 2
    model.save_pretrained(tmp_path / "again")  # the student is saved beside it
    assert DiffusionModel.from_pretrained(tmp_path / "again").sampling_options() == model.distilled_sampling()
    # the student's steps must be the ones its sampling file names
    (folder / "sampling.json").write_text(
        json.dumps({"guidance_scale": 1.5, "scheduler": DISTILLED, "num_inference_steps": 3})
    )
    with pytest.raises(ValueError, match="samples in 2 steps"):
        DiffusionModel.from_pretrained(folder)


def test_a_model_sampled_by_its_student_counts_the_students_training(tmp_path):
    """The Compare tab and the README's table say what a model's default samples cost to train:
    with the student as the default, the student's record (its teacher's inside it)."""
    root = tmp_path / "weights"
    folder = with_student(root / "mnist", steps=2, guidance=1.5)
    folder.rename(root / "mnist" / "diffusion")
    folder = root / "mnist" / "diffusion"
    for path, seconds in ((folder, 60.0), (folder / STUDENT_DIR, 30.0)):
        (path / "training").mkdir()
        (path / "training" / "summary.json").write_text(json.dumps({"wall_clock_s": seconds}))
    assert weights.training_summary("mnist", "diffusion", root) == {"wall_clock_s": 60.0}  # the teacher samples
    (folder / "sampling.json").write_text(
        json.dumps({"guidance_scale": 1.5, "scheduler": DISTILLED, "num_inference_steps": 2})
    )
    assert weights.training_summary("mnist", "diffusion", root) == {"wall_clock_s": 30.0}


def test_the_warm_start_runs_a_model_whose_default_is_its_student(tmp_path, monkeypatch):
    """The warm start runs each diffusion model's first request once, in one step where it can:
    a student samples in its own steps only, so that must not fail (it did, 2026-12-07)."""
    from playground.ui import warm

    root = tmp_path / "weights"
    with_student(root / "mnist", steps=2, guidance=1.5, scheduler=DISTILLED, num_inference_steps=2)
    (root / "mnist" / "model").rename(root / "mnist" / "diffusion")
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(root))
    weights.clear_cache()
    try:
        assert warm.tune(["mnist"]) == 0
    finally:
        weights.clear_cache()


def test_without_a_student_the_distilled_sampler_is_a_clear_error(tmp_path):
    model = build_tiny("diffusion")
    assert model.student is None and model.distilled_sampling() is None
    with pytest.raises(ValueError, match="no distilled student"):
        model.sampling_options(scheduler=DISTILLED, num_inference_steps=4, guidance_scale=1.0)
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "sampling.json").write_text('{"scheduler": "distilled", "num_inference_steps": 4}')
    with pytest.raises(ValueError, match="no distilled student"):
        DiffusionModel.from_pretrained(tmp_path / "m")


@pytest.mark.parametrize("content", [None, "{}", '{"guidance_scale": "much"}'])
def test_a_student_that_does_not_say_its_guidance_is_refused(tmp_path, content):
    folder = with_student(tmp_path)
    file = folder / STUDENT_DIR / DISTILLED_FILE
    file.unlink() if content is None else file.write_text(content)
    with pytest.raises(ValueError, match="guidance"):
        DiffusionModel.from_pretrained(folder)
