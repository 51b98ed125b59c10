"""One thread for torch's parallel work in the app: every diffusion UNet pass and every live
training slice runs on it, with all the cores; every other thread computes with one.

PyTorch's OpenMP runtime on Linux (libgomp) keeps a team of worker threads for each thread that
starts parallel work. Once the process holds more of those workers than it has CPUs, an idle
worker stops spinning and sleeps at once, so each of a UNet pass's hundreds of short parallel
regions waits for a wake-up. Gradio runs each request on whichever thread of its pool is free, and
every one that computed kept its team: a diffusion run took twice as long in the server as in the
main thread (docs/results.md, "One thread for parallel work").

`run` moves one call there, `ahead` a stream of steps (each computed while the caller sends the
one before). `configure(cores)` starts the thread; the app calls it before it imports torch (app.py,
scripts/bench.py, scripts/loadtest.py). Without it, as in the training scripts and the tests,
`run` calls in the caller's thread.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

THREAD_NAME = "torch-compute"
# What every thread but the compute thread gets: read by OpenMP and MKL when torch loads them.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def cores() -> int:
    """The cores the app may use: CPU_CORES where set (Hugging Face Spaces tell a container's cores
    there), else the machine's."""
    return int(os.environ.get("CPU_CORES") or os.cpu_count() or 1)


def _start(cores: int) -> None:
    global _thread
    import torch

    torch.set_num_threads(cores)
    # A thread takes the last value set anywhere when it first asks, which is also when it first
    # computes: ask now, before configure sets one for everyone else.
    torch.get_num_threads()
    _thread = threading.current_thread()


def configure(cores: int) -> None:
    """Start the compute thread with `cores` threads for parallel work; every other thread gets one.
    Call it before torch is imported: OpenMP reads its default for new threads once, when torch
    loads it (a later call still starts the thread, and says so in the log). Idempotent."""
    global _executor
    if cores < 1:
        raise ValueError(f"cores must be at least 1, not {cores}")
    with _lock:
        if _executor is not None:
            return
        if "torch" in sys.modules:
            log.warning("compute.configure after torch was imported: other threads may still compute in parallel")
        os.environ.update(ONE_THREAD)
        import torch

        executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=THREAD_NAME, initializer=_start, initargs=(cores,)
        )
        executor.submit(int).result()  # the thread exists and has its cores
        torch.set_num_threads(1)  # after: threads that have not computed yet take this
        _executor = executor


def configured() -> bool:
    return _executor is not None


def _here() -> bool:
    """Whether work runs in the caller's thread: there is no compute thread, or this is it."""
    return _executor is None or threading.current_thread() is _thread


def _submit(fn: Callable[..., T], *args) -> Future[T]:
    """`fn(*args)` queued on the compute thread with the caller's grad mode, inference mode and
    context variables (Gradio's request)."""
    import torch

    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def call() -> T:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(*args)

    return _executor.submit(contextvars.copy_context().run, call)


def run(fn: Callable[..., T], /, *args, **kw) -> T:
    """`fn(*args, **kw)` on the compute thread, as the caller would run it (`_submit`), and its result
    or exception here; called in place when there is no compute thread or this is it."""
    if _here():
        return fn(*args, **kw)
    return _submit(functools.partial(fn, *args, **kw)).result()


_END = object()


def ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each computed on the compute thread while the caller works on the one before (a
    streamed step's pictures, and Gradio sending them, overlap the next step's UNet passes). The
    items must not change once given. In place when there is no compute thread or this is it."""
    if _here():
        yield from items
        return
    pending = _submit(next, items, _END)
    try:
        while (item := pending.result()) is not _END:
            pending = _submit(next, items, _END)
            yield item
    finally:  # the caller stopped early, or a step failed: let the step in flight end, then close
        pending.cancel() or pending.exception()
        _submit(items.close).result()
