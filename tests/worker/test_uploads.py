"""Uploads in the background: the newest object per key wins, failures reach the job later.

Real file storage behind a gate that holds each upload until the test lets it go (the slow
storage a GPU would otherwise wait for).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from contract.errors import StorageUnavailable
from shared.storage import FileStorage
from tests.helpers import wait_for
from worker.uploads import Uploader


class GatedStorage(FileStorage):
    """File storage whose puts wait for the test to open the gate (a slow store)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.puts: list[tuple[str, bytes]] = []
        self.fail = False

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.started.set()
        self.gate.wait(10)
        if self.fail:
            raise StorageUnavailable("object storage did not answer")
        self.puts.append((key, data))
        super().put(key, data, content_type)


def test_the_newest_state_wins_and_at_most_one_waits(tmp_path: Path) -> None:
    storage = GatedStorage(tmp_path)
    uploader = Uploader(storage)
    uploader.put("state", b"first", "x")
    wait_for(storage.started.is_set, 5, "the first upload to start")
    for version in (b"second", b"third", b"fourth"):  # saved while the first is uploading
        uploader.put("state", version, "x")
    storage.gate.set()
    uploader.flush(timeout=10)
    assert storage.puts == [("state", b"first"), ("state", b"fourth")]
    assert storage.get("state") == b"fourth" and uploader.stored("state")
    uploader.close()


def test_a_failed_upload_is_raised_at_the_next_put_or_flush(tmp_path: Path) -> None:
    storage = GatedStorage(tmp_path)
    storage.fail = True
    storage.gate.set()
    uploader = Uploader(storage)
    uploader.put("state", b"lost", "x")
    with pytest.raises(StorageUnavailable):
        uploader.flush(timeout=10)
    with pytest.raises(StorageUnavailable):
        uploader.put("state", b"again", "x")
    uploader.close()
