"""How long a diffusion UNet takes to train here: one optimisation step per size and precision.

    python scripts/bench_training.py --config '{"block_out_channels": [16, 32, 64]}' \
        --config '{"block_out_channels": [32, 64, 128]}'

For sizing a model before a long run: prints the parameters, the milliseconds per step of
scripts/train.py's diffusion step (forward, MSE loss, backward, AdamW) at its batch size, and the
minutes one pass over a 60,000-image training set would take, in fp32 and in bfloat16 autocast
(train.py --precision bf16). Machines are shared and noisy: compare figures from one run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from playground.models.diffusion import DiffusionConfig


def step_ms(config: DiffusionConfig, precision: str, batch_size: int, steps: int, warmup: int = 2) -> float:
    """Median milliseconds of one training step on random data (the cost does not depend on it)."""
    torch.manual_seed(0)
    unet = config.build_unet().train()
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    shape = (batch_size, config.image_channels, config.image_size, config.image_size)
    x, noise = torch.randn(shape), torch.randn(shape)
    t = torch.randint(0, config.num_train_timesteps, (batch_size,))
    y = torch.randint(0, config.num_classes + 1, (batch_size,))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            eps = unet(x, t, class_labels=y).sample
        loss = F.mse_loss(eps.float(), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", action="append", help="JSON overrides of DiffusionConfig (repeat to compare)")
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5, help="timed steps per point, after two warm-up steps")
    p.add_argument("--train-images", type=int, default=60000)
    args = p.parse_args(argv)
    try:
        configs = [json.loads(c) for c in args.config or ["{}"]]
        models = [DiffusionConfig(**c) for c in configs]
    except (json.JSONDecodeError, TypeError) as exc:
        print(f"error: --config must be a JSON object of DiffusionConfig fields: {exc}", file=sys.stderr)
        return 2
    per_epoch = math.ceil(args.train_images / args.batch_size)
    print(f"{torch.get_num_threads()} torch threads, batch {args.batch_size}, {per_epoch} steps per epoch")
    for overrides, config in zip(configs, models, strict=True):
        params = sum(p.numel() for p in config.build_unet().parameters())
        for precision in args.precision:
            ms = step_ms(config, precision, args.batch_size, args.steps)
            print(
                f"{json.dumps(overrides)}  {params / 1e6:.2f} M parameters  {precision}: "
                f"{ms:.0f} ms/step, {ms * per_epoch / 60000:.1f} min/epoch",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
