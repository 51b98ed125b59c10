"""Progressive distillation (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of
Diffusion Models", algorithm 2): a student learns to take in one deterministic DDIM step the path
its teacher takes in two, so it samples in N steps what the teacher samples in 2N. Run again with
the student as the teacher, it halves again: 16 → 8 → 4 → 2 → 1.

The paper's teacher takes two DDIM steps between two of the student's timesteps; ours takes
`substeps` K steps of DPM-Solver++(2M) (Lu et al. 2022), whose first step is DDIM's and whose later
ones correct it. With K above 2 the student learns a path closer to the teacher's ODE than a 2N-step
DDIM path, the better target at a few student steps (the distilled student in docs/results.md).

The teacher's steps use its own guidance scale (Meng et al. 2023, "On Distillation of Guided
Diffusion Models", stage two with a fixed w), so the student needs one network evaluation per step
where the guided teacher needs two. The student predicts v, whose clean-image estimate stays sound
near t = T (the paper's section 4; an epsilon student cannot learn the one-step target there).

Timesteps follow the DDIM sampler the student ships with (`DiffusionModel`, "ddim", N steps,
"trailing" spacing): it steps from t to t - T // N, and the last step lands on the clean image
(alpha_bar = 1, as DDIM's set_alpha_to_one)."""

from __future__ import annotations

import itertools

import torch

from playground.models import DiffusionModel


def student_timesteps(num_train_timesteps: int, steps: int) -> torch.Tensor:
    """The timesteps of DDIM with `steps` steps and trailing spacing (diffusers' DDIMScheduler.set_timesteps)."""
    return (torch.arange(num_train_timesteps, 0, -num_train_timesteps / steps).round() - 1).long()


class Schedule:
    """alpha_t = sqrt(alpha_bar_t) and sigma_t = sqrt(1 - alpha_bar_t) per timestep, t = -1 being the clean image."""

    def __init__(self, alphas_cumprod: torch.Tensor):
        abar = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod.double()])  # index t + 1
        self.alpha, self.sigma = abar.sqrt(), (1 - abar).sqrt()

    def at(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha_t, sigma_t) shaped to broadcast over a batch of images like `like`."""
        shape = (len(t),) + (1,) * (like.ndim - 1)
        i = (t + 1).cpu()
        return (self.alpha[i].view(shape).to(like), self.sigma[i].view(shape).to(like))

    def x0(self, z: torch.Tensor, out: torch.Tensor, t: torch.Tensor, prediction_type: str) -> torch.Tensor:
        """The clean image a UNet output (noise, or v for "v_prediction") implies at each image's timestep."""
        a, sg = self.at(t, z)
        return a * z - sg * out if prediction_type == "v_prediction" else (z - sg * out) / a


def ddim_step(s: Schedule, z: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor) -> torch.Tensor:
    """One deterministic DDIM step (eta 0) from z_t to z_{t_next}, given the clean-image estimate x0."""
    a, sg = s.at(t, z)
    a_next, sg_next = s.at(t_next, z)
    eps = (z - a * x0) / sg
    return a_next * x0 + sg_next * eps


def dpm_solver_path(s: Schedule, z: torch.Tensor, x0_at, ts: list[torch.Tensor]) -> torch.Tensor:
    """z_t carried along the timesteps ts[0] → ts[1] → … by DPM-Solver++(2M) with data prediction
    (Lu et al. 2022, as diffusers' DPMSolverMultistepScheduler, "midpoint"): the first step is a DDIM
    step, each later one corrects with the previous clean-image estimate, and a step that lands on
    the clean image (t = -1) is a DDIM step, as diffusers' lower_order_final. x0_at(z, t) is the
    model's clean-image estimate."""
    prev = None  # (x0, lambda) of the step before
    for t, t_next in itertools.pairwise(ts):
        x0 = x0_at(z, t)
        a, sg = s.at(t, z)
        a_next, sg_next = s.at(t_next, z)
        lam, lam_next = (a / sg).log(), (a_next / sg_next).log()  # inf at the clean image
        d = x0
        if prev is not None:
            x0_prev, lam_prev = prev
            r = (lam - lam_prev) / (lam_next - lam)
            d = torch.where(sg_next > 0, x0 + (x0 - x0_prev) / (2 * r), x0)
        z, prev = ddim_step(s, z, d, t, t_next), (x0, lam)
    return z


def one_step_target(s: Schedule, z: torch.Tensor, z_end: torch.Tensor, t: torch.Tensor, t_end: torch.Tensor):
    """The clean image x such that one DDIM step from z_t with estimate x lands exactly on z_end
    (Salimans & Ho 2022, algorithm 2: x = (z'' - (sigma''/sigma) z) / (alpha'' - (sigma''/sigma) alpha))."""
    a, sg = s.at(t, z)
    a_end, sg_end = s.at(t_end, z)
    ratio = sg_end / sg
    return (z_end - ratio * z) / (a_end - ratio * a)


def teacher_x0(
    teacher: DiffusionModel, s: Schedule, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor, guidance: float
) -> torch.Tensor:
    """The teacher's clean-image estimate at (z_t, t) for labels y (the null class: unguided), guided
    with `guidance` and clipped to [-1, 1] as its samplers clip it."""
    null = torch.full_like(y, teacher.num_classes)
    if guidance == 1.0:
        out = teacher.unet(z, t, class_labels=y).sample
    else:
        out_c, out_u = teacher.unet(
            torch.cat([z, z]), torch.cat([t, t]), class_labels=torch.cat([y, null])
        ).sample.chunk(2)
        out = out_u + guidance * (out_c - out_u)  # rows with the null class: out_c == out_u, unguided
    return s.x0(z, out, t, teacher.prediction_type).clamp(-1, 1)


class Distillation:
    """The targets of one distillation: the student's timesteps, and where the teacher's `substeps`
    steps between two of them land."""

    def __init__(self, teacher: DiffusionModel, steps: int, guidance: float, substeps: int = 2):
        self.teacher, self.steps, self.guidance = teacher.eval().requires_grad_(False), steps, guidance
        self.substeps, self.T = substeps, teacher.scheduler.config.num_train_timesteps
        if not 2 <= substeps <= self.T // steps:
            raise ValueError(f"{substeps} teacher steps do not fit between timesteps {self.T // steps} apart")
        self.grid = student_timesteps(self.T, steps)
        self.schedule = Schedule(teacher.scheduler.alphas_cumprod)

    @property
    def built_in_guidance(self) -> float:
        """The guidance the student's samples carry: the teacher's sampling guidance, or, for a
        teacher that is itself a student (sampling at 1), the guidance built into it."""
        built_in = self.teacher.built_in_guidance
        return self.guidance if built_in is None else built_in

    def sample_t(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(t, the student's next timestep) for n random steps of the student's sampler."""
        t = self.grid[torch.randint(0, self.steps, (n,))].to(device)
        return t, t - self.T // self.steps

    def teacher_timesteps(self, t: torch.Tensor, t_end: torch.Tensor) -> list[torch.Tensor]:
        """The teacher's timesteps from t to t_end, `substeps` steps evenly spaced (rounded down)."""
        return [t - torch.div((t - t_end) * k, self.substeps, rounding_mode="floor") for k in range(self.substeps + 1)]

    @torch.no_grad()
    def target(self, z: torch.Tensor, y: torch.Tensor, t: torch.Tensor, t_end: torch.Tensor) -> torch.Tensor:
        """The clean image the student should predict at (z_t, t): one DDIM step with it reaches
        where the teacher's `substeps` steps from t to t_end reach."""
        s = self.schedule
        ts = self.teacher_timesteps(t, t_end)
        x0_at = lambda z, t: teacher_x0(self.teacher, s, z, t, y, self.guidance)  # noqa: E731
        z_end = dpm_solver_path(s, z, x0_at, ts)
        return one_step_target(s, z, z_end, t, t_end)

    def weight(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The paper's "truncated SNR" weighting, max(SNR_t, 1), of the clean-image error."""
        a, sg = self.schedule.at(t, like)
        return torch.maximum(a.square() / sg.square(), torch.ones_like(a))


class AdversarialDistillation(Distillation):
    """Progressive distillation with an adversarial term, as SDXL-Lightning pairs them (Lin et al.
    2024): at every step but the first, where the noisy image holds nothing of an image yet, the
    student's clean-image estimate must also fool a discriminator (a GAN's, trained on the same
    data, trained on here). The distillation target keeps each noise's own image (diversity); the
    discriminator judges the estimate against real images rather than the teacher's ODE, which
    blurs textures in a few steps (docs/results.md, "Diffusion step grids")."""

    def __init__(self, teacher: DiffusionModel, steps: int, guidance: float, substeps: int, discriminator):
        super().__init__(teacher, steps, guidance, substeps)
        self.discriminator = discriminator
