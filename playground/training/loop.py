"""The one training loop every family shares: accelerate, checkpoints and --resume, the log, the
epoch grids, and summary.json with the whole recipe. A family's own work is its Trainer's."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, TensorDataset

from playground import weights
from playground.data import get_info
from playground.images import grid
from playground.metrics import hardware
from playground.models import CONFIGS, REGISTRY
from playground.training import trainer_class
from playground.training.common import Setup

# Arguments that say where a run reads and writes, or how it is run, not what it trains: the
# recipe in summary.json leaves them out, so a retrain chooses its own (and no machine's path is kept).
NOT_RECIPE = ("data_root", "out", "checkpoint_dir", "resume", "dry_run", "refit", "recipe", "log_every")


def recipe(args: argparse.Namespace) -> dict:
    """Every argument that decides what is trained, --config as a JSON object."""
    r = {k: v for k, v in vars(args).items() if k not in NOT_RECIPE}
    r["config"] = json.loads(args.config) if isinstance(args.config, str) else args.config
    for key in ("init_from", "adversarial"):  # weights it starts from: kept where they lie inside the
        if r.get(key):  # checkout, as a relative path; else only the folder's name
            start = Path(r[key]).resolve()
            inside = start.is_relative_to(Path.cwd())
            r[key] = str(start.relative_to(Path.cwd())) if inside else f"(outside the checkout) {start.name}"
    return r


def commit() -> str | None:
    """The git commit the code was at, or None outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def setup(args: argparse.Namespace, images: torch.Tensor, labels: torch.Tensor) -> Setup:
    loader = DataLoader(
        TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True, drop_last=len(images) > args.batch_size
    )
    steps_per_epoch = len(loader) if not args.dry_run else 2
    accelerator = Accelerator(mixed_precision="bf16" if args.precision == "bf16" else "no")
    return Setup(args, get_info(args.dataset), accelerator, loader, steps_per_epoch,
                 args.steps or args.epochs * steps_per_epoch)  # fmt: skip


def start(args: argparse.Namespace, accelerator: Accelerator) -> tuple[int, int, float]:
    """Resume from the checkpoint (epoch, step, seconds so far), or start a fresh training folder
    (keeping an --init-from model's own training folder as training/before)."""
    meta_path = args.checkpoint_dir / "progress.json"
    train_dir = args.out / "training"
    if args.resume and meta_path.is_file():
        accelerator.load_state(str(args.checkpoint_dir))
        meta = json.loads(meta_path.read_text())
        accelerator.print(f"resumed at epoch {meta['epoch']}, step {meta['step']}")
        return meta["epoch"], meta["step"], meta["elapsed_s"]
    if accelerator.is_main_process:
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
    return 0, 0, 0.0


class Log:
    """log.jsonl: a line per --log-every steps (the mean losses since the last one) and per epoch."""

    def __init__(self, path: Path, accelerator: Accelerator, every: int):
        self.path, self.accelerator, self.every = path, accelerator, every
        self.running, self.running_n = {}, 0  # loss sums since the last step record; windows may span epochs

    def write(self, record: dict) -> None:
        if self.accelerator.is_main_process:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def add(self, epoch: int, step: int, losses: dict[str, float]) -> None:
        self.running_n += 1
        for k, v in losses.items():
            self.running[k] = self.running.get(k, 0.0) + v
        if step % self.every == 0:
            means = {k: v / self.running_n for k, v in self.running.items()}
            self.write({"kind": "step", "epoch": epoch, "step": step, "window": self.running_n, **means})
            self.running, self.running_n = {}, 0


def train_epoch(trainer, s: Setup, log: Log, epoch: int, step: int) -> tuple[int, dict]:
    """One pass over the data (or what is left of --steps); the step count and the epoch's mean losses."""
    sums, count = {}, 0
    for i, (x, y) in enumerate(s.loader):
        if (s.args.dry_run and i >= 2) or step >= s.total_steps:
            break
        losses = trainer.step(x, y)
        step, count = step + 1, count + 1
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        log.add(epoch + 1, step, losses)
    return step, {k: v / max(count, 1) for k, v in sums.items()}


def end_epoch(trainer, s: Setup, log: Log, epoch: int, step: int, elapsed: float, losses: dict) -> None:
    """The epoch's log line, its grid and the checkpoint."""
    record = {"kind": "epoch", "epoch": epoch + 1, "step": step, "elapsed_s": round(elapsed, 1), **losses}
    if hasattr(trainer, "epoch_record"):
        record.update(trainer.epoch_record())
    log.write(record)
    s.accelerator.print(json.dumps(record))
    if s.accelerator.is_main_process:
        images = trainer.snapshot()
        if images is not None:
            grid(images, nrow=10).save(s.args.out / "training" / f"epoch_{epoch + 1:03d}.png")
    s.accelerator.save_state(str(s.args.checkpoint_dir))
    if s.accelerator.is_main_process:
        progress = {"epoch": epoch + 1, "step": step, "elapsed_s": elapsed}
        (s.args.checkpoint_dir / "progress.json").write_text(json.dumps(progress))


def summary(
    args: argparse.Namespace, s: Setup, epochs: int, step: int, elapsed: float, n_images: int, code: str | None
) -> dict:
    out = {
        "dataset": args.dataset,
        "family": args.family,
        "epochs": epochs if not args.dry_run else 0,
        "steps": step,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "train_images": n_images,
        "wall_clock_s": round(elapsed, 1),
        "hardware": hardware(),
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "precision": args.precision,
        "seed": args.seed,
        "commit": code,
        "recipe": recipe(args),
    }
    prior = args.out / "training" / "before" / "summary.json"
    if args.init_from and prior.is_file():
        out["continued_from"] = json.loads(prior.read_text())
        before = out["continued_from"].get("total_wall_clock_s", out["continued_from"]["wall_clock_s"])
        out["total_wall_clock_s"] = round(elapsed + before, 1)
    return out


def run(args: argparse.Namespace, images: torch.Tensor, labels: torch.Tensor, initial=None) -> str:
    """Train the family of `args` on the images and save it to args.out; a line saying what was done."""
    info = get_info(args.dataset)
    code = commit()  # the code that trains, read before it does (the checkout may move on meanwhile)
    set_seed(args.seed)
    s = setup(args, images, labels)
    epochs = 1 if args.dry_run else math.ceil(s.total_steps / s.steps_per_epoch)
    config = CONFIGS[args.family](
        image_channels=info.channels, image_size=info.image_size, num_classes=info.num_classes,
        **json.loads(args.config),
    )  # fmt: skip
    trainer = trainer_class(args.family)(s, config, initial)
    start_epoch, step, elapsed = start(args, s.accelerator)
    log = Log(args.out / "training" / "log.jsonl", s.accelerator, args.log_every)
    trainer.model.train()
    for epoch in range(start_epoch, epochs):
        t0 = time.time()
        step, losses = train_epoch(trainer, s, log, epoch, step)
        elapsed += time.time() - t0
        end_epoch(trainer, s, log, epoch, step, elapsed, losses)
        if step >= s.total_steps:
            break
    s.accelerator.wait_for_everyone()
    if not s.accelerator.is_main_process:
        return ""
    s.accelerator.unwrap_model(trainer.model).eval().to(memory_format=torch.contiguous_format)  # safetensors' layout
    model, extra = trainer.finish(images, labels)
    model.save_pretrained(args.out)
    record = {**summary(args, s, epochs, step, elapsed, len(images), code), **extra}
    (args.out / "training" / "summary.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.out.resolve().is_relative_to(weights.weights_root().resolve()):
        weights.write_manifest()
    return f"saved {args.family} for {info.title} to {args.out} after {step} steps, {elapsed:.0f} s"


def train_and_load(folder: Path, images: torch.Tensor, labels: torch.Tensor, **arguments):
    """Train with scripts/train.py's arguments, given as keywords (epochs=3, config={...},
    dry_run=True; None and False leave one out), into `folder`, and load what it saved. For the
    scripts that measure what training does (bias.py, failure_modes.py)."""
    from playground.training.arguments import as_argv, parse_args  # (it imports this package)

    args = parse_args(as_argv(out=folder, checkpoint_dir=folder / "checkpoint", log_every=1000, **arguments))
    print(run(args, images, labels), flush=True)
    return REGISTRY[args.family].model.from_pretrained(folder).eval()
