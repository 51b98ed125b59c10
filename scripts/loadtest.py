"""Many visitors at once: N concurrent gradio_client users over a mix of endpoints for T seconds.

    python scripts/loadtest.py --users 50 --seconds 60                 # launches the app itself
    python scripts/loadtest.py --url http://127.0.0.1:7860 --server-pid 1234 --users 10

--hostile K measures the hostile case instead: K visitors each sending the costliest diffusion
request the compute budget accepts, in a loop, and how much slower a GAN click answers meanwhile.

Each user opens its own client and calls, in a loop, a random endpoint of the mix (a GAN grid,
VAE samples, a latent-map decode, the diffusion forward process, a classification, a short
diffusion run). Prints the success rate, p50/p95 latency per endpoint, what went wrong, and the
server's resident memory before and after. A request the full queue turns away counts as
"rejected", not as a failure: that is the app protecting itself, and the visitor is told so.
The users download the images they are sent, one by one, in this process: the figures are
upper bounds of what a browser (which fetches them in parallel) would see.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from collections import defaultdict

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client

from playground.clients import client


def mix(dataset: str) -> dict[str, tuple[float, tuple]]:
    """endpoint: (weight, arguments). Cheap clicks are common, diffusion rarer, as on the page."""
    return {
        "/gan_sample": (4, (dataset, "any", 16, 0)),
        "/vae_sample": (3, (dataset, "any", 16, 0)),
        "/latent_decode_point": (3, ("vae", dataset, 0.0, 0.0)),
        "/diffusion_forward": (2, (dataset, 0, 400)),
        "/same_seed": (1, (dataset, "any", 0)),
        "/diffusion_sample": (1, (dataset, "any", 2, 0, "ddpm", 10, 2.0)),
    }


def hostile_request(c: Client, dataset: str) -> tuple:
    """The costliest diffusion request the server accepts: 16 images of DDPM, guided, with as many
    steps as the compute budget allows (read from the server's own refusal of 1000 steps)."""
    args = [dataset, "3", 16, 0, "ddpm", 1000, 3.0]
    try:
        c.predict(*args, api_name="/diffusion_sample")
        return tuple(args)  # no budget at all: the hostile case is the API's maximum
    except Exception as exc:  # noqa: BLE001 — the refusal names the limit
        found = re.search(r"limit per request is ([\d,]+)", str(exc))
        if not found:
            raise
        limit = int(found.group(1).replace(",", ""))
    args[5] = max(1, limit // (16 * 2))  # guided: two network evaluations per step
    return tuple(args)


def hostile(url: str, dataset: str, visitors: int, probes: int = 15) -> dict:
    """A GAN click's latency alone, then while `visitors` clients each send the costliest accepted
    diffusion request in a loop: the case one visitor could inflict on all the others."""
    probe = client(url)
    gan = (dataset, "any", 16, 0)

    def gan_ms(i: int) -> float:
        t0 = time.perf_counter()
        probe.predict(dataset, "any", 16, 1000 + i, api_name="/gan_sample")  # a new seed: computed
        return (time.perf_counter() - t0) * 1000

    probe.predict(*gan, api_name="/gan_sample")
    alone = [gan_ms(i) for i in range(probes)]
    heavy = hostile_request(probe, dataset)
    stop = threading.Event()
    done = []

    def attacker(k: int) -> None:
        c = client(url)
        i = 0
        while not stop.is_set():
            args = list(heavy)
            args[3] = 10_000 * (k + 1) + i  # a new seed each time: the cache can't help
            list(c.submit(*args, api_name="/diffusion_sample"))
            done.append(1)
            i += 1

    threads = [threading.Thread(target=attacker, args=(k,), daemon=True) for k in range(visitors)]
    for t in threads:
        t.start()
    time.sleep(3)  # both attackers are computing
    loaded = [gan_ms(probes + i) for i in range(probes)]
    stop.set()
    for t in threads:
        t.join(timeout=120)
    return {
        "hostile_request": heavy,
        "visitors": visitors,
        "gan_p50_alone_ms": statistics.median(alone),
        "gan_p50_under_attack_ms": statistics.median(loaded),
        "slowdown": statistics.median(loaded) / statistics.median(alone),
        "hostile_requests_done": len(done),
    }


LIVE = (1e-3, 16, 1.0, 10_000)  # the Train tab's opening settings after the family (lr, latent size, beta, images)


def during_training(
    url: str, dataset: str, family: str = "vae", probes: int = 15, seconds: float = 30, alone_s: float = 10
) -> dict:
    """A GAN and a VAE click's latency alone (`probes` each); how often the samples of one visitor's
    live training of `family` (the Train tab at its opening settings) update over `alone_s` seconds,
    then over `seconds` while those clicks run; and what a second visitor who presses Train is told."""
    probe = client(url)
    live = (family, *LIVE)

    def ms(endpoint: str, i: int) -> float:
        t0 = time.perf_counter()
        probe.predict(dataset, "any", 16, 2000 + i, api_name=endpoint)  # a new seed: computed
        return (time.perf_counter() - t0) * 1000

    endpoints = ("/gan_sample", "/vae_sample")
    for e in endpoints:
        probe.predict(dataset, "any", 16, 0, api_name=e)
    alone = {e: [ms(e, i) for i in range(probes)] for e in endpoints}
    training = client(url).submit(dataset, *live, api_name="/live_train")
    while not training.outputs() and not training.done():
        time.sleep(0.1)
    t0, n0 = time.time(), len(training.outputs())
    time.sleep(alone_s)  # the training alone: how often its samples update when nobody else clicks
    updates_alone = (len(training.outputs()) - n0) / (time.time() - t0)
    second = client(url).submit(dataset, *live, api_name="/live_train")
    while not second.outputs() and not second.done():
        time.sleep(0.2)
    told = second.outputs()[0][2] if second.outputs() else str(second.exception())
    second.cancel()
    t0, i = time.time(), probes
    updates_before = len(training.outputs())
    during = {e: [] for e in endpoints}
    while time.time() < t0 + seconds or not all(during.values()):
        for e in endpoints:
            during[e].append(ms(e, i))
        i += 1
    updates = (len(training.outputs()) - updates_before) / (time.time() - t0)
    last = training.outputs()[-1][2] if training.outputs() else ""
    training.cancel()
    p50 = {e: (statistics.median(alone[e]), statistics.median(during[e])) for e in endpoints}
    return {
        "p50_alone_ms": {e: a for e, (a, _) in p50.items()},
        "p50_while_training_ms": {e: d for e, (_, d) in p50.items()},
        "slowdown": {e: d / a for e, (a, d) in p50.items()},
        "training_updates_per_s_alone": updates_alone,
        "training_updates_per_s_while_clicked": updates,
        "clicks_while_training": {e: len(v) for e, v in during.items()},
        "training_status": last,
        "second_visitor_told": told,
    }


# How long a user's client waits for the page's config and API description before giving up.
# gradio_client's own 5 s counts the client's time too, and here 50 clients share the server's two
# cores: they failed on that, not on the server. A browser waits far longer for a page.
CONNECT_TIMEOUT_S = 60


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))]


def _summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50_ms": statistics.median(values), "p95_ms": percentile(values, 0.95)}


def run(url: str, users: int, seconds: float, dataset: str, seed: int = 0, on_start=lambda: None) -> dict:
    """Drive the app at `url`; return per-endpoint latencies, counts and errors. `on_start` runs
    after the warm-up, as the load begins (the memory "before" is taken there)."""
    endpoints = mix(dataset)
    names, weights_ = list(endpoints), [w for w, _ in endpoints.values()]
    lat: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    rejected: dict[str, int] = defaultdict(int)
    warm = client(url)  # each endpoint once: models load before the clock starts
    for name, (_, arguments) in endpoints.items():
        list(warm.submit(*arguments, api_name=name))
    lock = threading.Lock()
    clock = {}
    connects: list[float] = []

    def begin() -> None:  # once every user has connected: the load starts for all at once
        on_start()
        clock["start"] = time.time()
        clock["stop"] = clock["start"] + seconds

    start = threading.Barrier(users + 1, action=begin)

    def user(i: int) -> None:
        rng = random.Random(seed + i)
        t0 = time.perf_counter()
        try:
            user_client = client(url, httpx_kwargs={"timeout": CONNECT_TIMEOUT_S})
        except Exception as exc:  # noqa: BLE001 — a client that cannot connect is a failure to report
            with lock:
                errors["connect"].append(f"{type(exc).__name__}: {exc}")
            start.wait()
            return
        with lock:
            connects.append((time.perf_counter() - t0) * 1000)
        start.wait()
        while time.time() < clock["stop"]:
            name = rng.choices(names, weights_)[0]
            t0 = time.perf_counter()
            try:
                if name == "/diffusion_sample":
                    list(user_client.submit(*endpoints[name][1], api_name=name))
                else:
                    user_client.predict(*endpoints[name][1], api_name=name)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    lat[name].append(ms)
            except Exception as exc:  # noqa: BLE001 — every failure is counted and reported
                text = f"{type(exc).__name__}: {exc}"
                with lock:
                    if "queue is full" in text.lower():
                        rejected[name] += 1
                    else:
                        errors[name].append(text)

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join(timeout=seconds + 300)
    figures = tally(lat, errors, rejected, connects, time.time() - clock["start"])
    return {"users": users, **figures, "still_running": sum(t.is_alive() for t in threads)}


def tally(lat: dict, errors: dict, rejected: dict, connects: list[float], elapsed: float) -> dict:
    """What a load run measured: requests, failures, throughput and each endpoint's p50 and p95."""
    done = sum(len(v) for v in lat.values())
    failed = sum(len(v) for v in errors.values())
    return {
        "seconds": round(elapsed, 1),
        "requests": done + failed + sum(rejected.values()),
        "succeeded": done,
        "failed": failed,
        "rejected_queue_full": sum(rejected.values()),
        "success_rate": done / max(done + failed, 1),
        "throughput_per_s": done / elapsed,
        "endpoints": {
            n: {"n": len(v), "p50_ms": statistics.median(v), "p95_ms": percentile(v, 0.95)}
            for n, v in sorted(lat.items())
        },
        "all": _summary([ms for v in lat.values() for ms in v]),
        "connect": _summary(connects),
        "errors": {n: sorted(set(v))[:5] for n, v in errors.items()},
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", help="a running app; without it the app is launched in this process")
    p.add_argument("--server-pid", type=int, help="with --url: the server's process, for its memory")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--hostile",
        type=int,
        default=0,
        metavar="K",
        help="instead of the mix: K visitors each sending the costliest accepted diffusion request in a "
        "loop, and how much they slow a GAN click",
    )
    p.add_argument(
        "--training",
        nargs="?",
        const="vae",
        choices=("gan", "vae", "diffusion"),
        metavar="FAMILY",
        help="instead of the mix: how much a live training (the Train tab, a VAE unless FAMILY is named) "
        "slows a GAN and a VAE click, how often its samples update, and what a second visitor who presses "
        "Train is told",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    demo = None
    if args.url:
        url, pid = args.url, args.server_pid
    else:
        from playground import compute

        compute.configure(compute.cores())  # as app.py, before torch is imported
        from playground.ui import build_app
        from playground.ui.app import launch

        demo = build_app()
        launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
        url, pid = demo.local_url, os.getpid()
    if args.training:
        try:
            result = during_training(url, args.dataset, args.training)
        finally:
            if demo is not None:
                demo.close()
        print(json.dumps(result, indent=2))
        return 0
    if args.hostile:
        try:
            result = hostile(url, args.dataset, args.hostile)
        finally:
            if demo is not None:
                demo.close()
        print(json.dumps(result, indent=2) if args.json else (
            f"{result['visitors']} hostile visitors, each sending {result['hostile_request']} in a loop "
            f"({result['hostile_requests_done']} done): a GAN click's p50 {result['gan_p50_alone_ms']:.0f} ms alone, "
            f"{result['gan_p50_under_attack_ms']:.0f} ms under attack, {result['slowdown']:.2f}x"
        ))  # fmt: skip
        return 0
    memory = {}
    try:
        result = run(url, args.users, args.seconds, args.dataset, on_start=lambda: memory.update(before=rss_mb(pid)))
    finally:
        memory["after"] = rss_mb(pid)
        if demo is not None:
            demo.close()
    result["server_rss_mb"] = memory
    before, after = memory.get("before"), memory.get("after")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['users']} users for {result['seconds']} s against {url}")
        print(
            f"requests {result['requests']}: {result['succeeded']} ok, {result['failed']} failed, "
            f"{result['rejected_queue_full']} turned away (queue full); success rate {result['success_rate']:.1%}; "
            f"{result['throughput_per_s']:.1f} answers/s"
        )
        print(f"{'endpoint':<24} {'n':>6} {'p50 ms':>9} {'p95 ms':>9}")
        rows = {**result["endpoints"], "(every request)": result["all"], "(connecting a client)": result["connect"]}
        for name, e in rows.items():
            if e["n"]:
                print(f"{name:<24} {e['n']:>6} {e['p50_ms']:>9.0f} {e['p95_ms']:>9.0f}")
        for name, errs in result["errors"].items():
            print(f"errors in {name}: {errs}")
        if before is not None:
            print(f"server memory (RSS): {before:.0f} MB before, {after:.0f} MB after")
    return 0 if result["failed"] == 0 and result["still_running"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
