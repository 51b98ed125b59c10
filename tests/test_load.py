"""Many visitors at once (scripts/loadtest.py, small) and a full queue turning requests away."""

from __future__ import annotations

import importlib.util
import threading

from conftest import ROOT
from gradio_client import Client

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


def test_a_full_queue_turns_requests_away_with_a_message(use_weights):
    demo = build_app()
    launch(demo, concurrency=1, max_queue=1, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        outcomes, lock = [], threading.Lock()

        def visitor():
            try:
                list(Client(demo.local_url, verbose=False).submit(
                    "mnist", "any", 8, 0, "ddpm", 100, 2.0, api_name="/diffusion_sample"))  # fmt: skip
                result = "ok"
            except Exception as exc:  # noqa: BLE001
                result = str(exc)
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=visitor) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert len(outcomes) == 6 and "ok" in outcomes
        turned_away = [o for o in outcomes if o != "ok"]
        assert turned_away, "six requests into a queue of one: some must be turned away"
        assert all("queue is full" in o.lower() for o in turned_away), turned_away
        gallery, _ = client.predict("mnist", "any", 2, 0, api_name="/gan_sample")  # still serving
        assert len(gallery) == 2
    finally:
        demo.close()
