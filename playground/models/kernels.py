"""Which kernels a network runs with on this machine: fp32 or bfloat16 autocast, and whether its
activations are channels-last. Chosen once per loaded network by timing it, since what is faster
depends on the CPU: bfloat16 pays off with AMX or AVX-512 BF16 and is emulated, far slower,
without; oneDNN's convolutions prefer channels-last on some CPUs and not on others.

`PLAYGROUND_PRECISION` (fp32, bf16 or auto, the default) overrides the choice of precision;
quality at bf16 is recorded in the README ("Speed").
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

PRECISION_ENV = "PLAYGROUND_PRECISION"
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class Kernels:
    """How to run a network: its precision, its memory format, and what one pass took when chosen."""

    precision: str = "fp32"
    channels_last: bool = False
    ms_per_pass: float | None = None  # one pass over the timing batch, at the chosen kernels
    why: str = "not measured"

    def autocast(self):
        """The context a forward pass runs in: bfloat16 autocast or nothing."""
        if self.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX tiles or AVX-512 BF16)."""
    cpu = getattr(torch.backends, "cpu", None)
    capability = cpu.get_cpu_capability() if cpu is not None else ""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check() for check in checks if check is not None) or "AMX" in capability.upper()


def requested_precision() -> str:
    """PLAYGROUND_PRECISION: "fp32", "bf16" or "auto" (unset); ValueError for anything else."""
    value = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
    if value not in (*PRECISIONS, "auto"):
        raise ValueError(f"{PRECISION_ENV} must be fp32, bf16 or auto, not {value!r}")
    return value


def _time(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: oneDNN builds its kernels on the first pass
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


@torch.inference_mode()
def choose(
    module: torch.nn.Module,
    forward: Callable[[torch.Tensor, Kernels], object],
    example: torch.Tensor,
    repeat: int = 3,
) -> Kernels:
    """The fastest kernels for `module` on `example` (a batch of inputs), by timing
    `forward(example, kernels)` for each candidate (`forward` applies `kernels.prepare` itself). bfloat16 is tried only where the CPU has it
    natively (or PLAYGROUND_PRECISION asks for it); fp32 is kept unless bf16 is faster."""
    wanted = requested_precision()
    precisions = [wanted] if wanted != "auto" else (["fp32", "bf16"] if cpu_has_bf16() else ["fp32"])
    timings: dict[tuple[str, bool], float] = {}
    for precision in precisions:
        for channels_last in (False, True):
            k = Kernels(precision, channels_last)
            module.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            timings[(precision, channels_last)] = _time(lambda k=k: forward(example, k), repeat)
    (precision, channels_last), ms = min(timings.items(), key=lambda item: item[1])
    module.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    measured = ", ".join(f"{p}{' channels-last' if c else ''} {t:.1f} ms" for (p, c), t in timings.items())
    if wanted != "auto":
        reason = f"{PRECISION_ENV}={wanted}; {measured}"
    elif len(precisions) == 1:
        reason = f"this CPU has no native bfloat16; {measured}"
    else:
        reason = measured
    return Kernels(precision, channels_last, ms, reason)
