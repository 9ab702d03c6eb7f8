"""Object storage for job inputs, checkpoints and results: one interface, two backends.

``S3Storage`` talks to any S3-compatible endpoint (AWS, MinIO, moto) through
boto3. Transient failures (refused connections, timeouts, 5xx, throttling) are
retried by tenacity with exponential backoff and jitter for a budget of *time*
(NST_STORAGE_RETRY_SECONDS), not a count: botocore's five retries gave up after
0.8 s of refused connections. Only then is ``StorageUnavailable`` raised, with a
message that names what failed but never the endpoint (details go to the log).
``FileStorage`` keeps objects under a local directory for the one-machine setup.
Keys are made by ``JobKeys`` from the job id alone: nothing a user sends ever
becomes part of a path.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from contract.errors import ConfigError, ObjectNotFound, StorageUnavailable
from contract.files import write_atomically
from contract.jobs import Job
from shared.presets import preset_key
from shared.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
_THROTTLING = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"})


@dataclass(frozen=True)
class JobKeys:
    """The object keys of one job, derived from its (validated UUID) id only."""

    job_id: str

    def __post_init__(self) -> None:
        uuid.UUID(self.job_id)  # raises ValueError: a non-UUID never reaches a path

    @property
    def prefix(self) -> str:
        return f"jobs/{self.job_id}/"

    @property
    def content(self) -> str:
        return f"{self.prefix}content.jpg"

    def style(self, index: int) -> str:
        return f"{self.prefix}style-{index}.jpg"

    @property
    def preview(self) -> str:
        return f"{self.prefix}preview.jpg"

    @property
    def state(self) -> str:
        return f"{self.prefix}state.npz"

    @property
    def result(self) -> str:
        return f"{self.prefix}result.png"


def style_keys(job: Job) -> list[str]:
    """The storage keys of the job's style images: its uploads in order, then its presets."""
    uploads = job.style_count - len(job.style_presets)
    keys = JobKeys(job.id)
    return [keys.style(i) for i in range(uploads)] + [preset_key(p) for p in job.style_presets]


class ObjectStorage(Protocol):
    """What the API and the worker need from a store; every failure is a contract.errors type."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store bytes under key, replacing any previous object (never visible half-written)."""

    def get(self, key: str) -> bytes:
        """Return the object's bytes; raise ObjectNotFound when the key is absent."""

    def exists(self, key: str) -> bool:
        """Tell whether key holds an object."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object whose key starts with prefix."""

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A time-limited URL for a GET of key, or None when the API must stream it itself."""

    def check(self) -> None:
        """Raise StorageUnavailable unless the store answers (readiness probe)."""


class S3Storage:
    """S3-compatible storage under ``s3://bucket/prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        endpoint_url: str | None,
        region: str,
        retry_seconds: float,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},  # tenacity retries instead
            connect_timeout=3,
            read_timeout=30,
            signature_version="s3v4",
            s3={"addressing_style": "path"},
        )
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )
        # Presigning makes no request: a second client only so URLs name the host clients use
        # (in Compose the services reach http://minio:9000, a host on the host is localhost).
        self.presigner = (
            boto3.client("s3", endpoint_url=public_endpoint_url, region_name=region, config=config)
            if public_endpoint_url
            else self.client
        )
        self.retry_seconds = retry_seconds

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _call(self, action: str, operation: Callable[[], T]) -> T:
        """Run one S3 operation, retrying transient failures until the time budget is spent."""
        retrying = Retrying(
            stop=stop_after_delay(self.retry_seconds),
            wait=wait_exponential_jitter(multiplier=0.1, max=4.0),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            return retrying(operation)
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise
            log.warning("object storage failed %s: %s", action, exc)
            raise StorageUnavailable(f"object storage failed {action}") from exc
        except BotoCoreError as exc:
            log.warning("object storage unreachable %s: %s", action, exc)
            raise StorageUnavailable(f"object storage did not answer {action}") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call(
            f"writing {_what(key)}",
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            ),
        )

    def get(self, key: str) -> bytes:
        def read() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(response["Body"].read())

        try:
            return self._call(f"reading {_what(key)}", read)
        except ClientError:
            raise ObjectNotFound(f"{_what(key)} does not exist") from None

    def exists(self, key: str) -> bool:
        try:
            self._call(
                f"looking up {_what(key)}",
                lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)),
            )
            return True
        except ClientError:
            return False

    def delete_prefix(self, prefix: str) -> None:
        def delete() -> None:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                keys: list[Any] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})

        self._call("deleting a job's objects", delete)

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        return str(
            self.presigner.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires_in,
            )
        )

    def check(self) -> None:
        try:
            self._call("checking its bucket", lambda: self.client.head_bucket(Bucket=self.bucket))
        except ClientError as exc:
            log.warning("object storage bucket check failed: %s", exc)
            raise StorageUnavailable("object storage bucket is not usable") from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _transient(exc: BaseException) -> bool:
    """Worth retrying: no connection, a timeout, a server error or throttling (not 4xx)."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or _error_code(exc) in _THROTTLING
    return isinstance(exc, BotoCoreError)


def _what(key: str) -> str:
    """A key named for a person: its object's name, never the bucket or endpoint."""
    return key.rsplit("/", 1)[-1]


class FileStorage:
    """Objects as files under one directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key escapes the storage root: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
        except OSError as exc:
            raise StorageUnavailable(f"could not write {key}: {exc.strerror}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"{key} does not exist") from None
        except OSError as exc:
            raise StorageUnavailable(f"could not read {key}: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        targets = [base] if base.is_file() else sorted(base.rglob("*"), reverse=True)
        for path in targets:
            if path.is_file():
                path.unlink(missing_ok=True)
            elif path.is_dir():
                path.rmdir()
        if base.is_dir() and base != self.root:
            base.rmdir()

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        return None

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"storage directory {self.root} unusable: {exc.strerror}"
            ) from exc
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"storage directory {self.root} is not writable")


def open_storage(settings: Settings, patient: bool = True) -> ObjectStorage:
    """Build the store that NST_STORAGE_URL names.

    Workers are patient (a storage outage within NST_STORAGE_RETRY_SECONDS is ridden out);
    the API is not (a client gets a 503 within about two seconds rather than a hang).
    """
    parsed = urlparse(settings.storage_url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError("NST_STORAGE_URL: s3:// URL needs a bucket name")
        return S3Storage(
            parsed.netloc,
            parsed.path,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.storage_retry_seconds if patient else min(settings.storage_retry_seconds, 2.0),
            settings.s3_public_endpoint_url,
        )
    path = parsed.netloc + parsed.path
    return FileStorage(Path(path))
