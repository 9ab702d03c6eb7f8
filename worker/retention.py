"""Delete a finished job's images once NST_RESULT_TTL has passed: inputs, previews, state, result.

The sweeper's interval holder runs this (one worker per interval), so N workers do not scan N
times. Deleting objects first and marking the record after means a crash in between only
repeats a deletion; a job whose record already expired is just taken off the list.
"""

from __future__ import annotations

import logging
import time

from shared.job_store import JobStore
from shared.settings import Settings
from shared.storage import JobKeys, ObjectStorage

log = logging.getLogger(__name__)


def purge_expired(
    store: JobStore, storage: ObjectStorage, settings: Settings, now: float | None = None
) -> list[str]:
    """Delete the images of jobs that finished more than ``result_ttl`` seconds ago."""
    cutoff = (time.time() if now is None else now) - settings.result_ttl
    purged = []
    for job_id in store.finished_before(cutoff):
        storage.delete_prefix(JobKeys(job_id).prefix)
        store.mark_data_deleted(job_id)
        purged.append(job_id)
    if purged:
        log.info("deleted the images of %d finished jobs", len(purged))
    return purged
