"""The generative playground (also the Hugging Face Spaces entry point): `python app.py`."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> None:
    from playground import compute

    compute.configure(compute.cores())  # before torch is imported: see playground/compute.py
    from playground.ui import build_app
    from playground.ui.app import launch

    launch(
        build_app(),
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        warm_start=True,
    )


if __name__ == "__main__":
    main()
