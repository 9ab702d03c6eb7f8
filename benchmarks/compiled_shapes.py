"""What each new picture size costs a worker: the first job's seconds and the memory it keeps.

A worker compiles a step for every new (bucketed) shape and keeps up to ``NST_COMPILED_STEPS``
of them. Under JAX the network's weights used to be constants of each compiled program
(``gradients.compile_traced``); this shows what passing them as arguments saves. One process,
one engine, sizes in order, each a short job (the default L-BFGS, 2 iterations); the
resident-memory high-water mark after each, and a digest of each picture (two checkouts that
compute the same give the same digests). Compare checkouts by running it from each with the
same backend and precision, alternating, from the repo root::

    KERAS_BACKEND=jax JAX_PLATFORMS=cpu .venv/bin/python -m benchmarks.compiled_shapes
    PYTHONPATH=<other checkout> KERAS_BACKEND=jax JAX_PLATFORMS=cpu \\
        .venv/bin/python -m benchmarks.compiled_shapes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from pathlib import Path

import keras
from PIL import Image

from benchmarks.precision import cpu
from contract.params import parse_params
from worker.nst.engine import StyleTransfer

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,96,128,160")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--weights", default=str(SHARED / "weights/vgg19_notop.weights.h5"))
    args = parser.parse_args()
    content = Image.open(SHARED / "images/tubingen.jpg").convert("RGB")
    style = Image.open(SHARED / "images/starry_night.jpg").convert("RGB")
    engine = StyleTransfer(args.weights, precision=args.precision)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        result = engine.run(content, [style], parse_params({"size": size, "iterations": 2}))
        rows.append(
            {
                "size": size,
                "first_job_seconds": round(time.perf_counter() - started, 2),
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "sha256": hashlib.sha256(result.image.tobytes()).hexdigest()[:16],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "precision": args.precision,
                "cpu": cpu()["model"],
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
