"""Train one model of the playground: a GAN, a VAE, a diffusion model or the classifier.

    python scripts/train.py --dataset mnist --family diffusion --data-root data --epochs 20
    accelerate launch scripts/train.py --dataset fashion --family gan ...   # GPUs, many of them

Hugging Face Accelerate runs the same loop on one CPU or on many GPUs. Every epoch it writes
a checkpoint (resume with --resume), one line per epoch (and every --log-every steps) to
<out>/training/log.jsonl and a fixed-noise sample grid to <out>/training/epoch_NNN.png. At the
end the model goes to <out> with save_pretrained, and <out>/training/summary.json records the
wall-clock time and the hardware. --init-from trains an earlier model on (its summary and
training folder are kept, and the wall-clock times add up).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from diffusers import DDPMScheduler
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playground import weights  # noqa: E402
from playground.data import DataError, get_info, load_tensors  # noqa: E402
from playground.images import grid  # noqa: E402
from playground.metrics import hardware  # noqa: E402
from playground.models import CONFIGS, GAN, VAE, Classifier, DiffusionModel  # noqa: E402

MODELS = {"gan": GAN, "vae": VAE, "diffusion": DiffusionModel, "classifier": Classifier}

DEFAULTS = {  # family: (epochs, batch size, learning rate)
    "gan": (10, 128, 2e-4),
    "vae": (15, 128, 1e-3),
    "diffusion": (6, 128, 1e-3),
    "classifier": (6, 128, 2e-3),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, choices=["mnist", "fashion", "cifar10"])
    p.add_argument("--family", required=True, choices=list(DEFAULTS))
    p.add_argument("--data-root", default="data", help="torchvision's layout; downloaded there if missing and online")
    p.add_argument("--out", help="where the trained model goes (default weights/<dataset>/<family>)")
    p.add_argument("--checkpoint-dir", help="training state for --resume (default checkpoints/<dataset>/<family>)")
    p.add_argument("--epochs", type=int, help="passes over the training set (default per family)")
    p.add_argument("--steps", type=int, help="stop after this many optimisation steps instead")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--config", default="{}", help="JSON overrides of the family config, e.g. '{\"latent_dim\": 8}'")
    p.add_argument("--limit", type=int, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--snapshot-steps", type=int, default=50, help="DDPM steps for the diffusion epoch grids")
    p.add_argument("--gan-d-lr", type=float, help="the GAN discriminator's learning rate (default --lr)")
    p.add_argument("--gan-ema", type=float, default=0.999, help="decay of the GAN generator's weight average")
    schedule = p.add_mutually_exclusive_group()  # the GAN's learning-rate schedule: one of these, or constant
    schedule.add_argument(
        "--gan-lr-decay",
        action="store_true",
        help="decay both GAN learning rates linearly to zero over the run (default: constant; measured "
        "worse for a 20-epoch Fashion-MNIST run, see playground/models/gan.py)",
    )
    schedule.add_argument(
        "--gan-lr-halve-at",
        type=int,
        metavar="EPOCH",
        help="halve both GAN learning rates after this many epochs (the shipped Fashion-MNIST recipe in one run)",
    )
    p.add_argument(
        "--min-snr-gamma",
        type=float,
        metavar="GAMMA",
        help="diffusion: weight each image's loss by min(SNR, GAMMA) / SNR of its timestep (Min-SNR-gamma, "
        "Hang et al. 2023; they use 5), so the nearly clean timesteps weigh less (default: unweighted)",
    )
    p.add_argument(
        "--prediction-type",
        choices=["epsilon", "v_prediction"],
        help="diffusion: what the UNet learns to predict (default: the model's own; new models epsilon). "
        "With --init-from, v_prediction re-parameterises an epsilon model by training it on (Salimans & Ho "
        "2022), which the deterministic samplers need: see playground/models/diffusion.py",
    )
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="bf16: compute in bfloat16 autocast, keep fp32 weights (faster on CPUs with AMX or AVX-512 BF16)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument(
        "--init-from",
        help="start from the trained model in this folder (its config, its weights; a fresh optimiser and "
        "schedule) and train it on: its training folder is kept in <out>/training/before",
    )
    p.add_argument(
        "--refit",
        "--refit-regions",
        action="store_true",
        help="no training: refit what the model in --out estimates from data after training "
        "(the VAE's class regions, the GAN generator's BatchNorm statistics)",
    )
    p.add_argument("--dry-run", action="store_true", help="two batches, then save and exit (for tests)")
    args = p.parse_args(argv)
    epochs, batch_size, lr = DEFAULTS[args.family]
    args.epochs = args.epochs or epochs
    args.batch_size = args.batch_size or batch_size
    args.lr = args.lr or lr
    args.out = Path(args.out or weights.weights_root() / args.dataset / args.family)
    args.checkpoint_dir = Path(args.checkpoint_dir or Path("checkpoints") / args.dataset / args.family)
    if args.gan_lr_halve_at is not None and args.gan_lr_halve_at < 1:
        p.error("--gan-lr-halve-at must be a positive number of epochs")
    if args.min_snr_gamma is not None and (args.family != "diffusion" or not args.min_snr_gamma > 0):
        p.error("--min-snr-gamma is a positive number, for --family diffusion")
    if args.prediction_type is not None and args.family != "diffusion":
        p.error("--prediction-type is for --family diffusion")
    return args


def min_snr_weights(alphas_cumprod: torch.Tensor, gamma: float, prediction_type: str = "epsilon") -> torch.Tensor:
    """Each timestep's loss weight under Min-SNR-gamma (Hang et al. 2023), with SNR(t) = alpha_bar /
    (1 - alpha_bar): min(SNR, gamma) / SNR for a model that predicts the noise, min(SNR, gamma) /
    (SNR + 1) for one that predicts v (their eq. 9). The nearly clean timesteps weigh less."""
    alpha_bar = alphas_cumprod.to(torch.float64)
    snr = alpha_bar / (1 - alpha_bar)
    return (snr.clamp(max=gamma) / (snr + 1 if prediction_type == "v_prediction" else snr)).float()


# On the shipped Fashion-MNIST diffusion recipe (FID 5.12 at 5000 samples, SDE-DPM-Solver++ 50
# steps, w = 1; `evaluate.py --families diffusion --weights` on a folder holding each candidate;
# all measured as floats, before evaluate.py rounded samples to 8 bits):
# --min-snr-gamma 5 (92 min) scored 6.29, class accuracy 91.5 against 91.4 %, precision/recall
# 0.89/0.79 against 0.86/0.84, sharper but less varied; batch 64 instead of 128 (`--epochs 12
# --batch-size 64 --lr 7e-4`, 11244 steps, 85 min) scored 5.60 (90.7 %, 0.87/0.84). Neither ships.


def gan_lr_schedule(args: argparse.Namespace, steps_per_epoch: int, total_steps: int):
    """The GAN's learning-rate schedule: its name for summary.json and its factor at each step."""
    if args.gan_lr_decay:
        return "linear to 0", lambda s: max(0.0, 1 - s / total_steps)
    if args.gan_lr_halve_at is not None:
        halve_step = args.gan_lr_halve_at * steps_per_epoch
        return f"halved after epoch {args.gan_lr_halve_at}", lambda s: 1.0 if s < halve_step else 0.5
    return "constant", lambda s: 1.0


def random_shift(x: torch.Tensor, pixels: int = 2) -> torch.Tensor:
    """Shift each image by up to `pixels` in each direction (the classifier's augmentation)."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pixels,) * 4)
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, n)).tolist()
    return torch.stack([xp[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def main(argv=None) -> int:
    args = parse_args(argv)
    info = get_info(args.dataset)
    accelerator = Accelerator(mixed_precision="bf16" if args.precision == "bf16" else "no")
    set_seed(args.seed)
    try:
        images, labels = load_tensors(args.dataset, args.data_root, train=True)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    if args.refit:
        if args.family not in ("vae", "gan"):
            print("error: --refit is for the VAE and the GAN", file=sys.stderr)
            return 2
        model = MODELS[args.family].from_pretrained(args.out)
        if args.family == "vae":
            model.fit_class_regions(images, labels)
            what = f"the class regions of the VAE from {len(images)} training images"
        else:
            model.refit_batchnorm(seed=args.seed)
            what = "the BatchNorm statistics of the GAN's generator"
            summary_path = args.out / "training" / "summary.json"
            if summary_path.is_file():  # the shipped model is no longer exactly what training saved: say so
                summary = json.loads(summary_path.read_text())
                summary["generator_batchnorm"] = "refitted to the EMA weights after training (train.py --refit)"
                summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        model.save_pretrained(args.out)
        if args.out.resolve().is_relative_to(weights.weights_root().resolve()):
            weights.write_manifest()
        print(f"refitted {what} in {args.out}")
        return 0
    overrides = json.loads(args.config)
    initial = None
    if args.init_from:
        if overrides:
            print("error: --init-from trains the model's own config; leave out --config", file=sys.stderr)
            return 2
        try:
            initial = MODELS[args.family].from_pretrained(args.init_from)
        except Exception as exc:  # missing folder, damaged files: say which
            print(f"error: could not load a {args.family} from {args.init_from}: {exc}", file=sys.stderr)
            return 2
    config = CONFIGS[args.family](
        image_channels=info.channels, image_size=info.image_size, num_classes=info.num_classes, **overrides
    )
    loader = DataLoader(
        TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True, drop_last=len(images) > args.batch_size
    )
    steps_per_epoch = len(loader) if not args.dry_run else 2
    total_steps = args.steps or args.epochs * steps_per_epoch
    epochs = 1 if args.dry_run else math.ceil(total_steps / steps_per_epoch)

    # --- the model, its optimiser(s) and what a training step does --------------------------
    fixed = torch.Generator().manual_seed(1234)  # the same noise for every epoch's grid
    fixed_labels = torch.arange(info.num_classes).repeat_interleave(10)
    ema = None
    if args.family == "gan":
        model = initial or GAN(config)
        config = model.config
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=args.gan_d_lr or args.lr, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=args.lr, betas=(0.5, 0.999))
        # Linear decay to zero, one halving, or a constant factor of 1: the schedulers step with the
        # optimisers and are saved with them, so a --resume continues the same schedule.
        lr_schedule, decay = gan_lr_schedule(args, steps_per_epoch, total_steps)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, decay)
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, decay)
        # channels-last: oneDNN's faster layout for these convolutions on CPUs (same arithmetic)
        model = model.to(memory_format=torch.channels_last)
        model, opt_d, opt_g, sched_d, sched_g, loader = accelerator.prepare(
            model, opt_d, opt_g, sched_d, sched_g, loader
        )
        fixed_z = torch.randn(len(fixed_labels), config.latent_dim, generator=fixed)
    elif args.family == "vae":
        model = initial or VAE(config)
        config = model.config
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        model, opt, loader = accelerator.prepare(model, opt, loader)
        fixed_z = torch.randn(len(fixed_labels), config.latent_dim, generator=fixed)
    elif args.family == "diffusion":
        dm = initial or DiffusionModel.from_config(config)
        if args.prediction_type is not None:  # the same noise schedule, a new training target
            dm.scheduler = DDPMScheduler.from_config(dm.scheduler.config, prediction_type=args.prediction_type)
        model, noise_scheduler = dm.unet.train(), dm.scheduler
        v_target = noise_scheduler.config.prediction_type == "v_prediction"
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
        lr_sched = get_cosine_schedule_with_warmup(opt, min(500, total_steps // 10), total_steps)
        # EMA of the weights (Ho et al. 2020 use 0.9999 over 800k steps; ours are far fewer)
        ema = EMAModel(model.parameters(), decay=0.999, model_cls=type(model), model_config=model.config)
        model, opt, lr_sched, loader = accelerator.prepare(model, opt, lr_sched, loader)
        accelerator.register_for_checkpointing(ema)
        fixed_z = torch.randn(len(fixed_labels), *info.image_shape, generator=fixed)
        if args.min_snr_gamma is not None:
            snr_weights = min_snr_weights(
                noise_scheduler.alphas_cumprod, args.min_snr_gamma, noise_scheduler.config.prediction_type
            ).to(accelerator.device)
    else:
        model = initial or Classifier(config)
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        lr_sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total_steps)
        model, opt, lr_sched, loader = accelerator.prepare(model, opt, lr_sched, loader)

    def train_step(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        if args.family == "gan":
            gan = accelerator.unwrap_model(model)
            k = gan.config.num_classes
            y = torch.where(torch.rand(len(y), device=y.device) < gan.config.null_class_prob, k, y)
            x = (x * 2 - 1).contiguous(memory_format=torch.channels_last)
            z = torch.randn(len(x), gan.config.latent_dim, device=x.device)
            # The two networks are called directly, not through the prepared model's forward, so
            # --precision's autocast is entered here (a no-op at fp32).
            with accelerator.autocast():
                fake = gan.generator(z, y)
                # ---- discriminator step: tell real from fake, maximise log D(x) + log(1 - D(G(z))) ----
                d_real, d_fake = gan.discriminator(x, y), gan.discriminator(fake.detach(), y)
                loss_d = F.binary_cross_entropy_with_logits(
                    d_real, torch.ones_like(d_real)
                ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad()
            accelerator.backward(loss_d)
            opt_d.step()
            # ---- generator step: fool the discriminator, the non-saturating loss -log D(G(z)) ----
            opt_g.zero_grad()
            with accelerator.autocast():
                d_gen = gan.discriminator(fake, y)
                loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
            accelerator.backward(loss_g)
            opt_g.step()
            sched_d.step()
            sched_g.step()
            ema.step(gan.generator.parameters())
            return {
                "loss_d": loss_d.item(),
                "loss_g": loss_g.item(),
                "d_real": torch.sigmoid(d_real).mean().item(),
                "d_fake": torch.sigmoid(d_fake).mean().item(),
            }
        if args.family == "vae":
            vae = accelerator.unwrap_model(model)
            k = vae.config.num_classes
            y = torch.where(torch.rand(len(y), device=y.device) < vae.config.null_class_prob, k, y)
            opt.zero_grad()
            logits, mean, logvar = model(x, y)
            rec, kl = vae.loss(logits, x, mean, logvar)
            accelerator.backward(rec + kl)
            opt.step()
            return {"loss": (rec + kl).item(), "reconstruction": rec.item(), "kl": kl.item()}
        if args.family == "diffusion":
            # Ho et al. 2020, algorithm 1, with the label dropped to "null" 10 % of the time so that
            # the same network also predicts unconditionally (classifier-free guidance).
            x0 = x * 2 - 1
            noise = torch.randn_like(x0)
            t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(x0),), device=x0.device)
            k = info.num_classes
            y = torch.where(torch.rand(len(y), device=y.device) < 0.1, k, y)
            opt.zero_grad()
            out = model(noise_scheduler.add_noise(x0, noise, t), t, class_labels=y).sample
            target = noise_scheduler.get_velocity(x0, noise, t) if v_target else noise
            if args.min_snr_gamma is None:
                loss = F.mse_loss(out, target)
            else:
                loss = (snr_weights[t] * (out.float() - target).pow(2).mean(dim=(1, 2, 3))).mean()
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            lr_sched.step()
            ema.step(accelerator.unwrap_model(model).parameters())
            return {"loss": loss.item()}
        opt.zero_grad()
        loss = F.cross_entropy(model(random_shift(x)), y)
        accelerator.backward(loss)
        opt.step()
        lr_sched.step()
        return {"loss": loss.item()}

    @torch.no_grad()
    def snapshot(path: Path) -> None:
        """The fixed-noise grid: one row per class."""
        m = accelerator.unwrap_model(model)
        if args.family == "gan":
            shipped = copy.deepcopy(m)  # as it would ship: the EMA weights and their own BatchNorm statistics
            ema.copy_to(shipped.generator.parameters())
            shipped.refit_batchnorm(num_samples=args.batch_size * 40)
            imgs = shipped.decode(fixed_z, fixed_labels)
        elif args.family == "vae":
            imgs = m.decode(fixed_z, fixed_labels)
            m.train()
        elif args.family == "diffusion":
            ema.store(m.parameters())
            ema.copy_to(m.parameters())
            dm = DiffusionModel(m, noise_scheduler)
            imgs = dm.decode(
                fixed_z, fixed_labels, num_inference_steps=args.snapshot_steps, scheduler="ddpm",
                generator=torch.Generator().manual_seed(0),
            )  # fmt: skip
            ema.restore(m.parameters())
            m.train()
        else:
            return
        grid(imgs, nrow=10).save(path)

    @torch.no_grad()
    def test_accuracy() -> float:
        test_x, test_y = load_tensors(args.dataset, args.data_root, train=False)
        m = accelerator.unwrap_model(model)
        pred = m.predict_proba(test_x).argmax(1).cpu()
        m.train()
        return (pred == test_y).float().mean().item()

    # --- resume -----------------------------------------------------------------------------
    train_dir = args.out / "training"
    start_epoch, step, elapsed = 0, 0, 0.0
    meta_path = args.checkpoint_dir / "progress.json"
    if args.resume and meta_path.is_file():
        accelerator.load_state(str(args.checkpoint_dir))
        meta = json.loads(meta_path.read_text())
        start_epoch, step, elapsed = meta["epoch"], meta["step"], meta["elapsed_s"]
        accelerator.print(f"resumed at epoch {start_epoch}, step {step}")
    elif accelerator.is_main_process:
        before = None
        if args.init_from and (Path(args.init_from) / "training").is_dir():  # (--out may be that folder)
            before = Path(tempfile.mkdtemp()) / "before"
            shutil.copytree(Path(args.init_from) / "training", before)
        train_dir.mkdir(parents=True, exist_ok=True)
        (train_dir / "log.jsonl").write_text("")
        for stale in train_dir.glob("epoch_*.png"):  # a fresh start: no grids of an earlier model
            stale.unlink()
        shutil.rmtree(train_dir / "before", ignore_errors=True)
        if before:
            shutil.move(before, train_dir / "before")
    gan_ema_path = args.checkpoint_dir / "generator_ema.pt"
    if args.family == "gan":
        # An EMA of the generator's weights is what ships and what the grids show: it averages out
        # the oscillation of the adversarial game (Karras et al. 2018; Yazici et al. 2019). A
        # checkpoint from before the EMA existed starts it from the generator it holds.
        ema = EMAModel(accelerator.unwrap_model(model).generator.parameters(), decay=args.gan_ema)
        if args.resume and gan_ema_path.is_file():
            ema.load_state_dict(torch.load(gan_ema_path, weights_only=True))

    # --- the loop -------------------------------------------------------------------------------
    def log(record: dict) -> None:
        if accelerator.is_main_process:
            with open(train_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    model.train()
    running, running_n = {}, 0  # loss sums since the last step record; windows may span epochs
    for epoch in range(start_epoch, epochs):
        t0, sums, count = time.time(), {}, 0
        for i, (x, y) in enumerate(loader):
            if (args.dry_run and i >= 2) or step >= total_steps:
                break
            losses = train_step(x, y)
            step += 1
            count += 1
            running_n += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
                running[k] = running.get(k, 0.0) + v
            if step % args.log_every == 0:
                log(
                    {
                        "kind": "step",
                        "epoch": epoch + 1,
                        "step": step,
                        "window": running_n,
                        **{k: v / running_n for k, v in running.items()},
                    }
                )
                running, running_n = {}, 0
        elapsed += time.time() - t0
        record = {"kind": "epoch", "epoch": epoch + 1, "step": step, "elapsed_s": round(elapsed, 1)}
        record.update({k: v / max(count, 1) for k, v in sums.items()})
        if args.family == "classifier":
            record["test_accuracy"] = test_accuracy()
        log(record)
        accelerator.print(json.dumps(record))
        if accelerator.is_main_process:
            snapshot(train_dir / f"epoch_{epoch + 1:03d}.png")
        accelerator.save_state(str(args.checkpoint_dir))
        if accelerator.is_main_process:
            if args.family == "gan":
                torch.save(ema.state_dict(), gan_ema_path)
            meta_path.write_text(json.dumps({"epoch": epoch + 1, "step": step, "elapsed_s": elapsed}))
        if step >= total_steps:
            break

    # --- save the model -----------------------------------------------------------------------------
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return 0
    m = accelerator.unwrap_model(model).eval().to(memory_format=torch.contiguous_format)  # safetensors' layout
    summary = {
        "dataset": args.dataset,
        "family": args.family,
        "epochs": epochs if not args.dry_run else 0,
        "steps": step,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "train_images": len(images),
        "wall_clock_s": round(elapsed, 1),
        "hardware": hardware(),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "precision": args.precision,
    }
    prior = train_dir / "before" / "summary.json"
    if args.init_from and prior.is_file():
        summary["continued_from"] = json.loads(prior.read_text())
        summary["total_wall_clock_s"] = round(
            elapsed + summary["continued_from"].get("total_wall_clock_s", summary["continued_from"]["wall_clock_s"]), 1
        )
    if args.family == "diffusion":
        ema.copy_to(m.parameters())  # ship the EMA weights
        dm.unet = m
        dm.save_pretrained(args.out)  # with the sampling settings of the model it started from
        summary["ema_decay"] = ema.decay
        summary["prediction_type"] = noise_scheduler.config.prediction_type
        summary["loss_weighting"] = (
            "unweighted" if args.min_snr_gamma is None else f"Min-SNR, gamma {args.min_snr_gamma:g}"
        )
    elif args.family == "vae":
        m.fit_class_regions(images.to(accelerator.device), labels.to(accelerator.device))
        m.save_pretrained(args.out)
    else:
        if args.family == "gan":
            ema.copy_to(m.generator.parameters())  # ship the generator's EMA; the discriminator as trained
            m.refit_batchnorm(seed=args.seed)  # and BatchNorm statistics of the EMA weights, not the live ones
            summary["generator_batchnorm"] = "refitted to the EMA weights (GAN.refit_batchnorm)"
            summary["generator_ema_decay"] = ema.decay
            summary["discriminator_lr"] = args.gan_d_lr or args.lr
            summary["lr_schedule"] = lr_schedule
        m.save_pretrained(args.out)
        if args.family == "classifier":
            summary["test_accuracy"] = test_accuracy()
    (train_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.out.resolve().is_relative_to(weights.weights_root().resolve()):
        weights.write_manifest()
    print(f"saved {args.family} for {info.title} to {args.out} after {step} steps, {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
