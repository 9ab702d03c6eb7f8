"""Requeue jobs whose worker vanished (no heartbeat), at most a few times; end cancelled ones.

A worker killed outright (SIGKILL of the whole container, a lost node) leaves its
message unacknowledged in Redis until the visibility timeout, which is longer
than a job. The sweeper notices sooner, from the heartbeat in the job record,
and puts the job back; the compare-and-set in ``JobStore.requeue`` means that of
several workers sweeping at once only one requeues a given job, and ``JobStore.claim_sweep``
lets only one of them scan per interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from contract.errors import WorkerLost
from contract.jobs import JobFailure, JobStatus
from shared.job_store import JobStore
from shared.settings import Settings

log = logging.getLogger(__name__)


def sweep_once(store: JobStore, settings: Settings, enqueue: Callable[[str], None]) -> list[str]:
    """Requeue or fail each stale running job; return the ids that were requeued."""
    requeued = []
    for job in store.stale_running(settings.stale_after_seconds):
        if job.cancel_requested:  # its owner wanted it stopped; nobody will stop it now
            store.finish(job.id, JobStatus.CANCELLED)
            continue
        lost = job.lost_runs + 1  # this run too
        if lost > settings.max_redeliveries:
            failure = JobFailure(
                code=WorkerLost.code,
                message=f"the job's worker stopped responding {lost} times; giving up",
            )
            store.finish(job.id, JobStatus.FAILED, failure)
            continue
        if store.requeue(job.id, job.worker, lost=True) is not None:
            enqueue(job.id)
            requeued.append(job.id)
            log.warning("requeued job %s: no heartbeat from %s", job.id, job.worker)
    return requeued


def sweep_forever(
    store: JobStore,
    settings: Settings,
    enqueue: Callable[[str], None],
    stop: threading.Event | None = None,
    housekeeping: Callable[[], object] | None = None,
) -> None:
    """Sweep once per interval across all workers until stop is set; errors are never fatal.

    Each worker wakes every interval, and the one that claims the interval sweeps: with a scan
    per worker, N workers cost N scans of every running job per interval (benchmarks/README.md,
    "Scale-out"). The claim lasts 90 % of an interval, so the next interval's first waker wins.
    """
    stop = stop or threading.Event()
    interval = max(settings.heartbeat_seconds, 1.0)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    while not stop.wait(interval):
        try:
            if store.claim_sweep(holder, 0.9 * interval):
                sweep_once(store, settings, enqueue)
                if housekeeping is not None:  # the retention purge, by the same one worker
                    housekeeping()
        except Exception:
            log.exception("sweep failed")
