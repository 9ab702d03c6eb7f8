"""Engine speed and peak memory on the current Keras backend and device, size by size.

``benchmarks/engine.py`` compares the engine with the TensorFlow tutorial on this CPU; this
script answers the operator's question "which backend, on which card, at which size". Each size
runs in a fresh subprocess so its peak memory is its own. Run from the repo root:

    KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/backends.py --sizes 256
    KERAS_BACKEND=jax .venv/bin/python benchmarks/backends.py --sizes 256
    KERAS_BACKEND=jax python3 benchmarks/backends.py --sizes 512,1024   # on a GPU machine

TensorFlow compiles its step with XLA when ``NST_XLA=on`` (the product's setting; JAX always
does). Per size and optimizer it reports: the first job's wall time at that shape (tracing and XLA
compilation included), seconds per iteration on a warm engine (the difference between a short and
a long run, so per-job set-up cancels out), loss evaluations per iteration (L-BFGS line-search
tries), the share of an iteration spent in the numpy optimizer on the host, and the final total
loss; per size, peak device memory (GPU) and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
OPTIMIZERS = ("lbfgs", "adam")


def parse_args() -> argparse.Namespace:
    """Command-line options; ``--child SIZE`` is the per-size subprocess."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_notop.weights.h5"))
    parser.add_argument("--images", default=str(SHARED / "images"))
    parser.add_argument("--sizes", default="256")
    parser.add_argument("--steps", type=int, default=10, help="Extra iterations in the long run.")
    parser.add_argument("--json", default=None, help="Also write the rows to this file.")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def run_job(engine: Any, images: tuple[Image.Image, Image.Image], params: Any) -> tuple[float, Any]:
    """Wall seconds and result of one job on ``engine``."""
    started = time.perf_counter()
    result = engine.run(images[0], [images[1]], params)
    return time.perf_counter() - started, result


def optimizer_seconds(optimizer: str, shape: tuple[int, ...], steps: int) -> float:
    """Host seconds per optimizer step with a nearly free objective.

    The objective is an ill-conditioned quadratic (curvatures from 1e-3 to 1e3), so L-BFGS keeps
    a full history as it does on real images; on a well-conditioned one it converges at once,
    forgets its history and times almost nothing (the first version of this script did that).
    """
    from worker.nst.optimizers.host_reference import make_optimizer

    rng = np.random.default_rng(0)
    centre = rng.normal(size=shape).astype(np.float32)
    curvature = np.float32(10.0) ** rng.uniform(-3, 3, size=shape).astype(np.float32)
    terms = np.zeros(3, np.float32)

    def quadratic(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        grad = curvature * (x - centre)
        return 0.5 * float(np.vdot(x - centre, grad)), terms, grad

    opt = make_optimizer(optimizer, 1.0)
    x = np.zeros(shape, np.float32)
    x, _, _ = opt.step(x, quadratic)
    started = time.perf_counter()
    for _ in range(steps):
        x, _, _ = opt.step(x, quadratic)
    return (time.perf_counter() - started) / steps


def device_info() -> tuple[str, str]:
    """The Keras backend and the device its computations run on."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return backend, f"{device.platform}: {device.device_kind}"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return backend, f"gpu: {gpus[0].name}" if gpus else "cpu"


def peak_device_mib() -> float | None:
    """Peak accelerator memory in use so far, or None on the CPU."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else peak / 2**20
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def child(args: argparse.Namespace) -> None:
    """Measure one size in this process and print one JSON line per optimizer."""
    from contract.params import Limits, parse_params
    from shared.settings import Settings
    from worker.nst.engine import StyleTransfer

    size = args.child
    started = time.perf_counter()
    settings = Settings()  # NST_XLA, NST_PRECISION
    engine = StyleTransfer(
        args.weights, jit_compile=settings.xla == "on", precision=settings.precision
    )
    load_seconds = time.perf_counter() - started
    images = (
        Image.open(Path(args.images) / "tubingen.jpg").convert("RGB"),
        Image.open(Path(args.images) / "starry_night.jpg").convert("RGB"),
    )
    limits = Limits(max_size=max(size, 1024))
    backend, device = device_info()
    for optimizer in OPTIMIZERS:

        def params(iterations: int, name: str = optimizer) -> Any:
            fields = {"size": size, "iterations": iterations, "optimizer": name}
            return parse_params(fields, limits)

        first, _ = run_job(engine, images, params(2))
        short, short_result = run_job(engine, images, params(2))
        long, result = run_job(engine, images, params(2 + args.steps))
        per_iteration = (long - short) / args.steps
        evaluations = (result.evaluations - short_result.evaluations) / args.steps
        height, width = result.image.shape[:2]
        host = optimizer_seconds(optimizer, (1, height, width, 3), args.steps)
        print(
            json.dumps(
                {
                    "backend": backend,
                    "device": device,
                    "size": size,
                    "optimizer": optimizer,
                    "precision": result.precision,
                    "image": [width, height],
                    "load_seconds": round(load_seconds, 2),
                    "first_job_seconds": round(first, 2),
                    "seconds_per_iteration": round(per_iteration, 4),
                    "evaluations_per_iteration": round(evaluations, 2),
                    "host_optimizer_share": round(min(host / per_iteration, 1.0), 3),
                    "final_total_loss": float(result.losses.total),
                    "peak_device_mib": peak_device_mib(),
                    "peak_rss_mib": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    ),
                }
            ),
            flush=True,
        )


def measure(args: argparse.Namespace, size: int) -> list[dict[str, Any]]:
    """Run the per-size child and collect its rows."""
    command = [
        sys.executable,
        __file__,
        "--child",
        str(size),
        "--steps",
        str(args.steps),
        "--weights",
        args.weights,
        "--images",
        args.images,
    ]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=os.environ.copy())
    if out.returncode != 0:
        sys.exit(f"size {size} failed:\n{out.stderr[-4000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the rows."""
    head = (
        "| backend | device | size | optimizer | first job s | s/iteration | evaluations/"
        "iteration | host optimizer share | peak device MiB | peak RSS MiB |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        device_mib = "-" if r["peak_device_mib"] is None else f"{r['peak_device_mib']:.0f}"
        lines.append(
            f"| {r['backend']} | {r['device']} | {r['image'][0]}x{r['image'][1]} | "
            f"{r['optimizer']} | {r['first_job_seconds']:.1f} | {r['seconds_per_iteration']:.4f} | "
            f"{r['evaluations_per_iteration']:.2f} | "
            f"{r['host_optimizer_share']:.0%} | {device_mib} | {r['peak_rss_mib']} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.child is not None:
        child(args)
        return
    rows = []
    for size in map(int, args.sizes.split(",")):
        rows += measure(args, size)
        print(json.dumps(rows[-len(OPTIMIZERS) :]), flush=True)  # kept if a later size is cut
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
