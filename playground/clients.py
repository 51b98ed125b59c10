"""A gradio_client for measuring the app (scripts/bench.py, scripts/loadtest.py)."""

from __future__ import annotations

import ssl
import subprocess
import time

from gradio_client import Client

# gradio_client opens a new httpx client for every request and every file it fetches, and each
# builds a new SSL context, loading the system's certificates, even for plain http: on these
# 2-GHz cores that is 60-100 ms of the client's own time per call. One context shared by every
# client measures the server instead (README, "Speed and load"); --client-default keeps the cost.
SHARED_SSL = ssl.create_default_context()


def client(url: str, default: bool = False, **kw) -> Client:
    """A gradio_client for `url`, reusing one SSL context unless `default`."""
    return Client(url, verbose=False, **({} if default else {"ssl_verify": SHARED_SSL}), **kw)


def when_up(url: str, process: subprocess.Popen, deadline: float, **kw) -> Client:
    """A client for the app that `process` is starting at `url`, once it serves its page; a
    RuntimeError if the process exits first or `deadline` (on time.perf_counter's clock) passes."""
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode} before answering")
        if time.perf_counter() > deadline:
            raise RuntimeError("the app gave no answer before its deadline")
        try:
            return client(url, **kw)
        except Exception:  # noqa: BLE001 - not up yet: connection refused, or no config yet
            time.sleep(0.1)
