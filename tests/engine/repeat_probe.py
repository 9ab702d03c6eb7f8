"""Run one job twice in a fresh process, per precision; print the pictures' digests.

The second run is split into compiled calls of 2 iterations by its checkpoints (the first
runs them all in one call): the picture must not depend on how a run is split.

``test_precision.py`` runs this in a subprocess: whether TensorFlow may overlap its ops is
fixed when its runtime starts, so the engine must be the first thing in the process to start
it, as in a worker or ``nst run``. ``--overlap`` starts TensorFlow first, as a process that
used it before building the engine would: the engine then cannot turn the overlap off (this
is how the test was seen to fail before the fix).
"""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
from PIL import Image

from tests.engine.backend_probe import IMAGES
from worker.nst.options import RunOptions


def pair_at(long_side: int) -> tuple[Image.Image, Image.Image]:
    """Tübingen and The Starry Night at the job's size."""
    pair = []
    for name in ("tubingen.jpg", "starry_night.jpg"):
        image = Image.open(IMAGES / name).convert("RGB")
        image.thumbnail((long_side, long_side))
        pair.append(image)
    return pair[0], pair[1]


def repeat_report(
    weights: str, size: int, iterations: int, precision: str, optimizer: str = "lbfgs"
) -> dict[str, object]:
    """Run the pair's job twice on one engine (one call, then calls of 2); digests and losses."""
    from contract.params import parse_params
    from worker.nst.engine import StyleTransfer

    content, style = pair_at(size)
    params = parse_params(
        {"size": size, "iterations": iterations, "seed": 1, "optimizer": optimizer, "early_stop": 0}
    )
    engine = StyleTransfer(weights, precision=precision)  # type: ignore[arg-type]
    # one compiled call for all iterations, then calls of 2 split by checkpoints
    split = RunOptions(checkpoint_every=2, on_checkpoint=lambda checkpoint: None)
    results = [engine.run(content, [style], params), engine.run(content, [style], params, split)]
    runs = [result.image for result in results]
    return {
        "digests": [hashlib.sha256(image.tobytes()).hexdigest()[:16] for image in runs],
        "losses": [result.losses.total for result in results],
        "mean_difference": float(np.abs(runs[0].astype(int) - runs[1]).mean()),
        "reproducible": engine.reproducible,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument(
        "--precisions", default="float32,bfloat16", help="precision[@long side], comma-separated"
    )
    parser.add_argument("--optimizer", default="lbfgs")
    parser.add_argument("--overlap", action="store_true")
    args = parser.parse_args()
    if args.overlap:
        import keras

        keras.ops.convert_to_numpy(keras.ops.ones(1) + 1)  # starts TensorFlow's runtime
    report = {}
    for item in args.precisions.split(","):
        precision, _, size = item.partition("@")
        report[precision] = repeat_report(
            args.weights, int(size or args.size), args.iterations, precision, args.optimizer
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
