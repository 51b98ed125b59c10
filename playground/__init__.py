"""The generative playground: GANs, VAEs and diffusion models side by side."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
