"""A class-conditional diffusion model: diffusers' `UNet2DModel` and diffusers' schedulers.

Training (Ho et al. 2020, "Denoising Diffusion Probabilistic Models") teaches the UNet to
predict the noise added to an image at a random timestep. Sampling starts from pure noise
`x_T` and removes noise step by step; which steps and how is the scheduler's business:
DDPM (stochastic, Ho et al. 2020), DDIM (deterministic, Song et al. 2021) or DPM-Solver++
(Lu et al. 2022). Classifier-free guidance (Ho & Salimans 2022): the UNet also learned a
"null" class, and the guided noise estimate is eps_null + w * (eps_class - eps_null).

Weights are diffusers' own layout (`unet/`, `scheduler/`), so `diffusers` loads them by itself.
A model may carry a distilled student beside it (`student/`, the same layout; see DISTILLED).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from playground import compute
from playground.limits import MAX_GUIDANCE, MAX_STEPS, check_number
from playground.models import kernels
from playground.models.common import Cost, LatentSpace, count_parameters, device_of, label_tensor, make_generator

if TYPE_CHECKING:
    from diffusers import DDPMScheduler, UNet2DModel


def _diffusers():
    """diffusers, imported on first use: with what it pulls in (torch._dynamo, scipy.stats) it
    is about 2 s, which the app's start does without (README, "Speed and load")."""
    return importlib.import_module("diffusers")


@dataclass
class DiffusionConfig:
    image_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    block_out_channels: tuple[int, ...] = (16, 32, 64)  # one UNet level each; the image halves per level
    layers_per_block: int = 1
    attention: bool = False  # self-attention at the lowest resolution
    norm_num_groups: int = 8
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"  # the cosine schedule of Nichol & Dhariwal 2021
    # What the UNet predicts: "epsilon" (the noise, Ho et al. 2020) or "v_prediction" (v = sqrt(abar) eps
    # - sqrt(1 - abar) x0, Salimans & Ho 2022), whose clean-image estimate stays sound near t = T.
    prediction_type: str = "epsilon"

    def build_unet(self) -> UNet2DModel:
        n = len(self.block_out_channels)
        down = ["DownBlock2D"] * n
        up = ["UpBlock2D"] * n
        if self.attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        return _diffusers().UNet2DModel(
            sample_size=self.image_size,
            in_channels=self.image_channels,
            out_channels=self.image_channels,
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            norm_num_groups=self.norm_num_groups,
            num_class_embeds=self.num_classes + 1,  # the last one is the "null" class for guidance
        )

    def build_scheduler(self) -> DDPMScheduler:
        return _diffusers().DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=self.beta_schedule,
            prediction_type=self.prediction_type,
            clip_sample=True,
        )


# Where the log-SNR grid starts after its first step at t = T - 1, and the timestep it ends on.
# "Trailing" steps are even in t: on the cosine schedule the last one jumps to the image from
# t = 1000 / steps (noise std 0.17 at 10 steps), which blurs; diffusers' use_lu_lambdas spends
# steps below log-SNR -5, where x_t is still all noise. Measured: docs/results.md, "Diffusion step grids".
LOGSNR_START = -3.0
LOGSNR_LAST_T = 10


def logsnr_timesteps(alphas_cumprod: torch.Tensor, steps: int) -> list[int]:
    """`steps` distinct decreasing timesteps: T - 1 (where x_T is drawn), then steps - 1 evenly
    spaced in log-SNR, log(alpha_bar / (1 - alpha_bar)) / 2, from LOGSNR_START to that of
    LOGSNR_LAST_T (the spacing DPM-Solver's authors use for small images: Lu et al. 2022, sec. 3.3).
    Where more steps are asked than the grid has distinct timesteps, the later ones move down one
    by one; past t = 0, the steps fall back to trailing spacing."""
    abar = alphas_cumprod.double()
    logsnr = 0.5 * torch.log(abar / (1 - abar))
    last = len(abar) - 1
    targets = torch.linspace(LOGSNR_START, float(logsnr[min(LOGSNR_LAST_T, last)]), steps - 1, dtype=torch.float64)
    ts = [last] + [int((logsnr - x).abs().argmin()) for x in targets]
    for i in range(1, len(ts)):
        ts[i] = min(ts[i], ts[i - 1] - 1)
    if ts[-1] < 0:
        return [round(len(abar) - i * len(abar) / steps) - 1 for i in range(steps)]
    return ts


def _stepped(make, grid=None):
    """A sampler builder, (training config, steps) -> a diffusers scheduler set to its timesteps:
    its own spacing, or `grid(alphas_cumprod, steps)`."""

    def build(config: dict, steps: int):
        s = make(config)
        if grid is None:
            s.set_timesteps(steps)
        else:
            s.set_timesteps(timesteps=grid(s.alphas_cumprod, steps))
        return s

    return build


def _dpm_solver(algorithm_type: str):
    # Thresholding clips each predicted x0 to [-1, 1], as DDPM's and DDIM's clip_sample do: our cosine
    # schedule's first step (sqrt(alpha_bar) = 5e-5) would blow the UNet's error up 20,000-fold.
    return lambda config: _diffusers().DPMSolverMultistepScheduler.from_config(
        config, algorithm_type=algorithm_type, timestep_spacing="trailing", thresholding=True, sample_max_value=1.0
    )


# Samplers for a trained model, built from its training schedule. "trailing" timesteps start
# at t = T - 1, which matters with few steps (Lin et al. 2024, "Common Diffusion Noise Schedules
# and Sample Steps are Flawed", table 2).
SCHEDULERS = {
    "ddpm": _stepped(lambda config: _diffusers().DDPMScheduler.from_config(config, timestep_spacing="trailing")),
    "ddim": _stepped(lambda config: _diffusers().DDIMScheduler.from_config(config, timestep_spacing="trailing")),
    "dpm++": _stepped(_dpm_solver("dpmsolver++")),
    # The stochastic variant (Lu et al. 2022, "DPM-Solver++", sec. 5): fresh noise at each step,
    # like DDPM, which corrects the small UNet's errors, at a second-order solver's step count.
    "sde-dpm++": _stepped(_dpm_solver("sde-dpmsolver++")),
    # The same two solvers on timesteps spaced evenly in log signal-to-noise ratio.
    "dpm++-logsnr": _stepped(_dpm_solver("dpmsolver++"), logsnr_timesteps),
    "sde-dpm++-logsnr": _stepped(_dpm_solver("sde-dpmsolver++"), logsnr_timesteps),
}
# The model's distilled student (STUDENT_DIR, trained by `scripts/train.py --distill-steps`,
# playground/training/distill.py): a second UNet that takes in one DDIM step what the model takes
# in several, its guidance built in, so a guided image costs one evaluation per step, not two.
DISTILLED = "distilled"
STUDENT_DIR = "student"
SCHEDULER_NAMES = {
    "ddpm": "DDPM",
    "ddim": "DDIM",
    "dpm++": "DPM-Solver++",
    "sde-dpm++": "SDE-DPM-Solver++",
    "dpm++-logsnr": "DPM-Solver++, log-SNR steps",
    "sde-dpm++-logsnr": "SDE-DPM-Solver++, log-SNR steps",
    DISTILLED: "Distilled student",
}


def check_guidance(guidance_scale) -> float:
    """A guidance scale as a float, or ValueError if it is not a number from 0 to MAX_GUIDANCE."""
    if not isinstance(guidance_scale, int | float):  # a number, not text that reads as one
        raise ValueError(f"guidance scale must be a number, not {guidance_scale!r}")
    return float(check_number(guidance_scale, "guidance scale", 0, MAX_GUIDANCE, integer=False))


def check_sampler(scheduler, num_inference_steps) -> tuple[str, int]:
    """A sampler's name and step count, or ValueError if the name is not one of SCHEDULER_NAMES
    (SCHEDULERS, or DISTILLED) or the steps are not an integer from 1 to MAX_STEPS."""
    if not isinstance(scheduler, str) or scheduler not in SCHEDULER_NAMES:
        raise ValueError(f"unknown scheduler {scheduler!r}; choose one of {', '.join(SCHEDULER_NAMES)}")
    if not isinstance(num_inference_steps, int | float):
        raise ValueError(f"steps must be a whole number, not {num_inference_steps!r}")
    return scheduler, check_number(num_inference_steps, "steps", 1, MAX_STEPS)


def _training_config(scheduler) -> dict:
    """The scheduler's settings as plain values. (A loaded config lists the keys it took from
    defaults, and `from_config` would let the new class's own defaults replace them.)"""
    return {k: v for k, v in scheduler.config.items() if not k.startswith("_")}


# A stochastic sampler by default: on our small models the deterministic ones (DDIM, DPM-Solver++)
# drift off the data, while fresh noise at every step corrects the UNet's small errors. The sweeps
# behind these defaults are in docs/results.md, "Diffusion samplers".
DEFAULT_SCHEDULER = "sde-dpm++"
DEFAULT_STEPS = 20
# Guidance trades variety for class fidelity; a trained model carries its own (SAMPLING_FILE).
# Measured per model in docs/results.md, "Diffusion guidance and steps".
DEFAULT_GUIDANCE = 1.5
# {"guidance_scale": w, "scheduler": name, "num_inference_steps": n}, beside the unet: the sampler a
# trained model samples with unless told, the one its metrics were measured with. Each key may be
# missing (the defaults above): weights saved before the file existed, or before it named a sampler.
SAMPLING_FILE = "sampling.json"
# {"guidance_scale": w} beside a distilled student's unet: the guidance distilled into it, which
# its teacher's DISTILLED sampler asks for (the student itself samples at guidance 1).
DISTILLED_FILE = "distilled.json"
SAMPLING_DEFAULTS = {
    "guidance_scale": DEFAULT_GUIDANCE,
    "scheduler": DEFAULT_SCHEDULER,
    "num_inference_steps": DEFAULT_STEPS,
}
INVERSION_STEPS = 10  # DDIM inversion: see DiffusionModel.encode
# The noise space (see DiffusionModel.sample_noise_space): the default sampler, in 10 steps, so a
# click decodes in half the time of 20 (its FID: docs/results.md, "Diffusion samplers").
NOISE_SPACE_SCHEDULER = "sde-dpm++"
NOISE_SPACE_STEPS = 10


def read_built_in_guidance(path: str | Path) -> float | None:
    """The guidance scale distilled into the model saved in `path` (its DISTILLED_FILE), None for
    a model that is no student; ValueError if the file is damaged."""
    file = Path(path) / DISTILLED_FILE
    if not file.is_file():
        return None
    try:
        return check_guidance(json.loads(file.read_text())["guidance_scale"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f'{file} should hold {{"guidance_scale": the guidance it was distilled at}}: {exc!r}'
        ) from None


def read_sampling(path: str | Path) -> tuple[str, int, float]:
    """The scheduler, steps and guidance scale a saved model samples with unless told (its
    SAMPLING_FILE, or the defaults), read without loading the model; ValueError if it is damaged."""
    sampling = Path(path) / SAMPLING_FILE
    try:
        settings = json.loads(sampling.read_text()) if sampling.is_file() else {}
        if not isinstance(settings, dict) or set(settings) - set(SAMPLING_DEFAULTS):
            raise ValueError(f"unexpected content {settings!r}")
        settings = {**SAMPLING_DEFAULTS, **settings}
        guidance = check_guidance(settings["guidance_scale"])
        scheduler, steps = check_sampler(settings["scheduler"], settings["num_inference_steps"])
    except (ValueError, TypeError) as exc:
        want = (
            f'{{"guidance_scale": a number from 0 to {MAX_GUIDANCE:g}, "scheduler": one of '
            f'{", ".join(SCHEDULER_NAMES)}, "num_inference_steps": an integer from 1 to {MAX_STEPS}}}'
        )
        raise ValueError(f"{sampling} should hold {want}: {exc}") from None
    return scheduler, steps, guidance


class DiffusionModel(nn.Module):
    """A UNet and its training noise schedule, with the family interface on top. An `nn.Module`
    whose one child is the UNet, so `parameters()`, `eval()` and `to()` work as for the others."""

    family = "diffusion"

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: DDPMScheduler,
        guidance_scale: float = DEFAULT_GUIDANCE,
        sampler: str = DEFAULT_SCHEDULER,
        num_inference_steps: int = DEFAULT_STEPS,
        student: DiffusionModel | None = None,
        built_in_guidance: float | None = None,
    ):
        """`student`: a distilled student of this model (DISTILLED), which samples with DDIM at its
        own steps and guidance 1, its `built_in_guidance` the scale it was distilled at (None for
        a model that is no student)."""
        super().__init__()
        self.unet = unet.eval()
        self.scheduler = scheduler  # the training noise schedule, which every sampler is built from
        self.built_in_guidance = None if built_in_guidance is None else check_guidance(built_in_guidance)
        if student is not None and student.built_in_guidance is None:
            raise ValueError(f"a student must say the guidance it was distilled at (its {DISTILLED_FILE})")
        self.student = student.eval() if student is not None else None
        # the sampler this model uses unless told: the name of one of SCHEDULER_NAMES, its steps, its guidance
        self.guidance_scale = check_guidance(guidance_scale)
        self.sampler, self.num_inference_steps = check_sampler(sampler, num_inference_steps)
        self.kernels = kernels.Kernels()  # fp32, contiguous, until `tune` measures this machine
        self.check_student(self.sampler, self.num_inference_steps, self.guidance_scale)

    @classmethod
    def from_config(cls, config: DiffusionConfig) -> DiffusionModel:
        return cls(config.build_unet(), config.build_scheduler())

    def save_pretrained(self, path: str | Path) -> None:
        self.unet.save_pretrained(Path(path) / "unet")
        self.scheduler.save_pretrained(Path(path) / "scheduler")
        # a loaded model's config names the folder it came from: not for shipping
        for config in (Path(path) / "unet" / "config.json", Path(path) / "scheduler" / "scheduler_config.json"):
            settings = json.loads(config.read_text())
            if settings.pop("_name_or_path", None) is not None:
                config.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
        (Path(path) / SAMPLING_FILE).write_text(json.dumps(self.sampling) + "\n")
        if self.built_in_guidance is not None:
            (Path(path) / DISTILLED_FILE).write_text(json.dumps({"guidance_scale": self.built_in_guidance}) + "\n")
        if self.student is not None:
            self.student.save_pretrained(Path(path) / STUDENT_DIR)

    def own_sampler(
        self, scheduler: str | None = None, num_inference_steps: int | None = None, guidance_scale: float | None = None
    ) -> tuple[str, int, float]:
        """The scheduler, steps and guidance scale to sample with: each one given, or None for the
        model's own (the student's own for DISTILLED)."""
        scheduler = self.sampler if scheduler is None else scheduler
        own = (scheduler == DISTILLED and self.distilled_sampling()) or self.sampling
        return (
            scheduler,
            own["num_inference_steps"] if num_inference_steps is None else num_inference_steps,
            own["guidance_scale"] if guidance_scale is None else guidance_scale,
        )

    @property
    def sampling(self) -> dict:
        """The sampler this model uses unless told, as SAMPLING_FILE holds it."""
        return {
            "guidance_scale": self.guidance_scale,
            "scheduler": self.sampler,
            "num_inference_steps": self.num_inference_steps,
        }

    @classmethod
    def from_pretrained(cls, path: str | Path) -> DiffusionModel:
        """The model saved in `path`, with its distilled student where `path/student` holds one."""
        scheduler, steps, guidance = read_sampling(path)
        unet = _diffusers().UNet2DModel.from_pretrained(path, subfolder="unet")
        noise = _diffusers().DDPMScheduler.from_pretrained(path, subfolder="scheduler")
        student = cls.from_pretrained(Path(path) / STUDENT_DIR) if (Path(path) / STUDENT_DIR).is_dir() else None
        return cls(unet, noise, guidance, scheduler, steps, student, read_built_in_guidance(path))

    @property
    def distilled_guidance(self) -> float | None:
        """The guidance built into this model's student, None without one."""
        return None if self.student is None else self.student.built_in_guidance

    def check_student(self, scheduler: str, num_inference_steps: int, guidance_scale: float) -> None:
        """For the DISTILLED sampler, ValueError unless this model has a student and the steps and
        guidance are the ones it was distilled for (it learned those timesteps, at that guidance)."""
        if scheduler != DISTILLED:
            return
        if self.student is None:
            raise ValueError(
                "this diffusion model has no distilled student: choose another scheduler "
                "(or train one: python scripts/train.py --distill-steps, docs/results.md)"
            )
        if num_inference_steps != self.student.num_inference_steps:
            raise ValueError(
                f"the distilled student samples in {self.student.num_inference_steps} steps, "
                f"the ones it learned, not {num_inference_steps}"
            )
        if guidance_scale != self.distilled_guidance:
            raise ValueError(
                f"the distilled student's guidance scale is built in at {self.distilled_guidance:g}: "
                f"give {self.distilled_guidance:g}, not {guidance_scale:g}, or choose another scheduler"
            )

    def distilled_sampling(self) -> dict | None:
        """The DISTILLED sampler's options, as `sampling_options` takes them, or None without a student."""
        if self.student is None:
            return None
        return {
            "scheduler": DISTILLED,
            "num_inference_steps": self.student.num_inference_steps,
            "guidance_scale": self.distilled_guidance,
        }

    # --- the family interface -------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.unet.config.num_class_embeds - 1

    @property
    def latent_shape(self) -> tuple[int, ...]:
        c = self.unet.config
        return (c.in_channels, c.sample_size, c.sample_size)

    def sample_latent(self, n: int, generator: torch.Generator, class_labels=None) -> torch.Tensor:
        """x_T ~ N(0, I), as large as the image: diffusion's "latent" is its starting noise."""
        return torch.randn((n, *self.latent_shape), generator=generator).to(device_of(self.unet))

    def make_scheduler(self, scheduler: str, num_inference_steps: int):
        """A fresh sampler of the kind named (one of SCHEDULERS), set to its steps."""
        scheduler, steps = check_sampler(scheduler, num_inference_steps)
        return SCHEDULERS[scheduler](_training_config(self.scheduler), steps)

    @property
    def prediction_type(self) -> str:
        """What the UNet predicts: "epsilon" or "v_prediction" (DiffusionConfig.prediction_type)."""
        return self.scheduler.config.prediction_type

    def tune(self, batch: int = 8) -> kernels.Kernels:
        """Time the UNet on this machine and keep the fastest kernels (fp32 or bf16 autocast,
        channels-last or not) for every later pass: see playground/models/kernels.py."""
        x = torch.randn((batch, *self.latent_shape), generator=make_generator(0)).to(device_of(self.unet))
        t = torch.full((batch,), self.scheduler.config.num_train_timesteps // 2, device=x.device)
        y = torch.zeros(batch, dtype=torch.int64, device=x.device)
        self.kernels = kernels.choose(self.unet, lambda x, k: self._unet(x, t, y, k), x)
        if self.student is not None:
            self.student.tune(batch)
        return self.kernels

    def _unet(self, x: torch.Tensor, t, y: torch.Tensor, k: kernels.Kernels | None = None) -> torch.Tensor:
        """One UNet pass, on the app's compute thread where it has one (playground/compute.py)."""
        return compute.run(self._forward, x, t, y, k or self.kernels)

    def _forward(self, x: torch.Tensor, t, y: torch.Tensor, k: kernels.Kernels) -> torch.Tensor:
        with k.autocast():
            return self.unet(k.prepare(x), t, class_labels=y).sample.float().contiguous()

    def _predict(self, x: torch.Tensor, t, y: torch.Tensor | None, guidance_scale: float) -> torch.Tensor:
        """The UNet's output (noise or v, see `prediction_type`), guided when a class is given
        (classifier-free guidance; both outputs are linear in the noise, so the blend is the same)."""
        null = torch.full((len(x),), self.num_classes, device=x.device)
        if y is None:
            return self._unet(x, t, null)
        if guidance_scale == 1.0:
            return self._unet(x, t, y)
        out_c, out_u = self._unet(torch.cat([x, x]), t, torch.cat([y, null])).chunk(2)
        return out_u + guidance_scale * (out_c - out_u)

    def _x0(self, x: torch.Tensor, output: torch.Tensor, t) -> torch.Tensor:
        """The clean image the UNet's output implies: x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
        from the noise, x0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v from v."""
        abar = self.scheduler.alphas_cumprod.to(x.device)[int(t)]
        if self.prediction_type == "v_prediction":
            return (abar.sqrt() * x - (1 - abar).sqrt() * output).clamp(-1, 1)
        return ((x - (1 - abar).sqrt() * output) / abar.sqrt()).clamp(-1, 1)

    @torch.inference_mode()
    def trajectory(
        self,
        z: torch.Tensor,
        class_labels=None,
        num_inference_steps: int | None = None,
        scheduler: str | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        noises: torch.Tensor | None = None,
    ) -> Iterator[dict]:
        """The reverse process, one dict per step: `t`, the current noisy `x_t` and the predicted
        clean image `x0`, both in [0, 1]. The last `x_t` is the sample. `num_inference_steps`,
        `scheduler`, `guidance_scale` None: the model's own. A stochastic sampler's fresh noise
        comes from `generator`, or is given: `noises` (N, steps, *latent_shape), one draw per step
        (see `sample_noise_space`)."""
        self.unet.eval()
        scheduler, steps, guidance_scale = self.own_sampler(scheduler, num_inference_steps, guidance_scale)
        if scheduler == DISTILLED:
            self.check_student(scheduler, steps, guidance_scale)
            yield from self.student.trajectory(z, class_labels, steps, "ddim", 1.0, generator, noises)
            return
        s = self.make_scheduler(scheduler, steps)
        x = z.to(device_of(self.unet)) * s.init_noise_sigma
        y = label_tensor(class_labels, len(x), self.num_classes, x.device)
        # the stochastic samplers draw their fresh noise from the caller's generator: same seed, same images
        extra = {"generator": generator} if "generator" in inspect.signature(s.step).parameters else {}
        if noises is not None:
            if "variance_noise" not in inspect.signature(s.step).parameters:
                raise ValueError(f"the {SCHEDULER_NAMES[scheduler]} sampler takes no given noise")
            if noises.shape != (len(x), len(s.timesteps), *x.shape[1:]):
                raise ValueError(f"noises should have shape {(len(x), len(s.timesteps), *x.shape[1:])}")
            noises = noises.to(x.device)
        for i, t in enumerate(s.timesteps):
            out = self._predict(s.scale_model_input(x, t), t, y, float(guidance_scale))
            x0 = self._x0(x, out, t)
            if noises is not None:
                extra = {"variance_noise": noises[:, i]}
            x = s.step(out, t, x, **extra).prev_sample
            last = i == len(s.timesteps) - 1
            yield {"step": i + 1, "t": int(t), "x_t": ((x.clamp(-1, 1) + 1) / 2), "x0": (x0 + 1) / 2, "last": last}

    def decode(
        self,
        z: torch.Tensor,
        class_labels=None,
        num_inference_steps: int | None = None,
        scheduler: str | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        noises: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the sampler from x_T = z to the end (the options as for `trajectory`); images in [0, 1]."""
        steps = self.trajectory(z, class_labels, num_inference_steps, scheduler, guidance_scale, generator, noises)
        (last,) = deque(steps, maxlen=1)
        return last["x_t"]

    def sample(
        self,
        n: int,
        seed: int | torch.Generator = 0,
        class_labels=None,
        num_inference_steps: int | None = None,
        scheduler: str | None = None,
        guidance_scale: float | None = None,
    ) -> torch.Tensor:
        g = make_generator(seed)
        z = self.sample_latent(n, g, class_labels)
        return self.decode(z, class_labels, num_inference_steps, scheduler, guidance_scale, generator=g)

    SAMPLING_OPTIONS = ("scheduler", "num_inference_steps", "guidance_scale")

    def sampling_options(
        self, scheduler: str | None = None, num_inference_steps: int | None = None, guidance_scale: float | None = None
    ) -> dict:
        """The options `sample` runs with: each one given, or None for the model's own; ValueError
        if one is out of range."""
        scheduler, steps, w = self.own_sampler(scheduler, num_inference_steps, guidance_scale)
        scheduler, steps = check_sampler(scheduler, steps)
        w = check_guidance(w)
        self.check_student(scheduler, steps, w)
        return {"scheduler": scheduler, "num_inference_steps": steps, "guidance_scale": w}

    def describe_sampling(self, **options) -> str:
        o = self.sampling_options(**options)
        built_in = " (built in)" if o["scheduler"] == DISTILLED else ""
        return f"{o['scheduler']}, {o['num_inference_steps']} steps, guidance scale {o['guidance_scale']:g}{built_in}"

    def latent_space(self) -> LatentSpace:
        return NoiseSpace(self)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, class_labels=None, num_inference_steps: int = INVERSION_STEPS) -> torch.Tensor:
        """DDIM inversion (Song et al. 2021, sec. 4.3; Dhariwal & Nichol 2021): run the
        deterministic DDIM update backwards, image → x_T, with the unguided noise estimate.
        Decoding the result with DDIM and the same steps (guidance 1) gives the image back.
        Each step uses the noise estimate at the step's end (the usual approximation), so more
        steps are not better: with our models, 10 steps gave back test images at least as closely
        as 20, 50 or 100 (tests/test_shipped.py states the errors)."""
        self.unet.eval()
        accepted = inspect.signature(_diffusers().DDIMInverseScheduler.__init__).parameters
        config = {k: v for k, v in _training_config(self.scheduler).items() if k in accepted}
        inv = _diffusers().DDIMInverseScheduler.from_config(config, clip_sample=False, timestep_spacing="trailing")
        inv.set_timesteps(int(num_inference_steps))
        x = x.to(device_of(self.unet)) * 2 - 1
        y = label_tensor(class_labels, len(x), self.num_classes, x.device)
        for t in inv.timesteps:
            x = inv.step(self._predict(x, t, y, 1.0), t, x).prev_sample
        return x

    # --- the noise space: a stochastic sampler's latent -----------------------------------------
    # A stochastic sampler reads more than x_T: fresh noise at every step, and on our models that
    # noise, not x_T, decides most of the image (with one fixed noise stream, four different x_T
    # gave Fashion-MNIST images only 0.04 apart in mean absolute pixel difference, against 0.37
    # between independent samples). So the vector that fixes the image is x_T together with the
    # noise of every step (the "DDPM noise space" of Huberman-Spiegelglas et al. 2024), all of it
    # standard normal: (steps + 1) images of noise. The deterministic samplers (DDIM) need x_T
    # alone, but from random x_T our small UNet's DDIM images drift to grey blobs (the sweep).

    def noise_space_shape(self, num_inference_steps: int = NOISE_SPACE_STEPS) -> tuple[int, ...]:
        """x_T and one draw of fresh noise per step."""
        return (int(num_inference_steps) + 1, *self.latent_shape)

    def sample_noise_space(
        self, n: int, generator: torch.Generator, num_inference_steps: int = NOISE_SPACE_STEPS
    ) -> torch.Tensor:
        """n vectors of the noise space from its prior, N(0, I)."""
        shape = (n, *self.noise_space_shape(num_inference_steps))
        return torch.randn(shape, generator=generator).to(device_of(self.unet))

    def decode_noise_space(
        self, v: torch.Tensor, class_labels=None, guidance_scale: float | None = None
    ) -> torch.Tensor:
        """Run the stochastic sampler (NOISE_SPACE_SCHEDULER, v.shape[1] - 1 steps) from x_T = v[:, 0],
        with v[:, 1:] as its per-step noise: the image is a function of v alone. Images in [0, 1]."""
        return self.decode(
            v[:, 0], class_labels, num_inference_steps=v.shape[1] - 1, scheduler=NOISE_SPACE_SCHEDULER,
            guidance_scale=guidance_scale, noises=v[:, 1:],
        )  # fmt: skip

    @torch.inference_mode()
    def encode_noise_space(
        self, x: torch.Tensor, generator: torch.Generator, num_inference_steps: int = NOISE_SPACE_STEPS
    ) -> torch.Tensor:
        """A noise-space vector that decodes (unguided, no class) to the images x in [0, 1]: the
        "edit-friendly" inversion of Huberman-Spiegelglas, Kulikov & Michaeli (CVPR 2024). Each
        step's noisy image is drawn on its own from q(x_t | x_0); each step's noise is then whatever
        carries the sampler from one to the next. The last step adds no noise (its slot is zero), so
        the image comes back up to that step's own small error (tests/test_shipped.py states it).
        The noise found this way is larger than the prior's (about 1.5 to 1.9 times, per step)."""
        self.unet.eval()
        s = self.make_scheduler(NOISE_SPACE_SCHEDULER, num_inference_steps)
        x0 = x.to(device_of(self.unet)) * 2 - 1
        abar = self.scheduler.alphas_cumprod.to(x0.device)
        targets = []  # the noisy image at the start of every step, then x0
        for t in s.timesteps:
            noise = torch.randn(x0.shape, generator=generator).to(x0.device)
            targets.append(abar[int(t)].sqrt() * x0 + (1 - abar[int(t)]).sqrt() * noise)
        targets.append(x0)
        v = [targets[0] / s.init_noise_sigma]
        for i, t in enumerate(s.timesteps):
            x_t = targets[i]
            out = self._predict(s.scale_model_input(x_t, t), t, None, 1.0)
            # the step is mean + scale * noise; probe the scale on a copy (the step moves the scheduler on)
            ones = copy.deepcopy(s).step(out, t, x_t, variance_noise=torch.ones_like(x_t)).prev_sample
            mean = s.step(out, t, x_t, variance_noise=torch.zeros_like(x_t)).prev_sample
            scale = ones - mean
            safe = scale.abs() > 1e-6
            v.append(torch.where(safe, (targets[i + 1] - mean) / torch.where(safe, scale, 1.0), 0.0))
        return torch.stack(v, 1)

    @torch.inference_mode()
    def add_noise(self, x: torch.Tensor, timestep: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The forward process q(x_t | x_0) at one timestep, for images in [0, 1]."""
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        t = torch.full((len(x),), int(timestep), dtype=torch.int64)
        return ((self.scheduler.add_noise(x * 2 - 1, noise, t).clamp(-1, 1)) + 1) / 2

    def cost(
        self,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        class_labels=None,
        scheduler: str | None = None,
    ) -> Cost:
        scheduler, steps, guidance_scale = self.own_sampler(scheduler, num_inference_steps, guidance_scale)
        if scheduler == DISTILLED and self.student is not None:  # one pass per step, its guidance built in
            return self.student.cost(steps, 1.0, class_labels, "ddim")
        guided = class_labels is not None and guidance_scale != 1.0
        return Cost(
            nfe=int(steps) * (2 if guided else 1),
            parameters=count_parameters(self.unet),
            precision=self.kernels.precision,
        )


class NoiseSpace:
    """Diffusion's latent space on the panel: its noise space (`DiffusionModel.sample_noise_space`),
    x_T and the fresh noise of each of NOISE_SPACE_STEPS steps of the default stochastic sampler. That
    vector alone fixes the image, so a path between two vectors decodes to a path between two images,
    and an encoded image decodes to itself. x_T alone would not do: the stochastic sampler all but
    forgets it, and DDIM from random x_T drifts to grey blobs on our small UNets (docs/results.md,
    "Diffusion samplers")."""

    SEED = 0  # the inversion's own draws of q(x_t | x_0): one encoding per image

    def __init__(self, model: DiffusionModel):
        self.model, self.shape = model, model.noise_space_shape()
        self.decoding = (
            f" Decoded by the Diffusion tab's sampler ({SCHEDULER_NAMES[NOISE_SPACE_SCHEDULER]}) in "
            f"{NOISE_SPACE_STEPS} steps, each step's noise read from the vector."
        )

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.model.sample_noise_space(n, generator)

    def decode(self, v: torch.Tensor, label=None) -> torch.Tensor:
        return self.model.decode_noise_space(v, label)

    def encode(self, x: torch.Tensor, label=None) -> torch.Tensor:
        if label is not None:
            raise ValueError("the noise-space inversion is unconditional: give no class")
        return self.model.encode_noise_space(x, make_generator(self.SEED))
