"""Host milliseconds per L-BFGS step at 512 and 1024 px, for several ways of taking inner products.

The optimizer runs in numpy on the host; on a GPU its work is a large share of an iteration
(benchmarks/README.md). The objective is ``backends.optimizer_seconds``' ill-conditioned
quadratic, so the history is full as on real images. Run from the repo root:

    .venv/bin/python benchmarks/lbfgs_host.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]
from backends import optimizer_seconds  # noqa: E402

from worker.nst.optimizers import host_reference  # noqa: E402

SHAPES = [(1, 384, 512, 3), (1, 768, 1024, 3)]


def einsum64(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("i,i->", a.ravel(), b.ravel(), dtype=np.float64))


def astype64(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel().astype(np.float64), b.ravel().astype(np.float64)))


if __name__ == "__main__":
    shipped = host_reference._dot
    for name, dot in [
        ("float64 via astype", astype64),
        ("float64 via einsum", einsum64),
        ("float32 BLAS (shipped)", shipped),
    ]:
        host_reference._dot = dot
        best = [min(optimizer_seconds("lbfgs", shape, 15) for _ in range(3)) for shape in SHAPES]
        print(f"{name:<24} " + "  ".join(f"{s * 1000:6.1f} ms" for s in best), "(512, 1024 px)")
