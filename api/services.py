"""The objects a request needs (settings, job store, storage, queue), built once per app."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from celery import Celery
from flask import current_app

from api.auth import KeyRing
from shared.job_store import JobStore
from shared.params import Limits
from shared.redis_client import connect
from shared.settings import Settings
from shared.storage import ObjectStorage, open_storage
from worker.celery_app import make_celery


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: JobStore
    storage: ObjectStorage
    queue: Celery
    keys: KeyRing
    limits: Limits
    pool: ThreadPoolExecutor

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """Connect lazily: building the app must work while Redis or storage is still down."""
        client = connect(settings.redis_url, patient=False)
        return cls(
            settings=settings,
            store=JobStore(client, settings.key_prefix, settings.job_ttl_seconds),
            storage=open_storage(settings),
            queue=make_celery(settings),
            keys=KeyRing.from_settings(settings),
            limits=Limits(settings.max_size, settings.max_iterations, settings.max_style_images),
            pool=ThreadPoolExecutor(max_workers=8, thread_name_prefix="nst-io"),
        )


def services() -> Services:
    """The current app's services."""
    found: Services = current_app.extensions["nst"]
    return found
