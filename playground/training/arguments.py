"""The training run's arguments: the command line of scripts/train.py, and a recipe (a summary.json
of an earlier run) as their defaults. The live training (playground/live.py) builds its arguments
here too, so it trains with the same defaults."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from playground import weights
from playground.models import REGISTRY
from playground.training import trainer_class


def read_recipe(argv) -> dict:
    """The recipe of --recipe FILE (a summary.json), or {}; SystemExit with a message if unreadable."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe")
    known, _ = pre.parse_known_args(argv)
    if not known.recipe:
        return {}
    try:
        found = json.loads(Path(known.recipe).read_text())["recipe"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"error: --recipe {known.recipe}: no recipe there ({exc.__class__.__name__}: {exc})") from None
    return {**found, "config": json.dumps(found.get("config", {}))}


def as_argv(**arguments) -> list[str]:
    """scripts/train.py's command line for arguments given as keywords (epochs=3, config={...},
    dry_run=True); None and False leave one out."""
    argv = []
    for key, value in arguments.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, json.dumps(value) if isinstance(value, dict) else str(value)]
    return argv


def parse_args(argv=None) -> argparse.Namespace:
    recipe = read_recipe(argv)
    p = argparse.ArgumentParser(description="Train one model of the playground (scripts/train.py).")
    p.add_argument(
        "--recipe",
        metavar="SUMMARY_JSON",
        help="train as the model whose training/summary.json this is was trained (its every argument, seed "
        "included); arguments given beside it win",
    )
    p.add_argument("--dataset", required=not recipe, choices=["mnist", "fashion", "cifar10"])
    p.add_argument("--family", required=not recipe, choices=list(REGISTRY))
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
    add_family_arguments(p)
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
    return checked(p, recipe, argv)


def add_family_arguments(p: argparse.ArgumentParser) -> None:
    """The options of one family's training step (the GAN's, diffusion's)."""
    p.add_argument("--gan-d-lr", type=float, help="the GAN discriminator's learning rate (default --lr)")
    p.add_argument("--gan-ema", type=float, default=0.999, help="decay of the GAN generator's weight average")
    schedule = p.add_mutually_exclusive_group()  # the GAN's learning-rate schedule: one of these, or constant
    schedule.add_argument(
        "--gan-lr-decay",
        action="store_true",
        help="decay both GAN learning rates linearly to zero over the run (default: constant; measured "
        "worse for a 20-epoch Fashion-MNIST run, see docs/results.md)",
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
        "2022), which the deterministic samplers need: see docs/results.md",
    )
    p.add_argument(
        "--distill-steps",
        type=int,
        metavar="N",
        help="diffusion, with --init-from TEACHER: progressive distillation (Salimans & Ho 2022). The student, a "
        "copy of the teacher that predicts v, learns to sample in N DDIM steps what the teacher samples in 2N at "
        "its own guidance scale; it then samples with DDIM, N steps, guidance 1 (built in). Run again with the "
        "student as the teacher to halve again",
    )
    p.add_argument(
        "--teacher-substeps",
        type=int,
        default=2,
        metavar="K",
        help="with --distill-steps: the teacher's DPM-Solver++ steps between two of the student's (default 2, "
        "the paper's halving); more give the student a target closer to the teacher's ODE, at K guided "
        "teacher passes per training image",
    )
    p.add_argument(
        "--adversarial",
        metavar="GAN",
        help="with --distill-steps: add an adversarial term to the distillation (as SDXL-Lightning does), "
        "against the discriminator of the GAN weights in this folder, trained on from there",
    )


def checked(p: argparse.ArgumentParser, recipe: dict, argv) -> argparse.Namespace:
    """Parse with the recipe's arguments as defaults, fill in the family's own defaults, and check."""
    unknown = set(recipe) - {a.dest for a in p._actions}
    if unknown:
        p.error(f"the recipe holds arguments this script does not know: {', '.join(sorted(unknown))}")
    p.set_defaults(**recipe)
    args = p.parse_args(argv)
    defaults = trainer_class(args.family).defaults
    args.epochs = args.epochs or defaults.epochs
    args.batch_size = args.batch_size or defaults.batch_size
    args.lr = args.lr or defaults.lr
    args.out = Path(args.out or weights.weights_root() / args.dataset / args.family)
    args.checkpoint_dir = Path(args.checkpoint_dir or Path("checkpoints") / args.dataset / args.family)
    if args.gan_lr_halve_at is not None and args.gan_lr_halve_at < 1:
        p.error("--gan-lr-halve-at must be a positive number of epochs")
    if args.min_snr_gamma is not None and (args.family != "diffusion" or not args.min_snr_gamma > 0):
        p.error("--min-snr-gamma is a positive number, for --family diffusion")
    if args.prediction_type is not None and args.family != "diffusion":
        p.error("--prediction-type is for --family diffusion")
    if args.distill_steps is not None:
        if args.family != "diffusion" or not args.init_from:
            p.error("--distill-steps is for --family diffusion, with --init-from the teacher")
        if not 1 <= args.distill_steps <= 250:
            p.error("--distill-steps is a number of student steps from 1 to 250")
        if not 2 <= args.teacher_substeps <= 50:
            p.error("--teacher-substeps is a number of teacher steps per student step from 2 to 50")
        if args.prediction_type not in (None, "v_prediction"):
            p.error("a distilled student predicts v: leave out --prediction-type or say v_prediction")
        args.prediction_type = "v_prediction"
    elif args.adversarial:
        p.error("--adversarial is for --distill-steps")
    if args.adversarial and not (Path(args.adversarial) / "config.json").is_file():
        p.error(f"--adversarial: {args.adversarial} holds no GAN weights (no config.json)")
    return args
