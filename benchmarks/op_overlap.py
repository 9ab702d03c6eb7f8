"""Seconds per iteration with TensorFlow's ops one at a time (the engine's default since issue 20)
or overlapping (``--overlap``: TensorFlow started before the engine, which then cannot turn it
off). float32, 256 px, the default job, 8 timed iterations after a warm-up; one JSON line.
Alternate fresh processes, from the repo root::

    for i in 1 2 3 4; do for o in "" --overlap; do
        TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/op_overlap.py $o | tail -1; done; done
"""

import itertools
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if "--overlap" in sys.argv:
    import keras

    keras.ops.convert_to_numpy(keras.ops.ones(1) + 1)  # starts TensorFlow's runtime first
from PIL import Image  # noqa: E402

from contract.params import parse_params  # noqa: E402
from worker.nst.engine import StyleTransfer  # noqa: E402
from worker.nst.options import RunOptions  # noqa: E402

eng = StyleTransfer(str(REPO.parent / "shared" / "weights" / "vgg19_notop.weights.h5"))
c = Image.open(REPO.parent / "shared" / "images" / "tubingen.jpg").convert("RGB")
s = Image.open(REPO.parent / "shared" / "images" / "starry_night.jpg").convert("RGB")
eng.run(c, [s], parse_params({"size": 256, "iterations": 2, "early_stop": 0}))
stamps: list[float] = []
timed = parse_params({"size": 256, "iterations": 9, "early_stop": 0})
eng.run(
    c,
    [s],
    timed,
    RunOptions(progress_seconds=1e-6, on_checkpoint=lambda cp: stamps.append(cp.elapsed_seconds)),
)
gaps = [b - a for a, b in itertools.pairwise(stamps)]
print(
    json.dumps(
        {
            "overlap": "--overlap" in sys.argv,
            "reproducible": eng.reproducible,
            "median": statistics.median(gaps),
            "n": len(gaps),
            "load": os.getloadavg()[0],
        }
    )
)
