"""The style-transfer engine (Gatys et al. on VGG19); no Celery, Redis, Flask or S3 in here.

The method is at this level (``images``, ``model``, ``losses``, ``inputs``, ``balance``,
``engine``); how the image is optimized is ``optimizers/``. Importing this package imports no
Keras: ``StyleTransfer`` and the results are loaded on first use (PEP 562), so the worker, the
CLI and the benchmarks' simulated engine can name ``worker.nst.results`` or
``worker.nst.options`` without starting TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.nst.engine import StyleTransfer
    from worker.nst.results import Checkpoint, Losses, TransferResult

__all__ = ["Checkpoint", "Losses", "StyleTransfer", "TransferResult"]
_HOMES = {
    "StyleTransfer": "worker.nst.engine",
    "Checkpoint": "worker.nst.results",
    "Losses": "worker.nst.results",
    "TransferResult": "worker.nst.results",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module when it is first asked for (Keras only for the engine)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
