"""Will a job fit? Its memory estimated from measurements, checked before it starts.

A job that cannot fit must fail with a clear message, not with an out-of-memory crash that
takes the worker (and, on a shared GPU, its neighbours) down. The estimate is linear in the
optimized pixels, fitted to measured peaks (benchmarks/README.md, "Backends and GPU"):

- GPU (JAX on an H100, preallocation off): 614 MiB at 512 x 384 and 1,907 MiB at
  1024 x 768, so about 183 MiB + 0.00219 MiB per pixel;
- CPU (TensorFlow): the process grew from 1,289 MiB at 256 x 192 to 2,171 MiB at 512 x 384,
  about 0.0060 MiB per pixel above what the loaded model already holds.

The style images count too: each is resized to ``size x style_scale`` (up to 4x the content's
side, so 16x its pixels) and sent through VGG19 once, for its Gram targets, one at a time. That
forward pass grew the process by 0.0013 MiB per style pixel (CPU, TensorFlow, AMD EPYC: 1,035
MiB at 1024 x 768, 4,096 MiB at 2048 x 1536; ``/tmp/style_mem.py`` in issue 21's notes), which is
the float32 activations of VGG19's first blocks, the same on a GPU. Leaving it out let a 512 px
job with ``style_scale`` 4 pass a 1.5 GB estimate and peak 5.3 GB above it (issue 21). The
largest style image is added, as the passes do not overlap.

The GPU figures were measured with the optimizers on the host. Their state now lives on the
device (``optimizers/loops.py``): for L-BFGS two history rings of ``LBFGS_HISTORY`` images and
a few more image-sized vectors, held twice while a call replaces them; for Adam three. That is
computed from the sizes (``DEVICE_STATE_VECTORS``), not measured, and added on a GPU; on the
host it was part of the CPU measurement already. The estimate is raised by ``HEADROOM`` before
it is compared with what is free.
"""

from __future__ import annotations

import keras
import psutil

from contract.errors import InsufficientMemory
from worker.nst.optimizers.host_reference import LBFGS_HISTORY

GPU_BASE_MIB, GPU_MIB_PER_PIXEL = 183.0, 0.00219
CPU_MIB_PER_PIXEL = 0.0060
STYLE_MIB_PER_PIXEL = 0.0013  # one forward pass of one style image, CPU or GPU
HEADROOM = 1.25
# image-sized float32 vectors of optimizer state on the device, a call's input and output both
DEVICE_STATE_VECTORS = {"lbfgs": 2 * (2 * LBFGS_HISTORY + 6), "adam": 2 * 3}
VECTOR_MIB_PER_PIXEL = 3 * 4 / 2**20  # RGB float32


def needed_mib(pixels: int, on_gpu: bool, optimizer: str = "lbfgs", style_pixels: int = 0) -> float:
    """Memory one job takes beyond the loaded model: ``pixels`` optimized pixels, and its
    largest style image of ``style_pixels`` (after its resize to ``size x style_scale``)."""
    style = STYLE_MIB_PER_PIXEL * style_pixels
    if on_gpu:
        state = DEVICE_STATE_VECTORS[optimizer] * VECTOR_MIB_PER_PIXEL
        return (GPU_BASE_MIB + (GPU_MIB_PER_PIXEL + state) * pixels + style) * HEADROOM
    return (CPU_MIB_PER_PIXEL * pixels + style) * HEADROOM


def free_mib() -> tuple[float | None, bool]:
    """(memory free for a job, whether that is GPU memory); None when it cannot be known."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            stats = device.memory_stats() or {}
            if "bytes_limit" in stats:
                return (stats["bytes_limit"] - stats.get("bytes_in_use", 0)) / 2**20, True
            return None, True
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return None, True  # TensorFlow does not say how much a GPU has left
    return psutil.virtual_memory().available / 2**20, False


def check_fits(
    pixels: int,
    size: int,
    limit_mib: float | None,
    optimizer: str = "lbfgs",
    style_pixels: int = 0,
) -> None:
    """Raise InsufficientMemory when a job of ``pixels`` (at ``size`` px) would not fit.

    ``style_pixels``: the largest style image as the job resizes it. ``limit_mib``
    (NST_JOB_MEMORY_LIMIT_MB) replaces what is free, for operators who share a GPU between
    several worker processes.
    """
    free, on_gpu = free_mib()
    budget = limit_mib if limit_mib is not None else free
    needed = needed_mib(pixels, on_gpu, optimizer, style_pixels)
    if budget is not None and needed > budget:
        where = "GPU" if on_gpu else "host"
        raise InsufficientMemory(
            f"a {size} px job needs about {needed:.0f} MiB of {where} memory and this worker "
            f"has {budget:.0f} MiB for it; choose a smaller size or style_scale"
        )


def share_gpus() -> None:
    """Let a process take GPU memory as it needs it, so several can share a GPU.

    TensorFlow grabs a whole GPU by default and JAX 75 % of it; memory growth (and, for JAX,
    XLA_PYTHON_CLIENT_PREALLOCATE=false, set where the worker starts) lets NST_WORKER_CONCURRENCY
    processes, or other workloads, share the card. Must run before the GPU is first used.
    """
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
