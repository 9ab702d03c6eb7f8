"""What a worker process builds once and hands to every job it runs.

Its own module so that the runner and the checkpoint writer, which both read it, need not
import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.job_store import JobStore
from shared.settings import Settings
from shared.storage import ObjectStorage
from shared.webhook_outbox import WebhookNotifier
from worker.metrics import WorkerMetrics

if TYPE_CHECKING:
    from worker.engine_protocols import Engine


@dataclass
class WorkerContext:
    """What a worker process builds once and reuses for every job."""

    settings: Settings
    store: JobStore
    storage: ObjectStorage
    engine: Engine  # worker.nst.engine.StyleTransfer, or the one NST_ENGINE names (lifecycle.py)
    worker_name: str
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    webhooks: WebhookNotifier | None = None  # queues progress events; never waits on a receiver
