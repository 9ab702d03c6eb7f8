"""The iteration loop on the device against the host optimizers, interleaved in one process.

Seconds per iteration of the engine with its optimizers on the device
(``worker/nst/optimizers/loops.py``: K iterations per compiled call) and with
``optimizers/host_reference.py``'s numpy optimizers on the host
(``StyleTransfer(on_device=False)``, the implementation before), for Adam and L-BFGS, on the
current Keras backend (TensorFlow by default; XLA off unless ``--xla``). Each round runs every
configuration twice, ``2`` and ``2 + --steps`` iterations, and takes the difference, so per-job
set-up cancels out; rounds interleave the configurations so machine load hits all alike, and
each round gives a device/host ratio. Jobs report as a worker's do (progress every 2 s, state
every 30 s) unless ``--no-listener``. The first job of each engine shows compile time. Run from
the repo root:

    .venv/bin/python benchmarks/device_loop.py --size 256 --steps 6 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
OPTIMIZERS = ("adam", "lbfgs")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_notop.weights.h5"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6, help="Extra iterations of the long run.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--xla", action="store_true", help="TensorFlow with jit_compile.")
    parser.add_argument(
        "--no-listener",
        action="store_true",
        help="No on_checkpoint: a device call runs the whole pass.",
    )
    parser.add_argument("--json", default=None, help="Also write the results to this file.")
    return parser.parse_args()


def job(engine: Any, images: tuple[Image.Image, Image.Image], params: Any, listen: bool) -> Any:
    """One job as a worker runs it: progress every 2 s, state every 30 s (or no listener)."""
    from worker.nst.options import RunOptions

    listener = (lambda checkpoint: None) if listen else None
    return engine.run(
        images[0],
        [images[1]],
        params,
        RunOptions(progress_seconds=2.0, checkpoint_seconds=30.0, on_checkpoint=listener),
    )


def first_job(
    args: argparse.Namespace,
    images: tuple[Image.Image, Image.Image],
    where: str,
    optimizer: str,
    listen: bool,
) -> dict[str, float]:
    """Wall and compile seconds of a 2-iteration job on a fresh engine (compiles its shape)."""
    from contract.params import parse_params
    from worker.nst.engine import StyleTransfer

    engine = StyleTransfer(args.weights, jit_compile=args.xla, on_device=where == "device")
    params = parse_params({"size": args.size, "iterations": 2, "optimizer": optimizer})
    started = time.perf_counter()
    result = job(engine, images, params, listen)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "compile_seconds": round(result.compile_seconds, 2),
    }


def main() -> None:
    args = parse_args()
    import keras

    from contract.params import parse_params
    from worker.nst.engine import StyleTransfer

    images = (
        Image.open(SHARED / "images" / "tubingen.jpg").convert("RGB"),
        Image.open(SHARED / "images" / "starry_night.jpg").convert("RGB"),
    )
    listen = not args.no_listener
    engines = {
        where: StyleTransfer(args.weights, jit_compile=args.xla, on_device=where == "device")
        for where in ("host", "device")
    }
    configs = [(where, optimizer) for optimizer in OPTIMIZERS for where in ("host", "device")]
    first = {f"{w} {o}": first_job(args, images, w, o, listen) for w, o in configs}
    for where, optimizer in configs:  # compile outside the timing
        job(
            engines[where],
            images,
            parse_params({"size": args.size, "optimizer": optimizer, "iterations": 2}),
            listen,
        )
    per_iteration: dict[str, list[float]] = {f"{w} {o}": [] for w, o in configs}
    evaluations: dict[str, list[float]] = {f"{w} {o}": [] for w, o in configs}
    for _ in range(args.rounds):
        for where, optimizer in configs:
            label = f"{where} {optimizer}"
            short, long = (
                job(
                    engines[where],
                    images,
                    parse_params({"size": args.size, "iterations": n, "optimizer": optimizer}),
                    listen,
                )
                for n in (2, 2 + args.steps)
            )
            per_iteration[label].append((long.seconds - short.seconds) / args.steps)
            evaluations[label].append((long.evaluations - short.evaluations) / args.steps)
            print(f"{label}: {per_iteration[label][-1]:.3f} s/iteration", flush=True)
    rows = []
    for optimizer in OPTIMIZERS:
        host, device = per_iteration[f"host {optimizer}"], per_iteration[f"device {optimizer}"]
        ratios = [d / h for d, h in zip(device, host, strict=True)]
        for where, times in (("host", host), ("device", device)):
            label = f"{where} {optimizer}"
            rows.append(
                {
                    "config": label,
                    "median_s": round(statistics.median(times), 4),
                    "mean_s": round(statistics.fmean(times), 4),
                    "evaluations_per_iteration": round(statistics.fmean(evaluations[label]), 2),
                    "device_over_host": [round(r, 3) for r in ratios]
                    if where == "device"
                    else None,
                    "first_job": first[label],
                }
            )
    summary = {
        "backend": keras.backend.backend(),
        "xla": args.xla,
        "size": args.size,
        "steps": args.steps,
        "rounds": args.rounds,
        "listener": listen,
        "rows": rows,
    }
    print(
        "| config | s/iteration median (mean) | evaluations/iteration | device/host per round "
        "| first job s (compile s) |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        ratios = ", ".join(f"{r:.2f}" for r in row["device_over_host"] or []) or "-"
        print(
            f"| {row['config']} | {row['median_s']:.3f} ({row['mean_s']:.3f}) | "
            f"{row['evaluations_per_iteration']:.2f} | {ratios} | "
            f"{row['first_job']['seconds']:.1f} ({row['first_job']['compile_seconds']:.1f}) |"
        )
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
