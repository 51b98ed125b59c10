"""Many visitors at once: scripts/loadtest.py, small."""

from __future__ import annotations

import importlib.util

from conftest import ROOT

from playground.ui import build_app
from playground.ui.app import launch


def loadtest():
    spec = importlib.util.spec_from_file_location("loadtest_script", ROOT / "scripts" / "loadtest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ten_users_for_fifteen_seconds(use_weights, capsys):
    lt = loadtest()
    demo = build_app()
    launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        memory = {}
        result = lt.run(demo.local_url, users=10, seconds=15, dataset="mnist",
                        on_start=lambda: memory.update(before=lt.rss_mb(lt.os.getpid())))  # fmt: skip
        memory["after"] = lt.rss_mb(lt.os.getpid())
    finally:
        demo.close()
    print(result)
    assert result["failed"] == 0, result["errors"]
    assert result["still_running"] == 0 and result["rejected_queue_full"] == 0
    assert (
        result["succeeded"] >= 10 and len(result["endpoints"]) >= 3
    )  # every user answered (a shared CPU: no speed bar)
    assert memory["after"] - memory["before"] < 300, memory  # MB: no unbounded growth under load
