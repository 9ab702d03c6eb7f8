"""Checkpoint state as opaque bytes: an ``np.savez`` archive of plain arrays (no pickle).

The worker stores these bytes and hands them back as ``resume_from``; only this module knows
what is inside. A fingerprint of the parameters that shape the optimization is stored too, so
state from a different job is refused instead of silently producing a wrong image.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

import numpy as np

from contract.errors import EngineFailure
from contract.params import JobParams

_OPT_PREFIX = "opt_"
FORMAT_VERSION = 1


@dataclass
class RunState:
    """Where a run stands: scale pass, global iteration, time spent, image and optimizer state."""

    scale_index: int
    iteration: int
    elapsed: float
    image: np.ndarray  # 1 x H x W x 3 float32, in VGG19 (preprocessed) space
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    loss_history: np.ndarray = field(default_factory=lambda: np.empty(0))  # early stop's window
    picture: tuple[int, int] = (0, 0)  # (height, width) of the picture inside a padded image


def fingerprint(params: JobParams, style_count: int, bucket: int = 0) -> str:
    """Return a text that differs whenever resuming with these params would be meaningless.

    The shape bucket is part of it: a state padded for one bucket does not fit another.
    """
    shape = params.model_dump(exclude={"checkpoint_every"})
    return f"v{FORMAT_VERSION}:{style_count}:b{bucket}:{sorted(shape.items())!r}"


def dump_state(state: RunState, params: JobParams, style_count: int, bucket: int = 0) -> bytes:
    """Serialize a run state for ``StyleTransfer.run(resume_from=...)``."""
    arrays = {f"{_OPT_PREFIX}{key}": value for key, value in state.optimizer.items()}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        fingerprint=np.array(fingerprint(params, style_count, bucket)),
        picture=np.array(state.picture),
        scale_index=np.array(state.scale_index),
        iteration=np.array(state.iteration),
        elapsed=np.array(state.elapsed),
        image=state.image,
        loss_history=np.asarray(state.loss_history, np.float64),
        **arrays,  # type: ignore[arg-type]
    )
    return buffer.getvalue()


def load_state(data: bytes, params: JobParams, style_count: int, bucket: int = 0) -> RunState:
    """Read bytes from ``dump_state``; raise EngineFailure if unreadable or from another job."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EngineFailure(f"checkpoint state is unreadable: {exc}") from None
    if str(arrays.get("fingerprint")) != fingerprint(params, style_count, bucket):
        raise EngineFailure("checkpoint state belongs to a job with different parameters or images")
    return RunState(
        scale_index=int(arrays["scale_index"]),
        iteration=int(arrays["iteration"]),
        elapsed=float(arrays["elapsed"]),
        image=arrays["image"],
        loss_history=arrays.get("loss_history", np.empty(0)),
        picture=tuple(int(v) for v in arrays.get("picture", np.zeros(2))),  # type: ignore[arg-type]
        optimizer={
            key.removeprefix(_OPT_PREFIX): value
            for key, value in arrays.items()
            if key.startswith(_OPT_PREFIX)
        },
    )
