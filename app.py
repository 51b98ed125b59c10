"""The generative playground (also the Hugging Face Spaces entry point): `python app.py`."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

from playground.ui import build_app  # noqa: E402
from playground.ui.app import launch  # noqa: E402


def main() -> None:
    # Spaces tell the container's cores in CPU_CORES; elsewhere use the machine's.
    torch.set_num_threads(int(os.environ.get("CPU_CORES") or os.cpu_count() or 1))
    launch(
        build_app(),
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        warm_start=True,
    )


if __name__ == "__main__":
    main()
