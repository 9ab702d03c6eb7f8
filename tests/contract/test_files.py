"""write_atomically / atomic_writer: whole files with ordinary permissions, or nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from contract.files import atomic_writer, write_atomically


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_written_file_has_the_permissions_a_plain_open_gives(tmp_path: Path) -> None:
    plain, atomic = tmp_path / "plain.png", tmp_path / "atomic.png"
    plain.write_bytes(b"x")
    write_atomically(atomic, b"image bytes")
    assert atomic.read_bytes() == b"image bytes"
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(atomic.stat().st_mode) == 0o666 & ~_umask()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "result.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]
