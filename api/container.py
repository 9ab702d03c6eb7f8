"""The objects a request needs (settings, job store, storage, queue), built once per app."""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from celery import Celery
from flask import current_app

from api.deadlines import gevent_active
from api.job_watch import JobWatcher
from api.keys import KeyRing
from api.stream_slots import StreamSlots
from contract.params import Limits
from shared.job_store import JobStore
from shared.presets import PresetCatalog
from shared.queue import make_producer
from shared.redis_client import client_for
from shared.settings import Settings
from shared.storage import ObjectStorage, open_storage
from shared.webhook_outbox import WebhookNotifier


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: JobStore
    storage: ObjectStorage
    queue: Celery
    keys: KeyRing
    limits: Limits
    watcher: JobWatcher  # wakes event streams and long polls when a job changes
    slots: StreamSlots  # each key's cap on open event streams and long polls
    presets: PresetCatalog  # built-in styles
    pool: Executor  # storage calls: greenlets under gevent, threads otherwise
    cpu_pool: Executor  # image decoding: always OS threads (Pillow releases the GIL)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """Connect lazily: building the app must work while Redis or storage is still down."""
        client = client_for(settings, patient=False)
        queue = make_producer(settings)
        store = JobStore(  # a job cancelled while queued ends here: its webhook is queued too
            client,
            settings.key_prefix,
            settings.job_ttl_seconds,
            on_final=WebhookNotifier(queue).job_finished,
        )
        return cls(
            settings=settings,
            store=store,
            storage=open_storage(settings, patient=False),
            queue=queue,
            keys=KeyRing.from_settings(settings),
            limits=settings.limits,
            presets=PresetCatalog(settings.presets_dir, settings.presets),
            watcher=JobWatcher(client_for(settings, patient=True), store.events_pattern()),
            slots=StreamSlots(client, settings.key_prefix, settings.max_streams_per_key),
            pool=ThreadPoolExecutor(max_workers=8, thread_name_prefix="nst-io"),
            cpu_pool=_cpu_pool(),
        )


def _cpu_pool() -> Executor:
    """Real threads for CPU work; under gevent a patched thread would block every greenlet."""
    if gevent_active():
        from gevent.threadpool import ThreadPoolExecutor as RealThreads

        return RealThreads(max_workers=4)
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="nst-cpu")


def services() -> Services:
    """The current app's services."""
    found: Services = current_app.extensions["nst"]
    return found
