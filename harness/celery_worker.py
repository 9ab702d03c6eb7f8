"""Real ``celery worker`` processes, as docker-compose runs them, one pool process each.

Eager mode is not a test of a worker (Celery's testing guide): these are the real command, on
the real broker, with the real prefork pool, so a kill, an outage or a restart means what it
would mean in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.processes import Process

GPU_APP = "worker.main:app"
WEBHOOK_APP = "worker.webhooks.consumer:app"
READY = "ready."  # what Celery logs once it consumes (after the worker_ready signal)


class CeleryWorker(Process):
    """``celery -A app worker`` on one queue; ``name`` is its Celery hostname (``x@node``).

    Not waited for at creation: a test of a worker that must refuse to start reads its exit
    status instead; everyone else calls ``wait_ready``.
    """

    def __init__(
        self,
        env: dict[str, str],
        name: str,
        log_path: Path,
        *,
        queue: str,
        app: str = GPU_APP,
        concurrency: int = 1,
        heartbeat: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.name = name if "@" in name else f"{name}@{os.uname().nodename}"
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "--queues",
            queue,
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--hostname",
            self.name,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
            *([] if heartbeat else ["--without-heartbeat"]),
            *extra_args,
        ]
        super().__init__(args, {**env, "PYTHONUNBUFFERED": "1"}, log_path)

    def wait_ready(self, timeout: float = 300) -> CeleryWorker:
        """Return once the worker consumes; fail quoting its log if it exits first.

        The timeout is generous on purpose: a worker loads TensorFlow and VGG19 first, which
        takes seconds on a quiet machine and far longer on a loaded one.
        """
        self.wait_until(lambda: READY in self.output(), timeout, f"worker {self.name} ready")
        return self

    def child_pids(self) -> list[int]:
        """The pool processes (the ones that run jobs)."""
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def discard(self) -> None:
        """End it at once (SIGKILL to the group, reaped), when how it ends proves nothing:
        a test's teardown. A warm shutdown waits for the pool to finish loading the engine or
        its job; measured at 3 to 10 s per worker on this machine."""
        if self.alive():
            self.kill()

    def stop(self, timeout: float = 60, *, group: bool = False) -> int:
        """Warm shutdown (SIGTERM to the parent only: the pool finishes its task first), then
        SIGKILL to the whole group after timeout."""
        return super().stop(timeout, group=group)
