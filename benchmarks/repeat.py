"""Run the default job twice per precision in one process, as ``nst run`` reports (issue 20).

Progress every 2 s and state every 30 s, so the two runs' compiled calls end at different
iterations; prints each run's iterations, evaluations, final loss and report iterations, then
how far the two pictures are apart (mean and max absolute difference per channel, 0..255).
Run from the repo root:

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/repeat.py float32,bfloat16
"""

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contract.params import parse_params  # noqa: E402
from worker.nst.engine import StyleTransfer  # noqa: E402
from worker.nst.options import RunOptions  # noqa: E402

W = str(REPO.parent / "shared" / "weights" / "vgg19_notop.weights.h5")
IMAGES = REPO.parent / "shared" / "images"
c = Image.open(IMAGES / "tubingen.jpg").convert("RGB")
s = Image.open(IMAGES / "starry_night.jpg").convert("RGB")
p = parse_params({"size": 256, "iterations": 150})  # the default job otherwise (early stop 0.01)
for prec in sys.argv[1].split(","):
    eng = StyleTransfer(W, precision=prec)  # type: ignore[arg-type]
    outs = []
    for k in range(2):
        calls: list[int] = []
        t = time.time()
        r = eng.run(
            c,
            [s],
            p,
            RunOptions(
                progress_seconds=2.0,
                checkpoint_seconds=30.0,
                on_checkpoint=lambda cp, calls=calls: calls.append(cp.iteration),
            ),
        )
        outs.append(r.image.astype(np.int16))
        print(
            prec,
            k,
            "iters",
            r.iterations,
            "evals",
            r.evaluations,
            "loss",
            repr(r.losses.total),
            "secs",
            round(time.time() - t, 1),
            "reports",
            calls[:12],
            flush=True,
        )
    d = np.abs(outs[0] - outs[1])
    print(
        prec,
        "reproducible",
        eng.reproducible,
        "mean abs diff /255",
        d.mean(),
        "max",
        d.max(),
        flush=True,
    )
