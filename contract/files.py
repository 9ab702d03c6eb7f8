"""Files that appear whole or not at all: written beside their target, then renamed over it.

Used wherever the product writes a file someone else may read at any moment: results from
``nst run`` and ``nst download``, objects of the ``file://`` storage, downloaded weights.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Yield a temporary file beside ``path``; on success it becomes ``path``, else it is removed.

    ``mkstemp`` creates files readable by the owner only; the result gets the permissions a
    plain ``open`` would have given it, so a saved image is as readable as any other file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    with atomic_writer(path) as handle:
        handle.write(data)
