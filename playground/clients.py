"""A gradio_client for measuring the app (scripts/bench.py, scripts/loadtest.py)."""

from __future__ import annotations

import ssl

from gradio_client import Client

# gradio_client opens a new httpx client for every request and every file it fetches, and each
# builds a new SSL context, loading the system's certificates, even for plain http: on these
# 2-GHz cores that is 60-100 ms of the client's own time per call. One context shared by every
# client measures the server instead (README, "Speed and load"); --client-default keeps the cost.
SHARED_SSL = ssl.create_default_context()


def client(url: str, default: bool = False, **kw) -> Client:
    """A gradio_client for `url`, reusing one SSL context unless `default`."""
    return Client(url, verbose=False, **({} if default else {"ssl_verify": SHARED_SSL}), **kw)
