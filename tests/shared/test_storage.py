"""Both storage backends against the same contract: real files, and a real S3 endpoint over HTTP."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests

from contract.errors import ObjectNotFound, StorageUnavailable
from shared.settings import Settings
from shared.storage import FileStorage, JobKeys, ObjectStorage, S3Storage, open_storage
from tests.helpers import free_port


@pytest.fixture(params=["file", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStorage:
    if request.param == "file":
        return open_storage(Settings(storage_url=f"file://{tmp_path}/objects"))
    endpoint = request.getfixturevalue("s3_endpoint")
    url = request.getfixturevalue("s3_url")
    return open_storage(Settings(storage_url=url, s3_endpoint_url=endpoint))


def test_put_then_get_returns_the_same_bytes(storage: ObjectStorage) -> None:
    storage.put("jobs/a/result.png", b"\x89PNG-bytes", "image/png")
    assert storage.get("jobs/a/result.png") == b"\x89PNG-bytes"
    assert storage.exists("jobs/a/result.png")


def test_put_replaces_an_existing_object(storage: ObjectStorage) -> None:
    storage.put("jobs/a/state.npz", b"first", "application/octet-stream")
    storage.put("jobs/a/state.npz", b"second", "application/octet-stream")
    assert storage.get("jobs/a/state.npz") == b"second"


def test_missing_key_raises_object_not_found(storage: ObjectStorage) -> None:
    assert not storage.exists("jobs/none/result.png")
    with pytest.raises(ObjectNotFound):
        storage.get("jobs/none/result.png")


def test_delete_prefix_removes_only_that_job(storage: ObjectStorage) -> None:
    storage.put("jobs/one/content.png", b"1", "image/png")
    storage.put("jobs/one/style-0.png", b"2", "image/png")
    storage.put("jobs/two/content.png", b"3", "image/png")
    storage.delete_prefix("jobs/one/")
    assert not storage.exists("jobs/one/content.png")
    assert not storage.exists("jobs/one/style-0.png")
    assert storage.get("jobs/two/content.png") == b"3"


def test_check_passes_when_the_store_answers(storage: ObjectStorage) -> None:
    storage.check()


def test_s3_presigned_url_downloads_the_object(s3_endpoint: str, s3_url: str) -> None:
    storage = open_storage(Settings(storage_url=s3_url, s3_endpoint_url=s3_endpoint))
    storage.put("jobs/p/result.png", b"image-bytes", "image/png")
    url = storage.presigned_url("jobs/p/result.png", expires_in=60)
    assert url is not None and "X-Amz-Expires=60" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"image-bytes"


def test_s3_presigned_url_names_the_public_endpoint_when_one_is_set(
    s3_endpoint: str, s3_url: str
) -> None:
    # As in Compose: the services reach the store by a name only their network resolves
    # (here a closed port), while the link goes to clients, who reach it elsewhere.
    open_storage(Settings(storage_url=s3_url, s3_endpoint_url=s3_endpoint)).put(
        "jobs/q/result.png", b"public-bytes", "image/png"
    )
    inside = f"http://127.0.0.1:{free_port()}"
    storage = open_storage(
        Settings(storage_url=s3_url, s3_endpoint_url=inside, s3_public_endpoint_url=s3_endpoint)
    )
    url = storage.presigned_url("jobs/q/result.png", expires_in=60)
    assert url is not None and url.startswith(s3_endpoint + "/")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"public-bytes"


def test_file_storage_has_no_presigned_urls(tmp_path: Path) -> None:
    assert FileStorage(tmp_path).presigned_url("jobs/x/result.png", 60) is None


def test_file_storage_refuses_keys_that_escape_its_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FileStorage(tmp_path / "root").put("../outside", b"x", "text/plain")


def test_unreachable_s3_raises_storage_unavailable_once_its_time_budget_is_spent() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = S3Storage("bucket", "", endpoint, "us-east-1", retry_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"did not answer writing content\.png") as caught:
        storage.put("jobs/x/content.png", b"x", "image/png")
    assert 1.5 <= time.monotonic() - started < 8  # retried for the budget, then gave up
    assert "127.0.0.1" not in caught.value.message  # the endpoint stays in the log
    with pytest.raises(StorageUnavailable):
        storage.check()


def test_job_keys_come_from_the_job_id_only() -> None:
    job_id = str(uuid.uuid4())
    keys = JobKeys(job_id)
    assert {keys.content, keys.style(0), keys.preview, keys.state, keys.result} == {
        f"jobs/{job_id}/content.jpg",
        f"jobs/{job_id}/style-0.jpg",
        f"jobs/{job_id}/preview.jpg",
        f"jobs/{job_id}/state.npz",
        f"jobs/{job_id}/result.png",
    }
    with pytest.raises(ValueError):
        JobKeys("../../etc/passwd")
