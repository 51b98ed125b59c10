"""How fast the app answers, as a visitor feels it: every endpoint through gradio_client.

    python scripts/bench.py --dataset fashion --repeat 5
    python scripts/bench.py --dataset mnist --only ping gan_sample diffusion_sample
    python scripts/bench.py --cold-start 3   # start to first answer of `python app.py`, against `import gradio`

Launches the app in this process on the shipped weights (or drives --url), then calls each
endpoint at the page's opening settings. Two figures per endpoint, in milliseconds from the call
to the decoded answer (files downloaded):
- "computed": a new request each time (another seed, or another point), so the models run;
- "repeated": the same request again, as a room pressing the same button sends it, answered by
  the results cache after the first.
The trivial endpoint `ping` (no work at all) is the floor: what Gradio's queue and the HTTP
round trip cost here. Machines are shared and noisy: compare the figures of one run, and the
ratios to `ping`, not figures across runs. `--sampler` also times 16 images of the diffusion
model's own sampler against the 50-step SDE-DPM-Solver++ it shipped with before (in-process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file

from playground.clients import client, when_up


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))]


def endpoints(dataset: str, sampler: tuple, probe: str) -> dict:
    """endpoint: a function of i (the repeat) giving its arguments; i = 0 is the page's opening
    request. Endpoints without a seed vary what they can (a timestep, a point); those that can
    vary nothing are None after i = 0."""
    return {
        "/ping": lambda i: (),
        "/gan_sample": lambda i: (dataset, "any", 16, i),
        "/gan_discriminate": lambda i: (dataset, "any", 16, i),
        "/gan_timeline": lambda i: (dataset, 1 + i),
        "/vae_sample": lambda i: (dataset, "any", 16, i),
        "/vae_reconstruct": lambda i: (dataset, "test image", None, i, 8, 0),
        "/vae_traverse": lambda i: (dataset, "any", i, 0, 3, 9),
        "/diffusion_forward": lambda i: (dataset, 0, 250 + i),
        "/diffusion_sample": lambda i: (dataset, "any", 8, i, *sampler),
        "/compare": lambda i: (dataset, "any", 8, i),
        "/classify": lambda i: (dataset, handle_file(probe)),
        "/nearest_training": lambda i: (dataset, handle_file(probe), 6, "pixels"),
        "/latent_map": lambda i: (dataset, "vae"),
        "/latent_decode_point": lambda i: ("diffusion", dataset, 0.1 * i, 0.0),
        "/latent_sample": lambda i: (dataset, "diffusion", i),
        "/latent_interpolate": lambda i: (dataset, "diffusion", "seed", i, "seed", i + 1, 8, "slerp"),
        "/same_seed": lambda i: (dataset, "any", i),
        "/image_space_map": lambda i: (dataset,) if i == 0 else None,
        "/encode_three_ways": lambda i: (dataset, "test image", None, i),
    }


def call(client: Client, name: str, args: tuple) -> float:
    t0 = time.perf_counter()
    job = client.submit(*args, api_name=name)
    job.result()  # a streamed endpoint's last answer
    return (time.perf_counter() - t0) * 1000


def sampler_speed(dataset: str, n: int = 16) -> dict:
    """16 images at the diffusion model's own sampler against 50 steps of SDE-DPM-Solver++ (the
    shipped Fashion-MNIST default before), in this process, timed on the same model in one run."""
    import torch

    from playground import weights

    model = weights.load(dataset, "diffusion")
    model.tune()  # the kernels the app would choose on this machine
    own = model.own_sampler()
    out = {}
    for what, kw in {"own": {}, "sde-dpm++ 50 steps": {"scheduler": "sde-dpm++", "num_inference_steps": 50}}.items():
        model.sample(2, seed=0, class_labels=0, **kw)  # warm-up
        t0 = time.perf_counter()
        model.sample(n, seed=0, class_labels=torch.arange(n) % 10, **kw)
        out[what] = (time.perf_counter() - t0) * 1000
    return {"own_sampler": own, "ms": out, "speedup": out["sde-dpm++ 50 steps"] / out["own"], "n": n}


ROOT = Path(__file__).resolve().parent.parent


def cold_start(runs: int, dataset: str, port: int = 7893, timeout_s: float = 300) -> dict:
    """Seconds from starting `python app.py` (a new process, warm start and all) to its first answer
    at the page's opening settings (`/gan_sample`), against `python -c "import gradio"`, alternated
    `runs` times so that both see the same machine. The ratio is of the medians. A request the
    server takes and answers with an error is printed and counted (`failed_requests`): a visitor
    would have seen it."""
    import subprocess

    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    imports, answers, errors = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import gradio"], check=True, env=env)
        imports.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        app = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while True:
                up = when_up(f"http://127.0.0.1:{port}/", app, deadline=t0 + timeout_s)
                try:
                    up.predict(dataset, "any", 16, 0, api_name="/gan_sample")
                    break
                except Exception as exc:  # noqa: BLE001 - up, but the request failed: a visitor would see it
                    errors.append(f"{type(exc).__name__}: {exc}")
                    print(f"the first request failed: {errors[-1]}", flush=True)
            answers.append(time.perf_counter() - t0)
        finally:
            app.terminate()
            app.wait(30)
        print(f"import gradio {imports[-1]:.1f} s, app.py start to first answer {answers[-1]:.1f} s", flush=True)
    out = {
        "import_gradio_s": statistics.median(imports),
        "first_answer_s": statistics.median(answers),
        "runs": runs,
        "failed_requests": errors,  # requests the server took and answered with an error
    }
    out["ratio"] = out["first_answer_s"] / out["import_gradio_s"]
    print(
        f"median of {runs}: import gradio {out['import_gradio_s']:.1f} s, start to first answer "
        f"{out['first_answer_s']:.1f} s: {out['ratio']:.2f}x; {len(errors)} request(s) failed once the server was up"
    )
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--repeat", type=int, default=5, help="calls per endpoint and kind, after the first")
    p.add_argument("--url", help="a running app (default: launch one in this process)")
    p.add_argument("--only", nargs="*", help="endpoint names to time (default: all)")
    p.add_argument("--sampler", action="store_true", help="also time the diffusion sampler in-process")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument(
        "--client-default",
        action="store_true",
        help="let gradio_client build a new SSL context per request, as it does by default",
    )
    p.add_argument("--image-format", help="send images in this format instead of the app's own (png), e.g. webp")
    p.add_argument(
        "--cold-start",
        type=int,
        metavar="RUNS",
        help="instead: time `python app.py` from start to first answer against `import gradio`, RUNS times each",
    )
    return p.parse_args(argv)


def time_endpoints(c: Client, table: dict, repeat: int) -> dict:
    """Each endpoint's first call, then `repeat` calls with new inputs (computed) and with the first
    inputs again (repeated, from the results cache): p50 and p95 in ms, printed as they come."""
    results = {}
    print(f"{'endpoint':<22} {'first':>8} {'computed p50':>13} {'p95':>8} {'repeated p50':>13} {'p95':>8}  (ms)")
    for name, make in table.items():
        first = call(c, name, make(0))  # loads models, tunes kernels, fills the cache
        computed = [call(c, name, make(i)) for i in range(1, repeat + 1) if make(i) is not None]
        repeated = [call(c, name, make(0)) for _ in range(repeat)]
        r = {
            "first_ms": first,
            "repeated_p50_ms": statistics.median(repeated),
            "repeated_p95_ms": percentile(repeated, 0.95),
        }
        if computed:
            r.update(computed_p50_ms=statistics.median(computed), computed_p95_ms=percentile(computed, 0.95))
        results[name] = r
        c50, c95 = (
            (f"{r['computed_p50_ms']:>13.0f}", f"{r['computed_p95_ms']:>8.0f}")
            if computed
            else (f"{'-':>13}", f"{'-':>8}")
        )
        print(f"{name:<22} {first:>8.0f} {c50} {c95} {r['repeated_p50_ms']:>13.0f} {r['repeated_p95_ms']:>8.0f}")
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.cold_start:
        out = cold_start(args.cold_start, args.dataset)
        if args.json:
            Path(args.json).write_text(json.dumps({"cold_start": out}, indent=2) + "\n")
        return 0

    from playground import compute

    # As app.py, before torch is imported; the in-process sampler timing (--sampler) also runs the
    # UNet on the compute thread, as the app does.
    compute.configure(compute.cores())
    from playground import weights
    from playground.images import to_pil
    from playground.models.diffusion import read_sampling

    if args.image_format:
        from playground.ui import common

        common.IMAGE_FORMAT = args.image_format  # before the page is built: its components read it
    demo = None
    t_start = time.perf_counter()
    if args.url:
        url = args.url
    else:
        from playground.ui import build_app
        from playground.ui.app import launch

        demo = build_app()
        launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
        url = demo.local_url
    probe = Path(tempfile.mkdtemp()) / "probe.png"
    to_pil(weights.load_examples(args.dataset)[0][0], 4).save(probe)
    table = endpoints(args.dataset, read_sampling(weights.model_dir(args.dataset, "diffusion")), str(probe))
    if args.only:
        table = {k: v for k, v in table.items() if k.strip("/") in args.only or k == "/ping"}
    c = client(url, default=args.client_default)
    print(
        f"{args.dataset}: {args.repeat} calls per figure through gradio_client against {url}, images as "
        f"{args.image_format or 'png'}, {'a new SSL context per request' if args.client_default else 'one SSL context'}"
    )
    try:
        results = time_endpoints(c, table, args.repeat)
        sampler = sampler_speed(args.dataset) if args.sampler else None
        if sampler:
            ms = sampler["ms"]
            print(
                f"diffusion, {sampler['n']} images in-process: own sampler {sampler['own_sampler']} {ms['own']:.0f} ms, "
                f"SDE-DPM-Solver++ 50 steps {ms['sde-dpm++ 50 steps']:.0f} ms: {sampler['speedup']:.1f}x faster"
            )
    finally:
        if demo is not None:
            demo.close()
    if args.json:
        out = {"dataset": args.dataset, "repeat": args.repeat, "endpoints": results, "sampler": sampler}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"whole run {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
