"""Every limit on what a request may ask, in one place, and the one check of a number against one.

The models, the app and the command line all take their limits from here. A check raises
ValueError with a message that says what is allowed; the app turns that into a message in the page
(`playground.ui.common.user_errors`), the command line into one line and exit code 2."""

from __future__ import annotations

import math

MAX_SEED = 2**31 - 1  # a seed the browser's numbers hold exactly, in the page, a link and the API
MAX_IMAGES = 64  # per click: more than a screen shows, and still fast on two cores
MAX_DIFFUSION_IMAGES = 16  # per diffusion click: each image costs (steps × 2) UNet passes
MAX_CLI_IMAGES = 4096  # per command: more would take minutes for diffusion on a CPU
MAX_STEPS = 1000  # a diffusion sampler's steps: the training schedule's length
MAX_GUIDANCE = 10.0  # classifier-free guidance; far beyond the 1-2 that look best


def check_number(value, name: str, low: float, high: float, integer: bool = True) -> int | float:
    """`value` as a number from `low` to `high` (a whole one if `integer`), or ValueError saying so."""
    kind = "a whole number" if integer else "a number"
    message = f"{name} must be {kind} from {low:g} to {high:g}, not {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not math.isfinite(f) or not low <= f <= high or (integer and f != int(f)):
        raise ValueError(message)
    return int(f) if integer else f
