"""The GAN's training step: the adversarial game of Goodfellow et al. 2014 with the non-saturating
generator loss, and an EMA of the generator's weights, which is what ships."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from diffusers.training_utils import EMAModel

from playground.models import GAN
from playground.training.common import Defaults, Setup, drop_labels, fixed_grid


def lr_schedule(args, steps_per_epoch: int, total_steps: int):
    """The GAN's learning-rate schedule: its name for summary.json and its factor at each step."""
    if args.gan_lr_decay:
        return "linear to 0", lambda s: max(0.0, 1 - s / total_steps)
    if args.gan_lr_halve_at is not None:
        halve_step = args.gan_lr_halve_at * steps_per_epoch
        return f"halved after epoch {args.gan_lr_halve_at}", lambda s: 1.0 if s < halve_step else 0.5
    return "constant", lambda s: 1.0


class Trainer:
    defaults = Defaults(epochs=10, batch_size=128, lr=2e-4)

    def __init__(self, setup: Setup, config, initial: GAN | None = None):
        self.setup, args, acc = setup, setup.args, setup.accelerator
        model = initial or GAN(config)
        self.config = model.config
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=args.gan_d_lr or args.lr, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=args.lr, betas=(0.5, 0.999))
        # Linear decay to zero, one halving, or a constant factor of 1: the schedulers step with the
        # optimisers and are saved with them, so a --resume continues the same schedule.
        self.lr_schedule, decay = lr_schedule(args, setup.steps_per_epoch, setup.total_steps)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, decay)
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, decay)
        # channels-last: oneDNN's faster layout for these convolutions on CPUs (same arithmetic)
        model = model.to(memory_format=torch.channels_last)
        prepared = acc.prepare(model, opt_d, opt_g, sched_d, sched_g, setup.loader)
        self.model, self.opt_d, self.opt_g, self.sched_d, self.sched_g, setup.loader = prepared
        # An EMA of the generator's weights is what ships and what the grids show: it averages out the
        # oscillation of the adversarial game (Karras et al. 2018; Yazici et al. 2019).
        self.ema = EMAModel(self.gan.generator.parameters(), decay=args.gan_ema)
        acc.register_for_checkpointing(self.ema)
        self.fixed_y, self.fixed_z = fixed_grid(self.config.num_classes, setup.per_class, self.config.latent_dim)

    @property
    def gan(self) -> GAN:
        return self.setup.accelerator.unwrap_model(self.model)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        acc, gan = self.setup.accelerator, self.gan
        y = drop_labels(y, gan.config.num_classes, gan.config.null_class_prob)
        x = (x * 2 - 1).contiguous(memory_format=torch.channels_last)
        z = torch.randn(len(x), gan.config.latent_dim, device=x.device)
        # The two networks are called directly, not through the prepared model's forward, so
        # --precision's autocast is entered here (a no-op at fp32).
        with acc.autocast():
            fake = gan.generator(z, y)
            # discriminator: tell real from fake, maximise log D(x) + log(1 - D(G(z)))
            d_real, d_fake = gan.discriminator(x, y), gan.discriminator(fake.detach(), y)
            loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
            loss_d = loss_d + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.opt_d.zero_grad()
        acc.backward(loss_d)
        self.opt_d.step()
        # generator: fool the discriminator, the non-saturating loss -log D(G(z))
        self.opt_g.zero_grad()
        with acc.autocast():
            d_gen = gan.discriminator(fake, y)
            loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        acc.backward(loss_g)
        self.opt_g.step()
        self.sched_d.step()
        self.sched_g.step()
        self.ema.step(gan.generator.parameters())
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(d_real).mean().item(),
            "d_fake": torch.sigmoid(d_fake).mean().item(),
        }

    @torch.no_grad()
    def snapshot(self) -> torch.Tensor:
        shipped = copy.deepcopy(self.gan)  # as it would ship: the EMA weights and their own BatchNorm statistics
        self.ema.copy_to(shipped.generator.parameters())
        shipped.refit_batchnorm(num_samples=self.setup.grid_refit or self.setup.args.batch_size * 40)
        return shipped.decode(self.fixed_z, self.fixed_y)

    def finish(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[GAN, dict]:
        m, args = self.gan, self.setup.args
        self.ema.copy_to(m.generator.parameters())  # ship the generator's EMA; the discriminator as trained
        m.refit_batchnorm(seed=args.seed)  # and BatchNorm statistics of the EMA weights, not the live ones
        return m, {
            "generator_batchnorm": "refitted to the EMA weights (GAN.refit_batchnorm)",
            "generator_ema_decay": self.ema.decay,
            "discriminator_lr": args.gan_d_lr or args.lr,
            "lr_schedule": self.lr_schedule,
        }

    @staticmethod
    def refit(model: GAN, images: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[str, dict]:
        """No training: the generator's BatchNorm statistics for the weights it has."""
        model.refit_batchnorm(seed=seed)
        note = {"generator_batchnorm": "refitted to the EMA weights after training (train.py --refit)"}
        return "the BatchNorm statistics of the GAN's generator", note
