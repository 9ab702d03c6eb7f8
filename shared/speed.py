"""The workers' measured speed, read from the jobs they ran: what a time estimate goes by.

A job's time is about ``startup + iterations * size**2 * seconds per pixel-iteration``: VGG's
convolutions cost in proportion to the pixels, and the start (reading the images, the style
targets, compiling for a new shape) is paid once. Both figures are medians over the latest
succeeded jobs' records (their iterations, size and ``JobTiming``) and the running jobs'
progress, so the estimate follows the hardware the service runs on (a CPU worker is some 20
times slower than a GPU) without anything new being written by the workers. ``size**2`` (the
long side squared) stands for the pixels: the records do not keep the photo's aspect.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from contract.errors import JobNotFound
from contract.jobs import Job, JobStatus
from shared.job_store import JobStore

SAMPLE = 20  # the latest jobs measured: recent enough to be today's workers
MIN_ITERATIONS = 3  # fewer say more about the start than about the pace


@dataclass(frozen=True)
class Speed:
    """Medians over ``jobs_measured`` jobs."""

    seconds_per_megapixel_iteration: float  # one iteration over size*size pixels, per million
    startup_seconds: float  # from a worker taking a job to its first iteration, and the end
    jobs_measured: int

    def estimate_seconds(self, size: int, iterations: int) -> float:
        """Seconds a job of this size and iterations should take once a worker has it."""
        per_iteration = self.seconds_per_megapixel_iteration * size * size / 1e6
        return self.startup_seconds + iterations * per_iteration

    def as_json(self) -> dict[str, float | int]:
        return {
            "seconds_per_megapixel_iteration": round(self.seconds_per_megapixel_iteration, 3),
            "startup_seconds": round(self.startup_seconds, 1),
            "jobs_measured": self.jobs_measured,
        }


def measured_speed(store: JobStore, sample: int = SAMPLE) -> Speed | None:
    """The workers' speed from recent jobs; None before any job has run a few iterations."""
    paces: list[float] = []
    startups: list[float] = []
    for job in _recent_jobs(store, sample):
        pace = _pace(job)
        if pace is None:
            continue
        paces.append(pace)
        if job.timing is not None:
            optimizing = job.timing.optimize_seconds - job.timing.compile_seconds
            startups.append(
                max(0.0, job.timing.total_seconds - job.timing.queued_seconds - optimizing)
            )
    if not paces:
        return None
    startup = statistics.median(startups) if startups else 0.0
    return Speed(statistics.median(paces), startup, len(paces))


def _recent_jobs(store: JobStore, sample: int) -> list[Job]:
    running = []
    for job_id in store.running_ids()[:sample]:
        try:
            running.append(store.get(job_id))
        except JobNotFound:  # it ended and expired between the two reads
            continue
    finished = [j for j in store.recently_finished(sample) if j.status == JobStatus.SUCCEEDED]
    return running + finished


def _pace(job: Job) -> float | None:
    """Seconds per iteration per million (size*size) pixels, or None if the job says too little."""
    progress = job.progress
    if progress is None or progress.iteration < MIN_ITERATIONS or job.params.scales != 1:
        return None
    if job.resumed_from_iteration is not None:  # its timing covers only the last attempt
        return None
    if job.timing is not None:
        seconds = job.timing.optimize_seconds - job.timing.compile_seconds
    else:
        seconds = progress.elapsed_seconds
    if seconds <= 0:
        return None
    return seconds / progress.iteration / (job.params.size**2 / 1e6)
