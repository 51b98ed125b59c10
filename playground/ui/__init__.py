"""The Gradio page. Each tab is a module that builds its part; `build_app` composes them."""

from __future__ import annotations

from playground.ui.app import build_app

__all__ = ["build_app"]
