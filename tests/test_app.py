"""The page: its handler as a plain function, and the launched app through gradio_client."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import Client

from playground.ui import build_app, handlers


def test_generate_handler(use_weights):
    images, text = handlers.generate("mnist", "vae", "3", 4, 0)
    assert len(images) == 4 and images[0].size == (28 * handlers.IMAGE_SCALE,) * 2
    assert "VAE: 4 images" in text and "network evaluation" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (("mnist", "vae", "any", 0, 0), "number of images"),
        (("mnist", "vae", "any", 10_000, 0), "number of images"),
        (("mnist", "vae", "any", float("nan"), 0), "number of images"),
        (("mnist", "vae", "any", 2, -1), "seed"),
        (("mnist", "vae", "eleven", 2, 0), "unknown class"),
        (("mnist", "flow", "any", 2, 0), "unknown family"),
        (("svhn", "gan", "any", 2, 0), "unknown dataset"),
        (("fashion", "gan", "any", 2, 0), "no gan weights"),
    ],
)
def test_bad_input_is_a_gradio_error(use_weights, args, message):
    with pytest.raises(gr.Error, match=message):
        handlers.generate(*args)


def test_page_without_weights_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_WEIGHTS", str(tmp_path))
    demo = build_app()
    assert any("No trained weights" in str(getattr(b, "value", "")) for b in demo.blocks.values())


def test_launched_app_through_gradio_client(use_weights):
    demo = build_app()
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        gallery, text = client.predict("mnist", "gan", "7", 3, 5, api_name="/sample")
        assert len(gallery) == 3 and "GAN: 3 images" in text
        with pytest.raises(Exception, match="greater than maximum|number of images"):
            client.predict("mnist", "gan", "7", 500, 5, api_name="/sample")
        gallery, _ = client.predict("mnist", "gan", "any", 1, 5, api_name="/sample")  # still serving
        assert len(gallery) == 1
    finally:
        demo.close()
