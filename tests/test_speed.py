"""What keeps the app fast for a room: the results cache, the compute budget, the kernels chosen by
measuring, and v-prediction (the parameterisation the deterministic samplers need)."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import cachetools
import gradio as gr
import pytest
import torch
from conftest import build_tiny

from playground import weights
from playground.models import kernels
from playground.models.diffusion import SCHEDULERS, DiffusionConfig, DiffusionModel
from playground.ui import common, diffusion_tab, gan_tab, results


def test_the_same_request_is_computed_once(use_weights):
    first = gan_tab.gan_sample("mnist", "3", 4, 11)
    second = gan_tab.gan_sample("mnist", "3", 4.0, 11.0)  # as Gradio sends numbers
    assert results.stats == {"hits": 1, "misses": 1}
    assert results.FROM_CACHE not in first[1] and second[1] == first[1] + results.FROM_CACHE
    assert first[0].tobytes() == second[0].tobytes()
    gan_tab.gan_sample("mnist", "3", 4, 12)  # another seed is another request
    assert results.stats["misses"] == 2


def test_concurrent_identical_requests_wait_for_one_computation():
    calls = []

    @results.remembered(note_at=None)
    def slow(x):
        calls.append(x)
        time.sleep(0.3)
        return ("done", x)

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(slow(7))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [7] and answers == [("done", 7)] * 5


def test_errors_and_unplain_inputs_are_not_kept():
    calls = []

    @results.remembered()
    def fails(x):
        calls.append(x)
        raise gr.Error("no")

    for _ in range(2):
        with pytest.raises(gr.Error):
            fails(1)
    assert calls == [1, 1]  # a failure is not remembered: the next request tries again

    @results.remembered()
    def takes_an_image(image):
        calls.append("image")
        return ("seen",)

    takes_an_image({"layers": []})
    takes_an_image({"layers": []})
    assert calls[-2:] == ["image", "image"]


def test_the_cache_is_bounded_and_forgets_the_least_recent(monkeypatch):
    monkeypatch.setattr(results, "_cache", cachetools.LRUCache(maxsize=1000, getsizeof=results._nbytes))
    from PIL import Image

    @results.remembered(note_at=None)
    def picture(seed):
        return (Image.new("L", (10, 30)), seed)  # 300 bytes of pixels and a little more

    for seed in range(5):
        picture(seed)
    assert results._cache.currsize <= 1000 and len(results._cache) == 2
    kept = {key[-1] for key in results._cache}
    assert kept == {3, 4}


def test_a_stream_is_computed_once_and_then_given_whole():
    runs = []

    @results.remembered(note_at=0)
    def stream(n):
        runs.append(n)
        for i in range(n):
            yield (f"step {i}",)

    assert list(stream(3)) == [("step 0",), ("step 1",), ("step 2",)]
    assert list(stream(3)) == [("step 2" + results.FROM_CACHE,)] and runs == [3]
    abandoned = stream(4)
    next(abandoned)
    abandoned.close()  # the visitor left mid-run: nothing is kept
    assert len(list(stream(4))) == 4 and runs == [3, 4, 4]


def test_heavy_work_computes_one_at_a_time_and_its_cached_answers_do_not_wait():
    busy, overlaps, started = [0], [], threading.Event()

    @results.remembered(note_at=None, heavy=True)
    def heavy(x):
        busy[0] += 1
        overlaps.append(busy[0])
        started.set()
        time.sleep(0.2)
        busy[0] -= 1
        return ("done", x)

    @results.remembered(note_at=None, heavy=True)
    def streamed(n):
        yield from ((i,) for i in range(n))

    heavy(0)  # now in the cache
    started.clear()
    threads = [threading.Thread(target=heavy, args=(x,)) for x in (1, 2, 3)]
    for t in threads:
        t.start()
    started.wait(5)
    t0 = time.perf_counter()
    assert heavy(0) == ("done", 0)  # answered from the cache while the others compute
    assert time.perf_counter() - t0 < 0.1
    for t in threads:
        t.join()
    assert max(overlaps) == 1  # three computations, never two at once

    abandoned = streamed(3)
    next(abandoned)
    assert results.HEAVY_LOCK.locked()  # held across a stream's steps
    abandoned.close()  # the visitor left: the lock is free for the next one
    assert not results.HEAVY_LOCK.locked() and list(streamed(2)) == [(0,), (1,)]


def test_the_budget_refuses_a_huge_request_and_keeps_the_defaults(use_weights, monkeypatch):
    model = common.load("mnist", "diffusion")
    assert model.kernels.ms_per_pass is not None  # timed when the app first loaded it
    monkeypatch.setattr(model, "kernels", kernels.Kernels("fp32", False, ms_per_pass=8 * 1.0))  # 1 ms an image
    own = diffusion_tab.default_sampler("mnist")
    *_, text, _ = list(diffusion_tab.diffusion_sample("mnist", "3", 8, 0, *own))[-1]
    assert "network evaluation" in text and "fp32" in text  # the model's own settings always fit
    with pytest.raises(gr.Error, match=r"limit per request is 2,000 \(about 2 s\)"):
        next(diffusion_tab.diffusion_sample("mnist", "3", 16, 0, "ddpm", 1000, 3.0))
    assert "32,000 UNet passes" in _budget_message(model)


def _budget_message(model) -> str:
    try:
        common.check_budget(model, 16, model.cost(num_inference_steps=1000, guidance_scale=3.0, class_labels=1))
    except gr.Error as exc:
        return exc.message
    return ""


def test_kernels_are_chosen_by_timing_and_can_be_forced(monkeypatch):
    model = build_tiny("diffusion")
    reference = model.sample(2, seed=0, class_labels=1, num_inference_steps=3)
    monkeypatch.setenv(kernels.PRECISION_ENV, "fp32")
    chosen = model.tune(batch=2)
    assert chosen.precision == "fp32" and chosen.ms_per_pass > 0 and "fp32" in chosen.why
    assert torch.allclose(model.sample(2, seed=0, class_labels=1, num_inference_steps=3), reference, atol=1e-5)
    assert model.cost().precision == "fp32"
    monkeypatch.setenv(kernels.PRECISION_ENV, "bf16")
    assert model.tune(batch=2).precision == "bf16"
    assert model.cost().precision == "bf16"
    bf16 = model.sample(2, seed=0, class_labels=1, num_inference_steps=3)
    assert bf16.dtype == torch.float32 and (bf16 - reference).abs().max() < 0.2  # close, not equal
    monkeypatch.setenv(kernels.PRECISION_ENV, "fp8")
    with pytest.raises(ValueError, match="fp32, bf16 or auto"):
        model.tune(batch=2)
    monkeypatch.delenv(kernels.PRECISION_ENV)
    auto = model.tune(batch=2)
    assert auto.precision == "fp32" or kernels.cpu_has_bf16()


def test_a_bad_precision_setting_is_a_clear_message(use_weights, monkeypatch):
    monkeypatch.setenv(kernels.PRECISION_ENV, "half")
    weights.clear_cache()
    with pytest.raises(gr.Error, match="PLAYGROUND_PRECISION"):
        common.load("mnist", "diffusion")


def test_a_v_prediction_model_recovers_the_clean_image_and_samples_with_every_scheduler():
    torch.manual_seed(0)
    config = DiffusionConfig(block_out_channels=(4, 8), norm_num_groups=2, image_size=8, prediction_type="v_prediction")
    model = DiffusionModel.from_config(config)
    assert model.prediction_type == "v_prediction" == model.scheduler.config.prediction_type
    x0 = torch.rand(3, 1, 8, 8) * 2 - 1
    noise = torch.randn_like(x0)
    for t in (0, 500, 999):  # the exact v gives back x0, even at t = T - 1 where the noise alone can't
        tt = torch.full((3,), t)
        xt = model.scheduler.add_noise(x0, noise, tt)
        v = model.scheduler.get_velocity(x0, noise, tt)
        assert torch.allclose(model._x0(xt, v, t), x0.clamp(-1, 1), atol=1e-4)
    for name in SCHEDULERS:
        images = model.sample(2, seed=0, class_labels=1, scheduler=name, num_inference_steps=3)
        assert images.shape == (2, 1, 8, 8) and torch.isfinite(images).all()


def test_an_image_sent_again_is_not_encoded_again(tmp_path, monkeypatch):
    """A cached result is the same PIL object: its file is reused while it exists (filecache)."""
    from gradio import processing_utils
    from PIL import Image

    from playground.ui import filecache

    encoded = []
    real = processing_utils.encode_pil_to_bytes
    monkeypatch.setattr(processing_utils, "encode_pil_to_bytes", lambda *a: encoded.append(1) or real(*a))
    img = Image.new("L", (8, 8), 7)
    first = filecache.save_pil_to_cache(img, str(tmp_path), format="png")
    assert filecache.save_pil_to_cache(img, str(tmp_path), format="png") == first and len(encoded) == 1
    assert Image.open(first).getpixel((0, 0)) == 7
    filecache.save_pil_to_cache(img, str(tmp_path / "other"), format="png")  # another folder: its own file
    Path(first).unlink()  # gone (a cleaned cache): written again
    assert filecache.save_pil_to_cache(img, str(tmp_path), format="png") == first and len(encoded) == 3
    assert Path(first).is_file()
    same_pixels = Image.new("L", (8, 8), 7)  # another object: encoded, same content path
    assert filecache.save_pil_to_cache(same_pixels, str(tmp_path), format="png") == first and len(encoded) == 4
    gone = id(img)
    del img
    gc.collect()
    assert gone not in filecache._saved and id(same_pixels) in filecache._saved  # a collected image is forgotten
