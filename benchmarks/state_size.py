"""Bytes of a job's resumable state, by size and optimizer, and what they are made of.

Each checkpoint uploads this state (``worker/nst/state.py``: an ``np.savez`` archive), so its
size sets the storage traffic of a job and the time an upload takes off the critical path.
Exact resume needs the image and the optimizer's state as they are: for Adam its two moment
estimates, for L-BFGS its curvature history (``LBFGS_HISTORY`` pairs of image-sized vectors).
This runs one short job per size and optimizer with a state save every iteration, takes the
last state, and lists its arrays; it also reports the archive compressed (``np.savez_compressed``)
to show whether compression would pay. The shape is ``tubingen.jpg``'s (4:3). Run from the
repo root:

    .venv/bin/python benchmarks/state_size.py --sizes 512,1024
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"


def measure(
    engine: object,
    images: tuple[Image.Image, Image.Image],
    size: int,
    optimizer: str,
    iterations: int,
) -> dict[str, object]:
    """One job; the bytes of its last state, raw and compressed, and its largest arrays."""
    from contract.params import parse_params
    from worker.nst.options import RunOptions

    states: list[bytes] = []
    params = parse_params(
        {
            "size": size,
            "iterations": iterations,
            "optimizer": optimizer,
            "early_stop": 0,
            "checkpoint_every": 1,
        }
    )
    options = RunOptions(on_checkpoint=lambda c: states.append(c.state) if c.state else None)
    engine.run(images[0], [images[1]], params, options)  # type: ignore[attr-defined]
    state = states[-1]
    with np.load(io.BytesIO(state), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    compressed = io.BytesIO()
    np.savez_compressed(compressed, **arrays)  # type: ignore[arg-type]
    parts = sorted(((k, int(v.nbytes)) for k, v in arrays.items()), key=lambda kv: -kv[1])
    return {
        "size": size,
        "optimizer": optimizer,
        "image_shape": list(arrays["image"].shape),
        "state_bytes": len(state),
        "compressed_bytes": compressed.tell(),
        "largest_arrays": dict(parts[:4]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--optimizers", default="adam,lbfgs")
    parser.add_argument("--iterations", type=int, default=12, help="Enough to fill the history.")
    parser.add_argument("--weights", default=str(SHARED / "weights" / "vgg19_notop.weights.h5"))
    args = parser.parse_args()
    from worker.nst.engine import StyleTransfer

    images = (
        Image.open(SHARED / "images" / "tubingen.jpg").convert("RGB"),
        Image.open(SHARED / "images" / "starry_night.jpg").convert("RGB"),
    )
    engine = StyleTransfer(args.weights)
    for size in (int(s) for s in args.sizes.split(",")):
        for optimizer in args.optimizers.split(","):
            print(json.dumps(measure(engine, images, size, optimizer, args.iterations)), flush=True)


if __name__ == "__main__":
    main()
