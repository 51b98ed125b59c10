"""The compute thread (playground/compute.py): the app's UNet passes run on one thread with all the
cores, every other thread computes with one, and callers see the same results and errors; a stream
of steps is computed one step ahead there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import torch

from playground import compute
from tests.conftest import ROOT, build_tiny

# Run in a fresh process: configure changes the whole process, and must come before torch loads.
CONFIGURED = """
import contextvars, json, sys, threading
from playground import compute
assert "torch" not in sys.modules
compute.configure(2)
import torch
from playground.models import DiffusionConfig, DiffusionModel

out = {"main_threads": torch.get_num_threads(), "compute_threads": compute.run(torch.get_num_threads)}
seen = []
torch.manual_seed(0)
model = DiffusionModel.from_config(DiffusionConfig(block_out_channels=(4, 8), norm_num_groups=2, image_channels=1, image_size=8, num_classes=10))
forward = model.unet.forward
def recorded(*args, **kw):
    seen.append((threading.current_thread().name, torch.is_inference_mode_enabled()))
    return forward(*args, **kw)
model.unet.forward = recorded

def request():  # as Gradio runs a request: on a thread of its own
    out["request_threads"] = torch.get_num_threads()
    out["images"] = model.sample(3, seed=5, class_labels=[1, 2, 3], num_inference_steps=4).tolist()
worker = threading.Thread(target=request, name="gradio-worker")
worker.start()
worker.join()
out["unet_ran_on"] = sorted(set(seen))

# OpenMP's own default for a thread that has not asked torch yet (what some kernels read)
gomp = [line.split()[-1] for line in open("/proc/self/maps") if "libgomp" in line]
if gomp:
    import ctypes
    fresh = threading.Thread(target=lambda: out.update(fresh_omp=ctypes.CDLL(gomp[0]).omp_get_max_threads()))
    fresh.start()
    fresh.join()

where = contextvars.ContextVar("where")
where.set("the caller's")
out["context"] = compute.run(where.get)
with torch.inference_mode():
    out["inference_mode"] = compute.run(torch.is_inference_mode_enabled)
try:
    compute.run(int, "not a number")
except ValueError as exc:
    out["error"] = str(exc)

def steps():  # a streamed sampler: each step computed ahead on the compute thread, closed there
    try:
        for i in range(5):
            yield [i, threading.current_thread().name]
    finally:
        out["closed_on"] = threading.current_thread().name
stream = compute.ahead(steps())
out["ahead"] = [next(stream), next(stream)]
stream.close()  # a visitor who leaves mid-stream
print(json.dumps(out))
"""


def test_the_unet_runs_on_the_compute_thread_with_all_cores():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_NUM_THREADS", None)
    done = subprocess.run([sys.executable, "-c", CONFIGURED], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["compute_threads"] == 2
    assert out["main_threads"] == 1 and out["request_threads"] == 1  # no second team of workers
    assert out.get("fresh_omp", 1) == 1
    assert out["unet_ran_on"] == [[f"{compute.THREAD_NAME}_0", True]]  # with the caller's inference mode
    assert out["context"] == "the caller's"
    assert "not a number" in out["error"]
    assert out["ahead"] == [[0, f"{compute.THREAD_NAME}_0"], [1, f"{compute.THREAD_NAME}_0"]]
    assert out["closed_on"] == f"{compute.THREAD_NAME}_0"
    # The same images as where every pass runs in the caller's thread (this process: not configured).
    torch.manual_seed(0)
    model = build_tiny("diffusion")
    here = model.sample(3, seed=5, class_labels=[1, 2, 3], num_inference_steps=4)
    assert torch.allclose(torch.tensor(out["images"]), here, atol=1e-5)


def test_without_configure_everything_runs_in_the_callers_thread():
    assert not compute.configured()
    assert compute.run(threading.current_thread) is threading.current_thread()


def test_ahead_without_a_compute_thread_gives_the_items_in_place():
    assert list(compute.ahead(iter(range(4)))) == [0, 1, 2, 3]


def test_configure_refuses_no_cores():
    with pytest.raises(ValueError, match="at least 1"):
        compute.configure(0)
    assert not compute.configured()
