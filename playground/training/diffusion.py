"""The diffusion model's training step: Ho et al. 2020, algorithm 1 (or its v-prediction target,
Salimans & Ho 2022), with the label dropped to "null" 10 % of the time so that the same network
also predicts unconditionally (classifier-free guidance), and an EMA of the weights, which ships.
With --distill-steps N the step is progressive distillation instead (distill.py): the student, a
copy of the --init-from model, learns to sample in N DDIM steps what that model does in 2N (or
N x --teacher-substeps); with --adversarial GAN, plus an adversarial term against that GAN's
discriminator (distill.AdversarialDistillation)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel

from playground.models import GAN, DiffusionModel
from playground.training.common import Defaults, Setup, drop_labels, fixed_grid
from playground.training.distill import AdversarialDistillation, Distillation

NULL_LABEL_SHARE = 0.1
# The adversarial gradient's share of the distillation one's at the last layer (VQGAN's adaptive
# weight, Esser et al. 2021, who use 0.8): the distillation target has to keep each noise's image
ADVERSARIAL_WEIGHT = 0.5


def min_snr_weights(alphas_cumprod: torch.Tensor, gamma: float, prediction_type: str = "epsilon") -> torch.Tensor:
    """Each timestep's loss weight under Min-SNR-gamma (Hang et al. 2023), with SNR(t) = alpha_bar /
    (1 - alpha_bar): min(SNR, gamma) / SNR for a model that predicts the noise, min(SNR, gamma) /
    (SNR + 1) for one that predicts v (their eq. 9). The nearly clean timesteps weigh less."""
    alpha_bar = alphas_cumprod.to(torch.float64)
    snr = alpha_bar / (1 - alpha_bar)
    return (snr.clamp(max=gamma) / (snr + 1 if prediction_type == "v_prediction" else snr)).float()


class Trainer:
    defaults = Defaults(epochs=6, batch_size=128, lr=1e-3)

    def __init__(self, setup: Setup, config, initial: DiffusionModel | None = None):
        self.setup, args, acc = setup, setup.args, setup.accelerator
        self.dm = initial or DiffusionModel.from_config(config)
        self.dm.student = None  # a student belongs to the weights it was distilled from, not to new ones
        self.distillation = None
        if args.distill_steps:  # the teacher: the model as it starts, at its own guidance (the student predicts v)
            teacher = copy.deepcopy(self.dm).to(acc.device)
            w = teacher.guidance_scale
            if args.adversarial:  # the discriminator trains on from the GAN's, with its own optimiser
                disc = GAN.from_pretrained(args.adversarial).discriminator.to(acc.device).train()
                disc, self.opt_d = acc.prepare(disc, torch.optim.Adam(disc.parameters(), args.lr, betas=(0.5, 0.999)))
                self.distillation = AdversarialDistillation(teacher, args.distill_steps, w, args.teacher_substeps, disc)
            else:
                self.distillation = Distillation(teacher, args.distill_steps, w, args.teacher_substeps)
        if args.prediction_type is not None:  # the same noise schedule, a new training target
            self.dm.scheduler = DDPMScheduler.from_config(
                self.dm.scheduler.config, prediction_type=args.prediction_type
            )
        unet, self.noise = self.dm.unet.train(), self.dm.scheduler
        opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
        warmup = setup.warmup_steps if setup.warmup_steps is not None else min(500, setup.total_steps // 10)
        sched = get_cosine_schedule_with_warmup(opt, warmup, setup.total_steps)
        # EMA of the weights (Ho et al. 2020 use 0.9999 over 800k steps; ours are far fewer)
        self.ema = EMAModel(unet.parameters(), decay=0.999, model_cls=type(unet), model_config=unet.config)
        self.model, self.opt, self.sched, setup.loader = acc.prepare(unet, opt, sched, setup.loader)
        acc.register_for_checkpointing(self.ema)
        self.fixed_y, self.fixed_z = fixed_grid(setup.info.num_classes, setup.per_class, *setup.info.image_shape)
        self.snr_weights = None
        if args.min_snr_gamma is not None:
            prediction = self.noise.config.prediction_type
            self.snr_weights = min_snr_weights(self.noise.alphas_cumprod, args.min_snr_gamma, prediction)
            self.snr_weights = self.snr_weights.to(acc.device)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        acc = self.setup.accelerator
        x0 = x * 2 - 1
        noise = torch.randn_like(x0)
        y = drop_labels(y, self.setup.info.num_classes, NULL_LABEL_SHARE)
        self.opt.zero_grad()
        logs = {}
        if isinstance(self.distillation, AdversarialDistillation):
            loss, logs = self.adversarial_loss(x0, noise, y)
        else:
            loss = self.distill_loss(x0, noise, y) if self.distillation else self.loss(x0, noise, y)
        acc.backward(loss)
        acc.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.sched.step()
        self.ema.step(acc.unwrap_model(self.model).parameters())
        return {"loss": loss.item(), **logs}

    def loss(self, x0: torch.Tensor, noise: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The denoising loss: the noise (or v) at a random timestep, Min-SNR weighted if asked."""
        t = torch.randint(0, self.noise.config.num_train_timesteps, (len(x0),), device=x0.device)
        out = self.model(self.noise.add_noise(x0, noise, t), t, class_labels=y).sample
        v_target = self.noise.config.prediction_type == "v_prediction"
        target = self.noise.get_velocity(x0, noise, t) if v_target else noise
        if self.snr_weights is None:
            return F.mse_loss(out, target)
        return (self.snr_weights[t] * (out.float() - target).pow(2).mean(dim=(1, 2, 3))).mean()

    def distill_loss(self, x0: torch.Tensor, noise: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Progressive distillation: the student's clean image at one of its sampler's timesteps
        against the one that takes a DDIM step to where the teacher's steps go (Distillation.target), weighted by
        max(SNR, 1) (Salimans & Ho 2022, algorithm 2)."""
        return self.distilled(x0, noise, y)[0]

    def distilled(self, x0: torch.Tensor, noise: torch.Tensor, y: torch.Tensor):
        """distill_loss, the student's clean images and their timesteps."""
        d = self.distillation
        t, t_end = d.sample_t(len(x0), x0.device)
        z = self.noise.add_noise(x0, noise, t)
        target = d.target(z, y, t, t_end)
        out = self.model(z, t, class_labels=y).sample.float()
        student_x0 = d.schedule.x0(z, out, t, "v_prediction")  # a student predicts v
        return (d.weight(t, z) * (student_x0 - target).pow(2)).mean(), student_x0, t

    def adversarial_loss(self, x0: torch.Tensor, noise: torch.Tensor, y: torch.Tensor):
        """Progressive distillation's loss (distill_loss) plus the non-saturating adversarial one on
        the student's clean images after the first step, weighted adaptively (Esser et al. 2021, eq. 7)
        to ADVERSARIAL_WEIGHT times the distillation gradient's norm at the UNet's last layer; and
        one discriminator step on real images against those estimates."""
        d, acc = self.distillation, self.setup.accelerator
        loss_distill, student_x0, t = self.distilled(x0, noise, y)
        judged = t < d.grid[0]  # not the first step
        if not judged.any():
            return loss_distill, {"loss_distill": loss_distill.item()}
        fake, real, labels = student_x0[judged], x0[judged], y[judged]
        d_real, d_fake = d.discriminator(real, labels), d.discriminator(fake.detach().clamp(-1, 1), labels)
        loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        d.discriminator.zero_grad(set_to_none=True)
        acc.backward(loss_d)
        self.opt_d.step()
        loss_adv = F.softplus(-d.discriminator(fake, labels)).mean()
        last = acc.unwrap_model(self.model).conv_out.weight
        g_distill = torch.autograd.grad(loss_distill, last, retain_graph=True)[0].norm()
        g_adv = torch.autograd.grad(loss_adv, last, retain_graph=True)[0].norm()
        weight = ADVERSARIAL_WEIGHT * (g_distill / (g_adv + 1e-8)).clamp(max=1e4).detach()
        logs = {"loss_distill": loss_distill.item(), "loss_d": loss_d.item(), "loss_adv": loss_adv.item(),
                "adv_weight": weight.item(), "d_real": torch.sigmoid(d_real).mean().item(),
                "d_fake": torch.sigmoid(d_fake).mean().item()}  # fmt: skip
        return loss_distill + weight * loss_adv, logs

    @torch.no_grad()
    def snapshot(self) -> torch.Tensor:
        """DDPM with --snapshot-steps steps from the fixed noise, on the EMA weights (a student: its own sampler)."""
        m = self.setup.accelerator.unwrap_model(self.model)
        self.ema.store(m.parameters())
        self.ema.copy_to(m.parameters())
        own = {}
        steps, sampler = self.setup.args.snapshot_steps, "ddpm"
        if self.distillation:
            (steps, sampler), own = (self.distillation.steps, "ddim"), {"guidance_scale": 1.0}
        images = DiffusionModel(m, self.noise, **own).decode(
            self.fixed_z, self.fixed_y, num_inference_steps=steps, scheduler=sampler,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        self.ema.restore(m.parameters())
        m.train()
        return images

    def finish(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[DiffusionModel, dict]:
        m = self.setup.accelerator.unwrap_model(self.model)
        self.ema.copy_to(m.parameters())  # ship the EMA weights
        self.dm.unet = m  # saved with the sampling settings of the model it started from
        distilled = {}
        if self.distillation:  # a student samples with DDIM at its steps, its guidance built in
            d = self.distillation
            self.dm.sampler, self.dm.num_inference_steps, self.dm.guidance_scale = "ddim", d.steps, 1.0
            self.dm.built_in_guidance = d.built_in_guidance
            distilled = {"distilled": {"student_steps": d.steps, "teacher_steps": d.substeps * d.steps,
                                       "teacher_sampler": "dpm++", "teacher_guidance_scale": d.guidance,
                                       "method": "progressive distillation"}}  # fmt: skip
            if isinstance(d, AdversarialDistillation):
                distilled["distilled"]["method"] = "progressive distillation with an adversarial term"
                distilled["distilled"]["adversarial_weight"] = ADVERSARIAL_WEIGHT
        gamma = self.setup.args.min_snr_gamma
        return self.dm, {
            **distilled,
            "ema_decay": self.ema.decay,
            "prediction_type": self.noise.config.prediction_type,
            "loss_weighting": "unweighted" if gamma is None else f"Min-SNR, gamma {gamma:g}",
        }
