"""A child process with its output kept in a log file, always reaped.

Every server a test or a benchmark starts goes through here, so each one: runs from the
repository root; writes stdout and stderr to a log the failure message can quote; gets a
process group of its own, so stopping it stops its children too (gunicorn's workers, Celery's
pool); and is stopped when its ``with`` block ends, whatever happened inside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from harness.waits import NeverHappened, wait_for

REPO = Path(__file__).resolve().parents[1]
TAIL_CHARS = 3000


class Process:
    """One started command: ``proc`` (the Popen), ``log_path`` (its output), stop and kill;
    ``url`` is where a server answers (empty for anything else).

    Usable as a context manager (stopped on exit) or stopped by hand; stopping twice is
    harmless, so a test may stop it early and a fixture still stop it at teardown.
    """

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str],
        log_path: Path,
        *,
        append: bool = False,
        cwd: Path = REPO,
        url: str = "",
    ) -> None:
        self.args = list(args)
        self.url = url
        self.log_path = log_path
        with open(log_path, "ab" if append else "wb") as out:
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                self.args,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        """The port of ``url`` (for raw sockets); only for a server."""
        port = urlsplit(self.url).port
        assert port is not None, f"{self.args[0]} has no URL with a port"
        return port

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything the process wrote so far (undecodable bytes replaced)."""
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = TAIL_CHARS) -> str:
        """The end of the output, for failure messages."""
        return self.output()[-chars:]

    def wait_until(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        """Wait for condition while the process lives; fail at once, quoting its log, if it
        exits first, and quote the log too if the condition never holds."""

        def holds_or_exited() -> bool:
            return bool(condition()) or not self.alive()

        try:
            wait_for(holds_or_exited, timeout, what)
        except NeverHappened as timed_out:
            raise NeverHappened(f"{timed_out}; {self.args[0]} log:\n{self.tail()}") from None
        if not self.alive():
            raise NeverHappened(
                f"{self.args[0]} exited with {self.proc.returncode} before {what}:\n{self.tail()}"
            )

    def stop(self, timeout: float = 60, *, group: bool = True) -> int:
        """SIGTERM the process group (a clean shutdown), SIGKILL the group if it outlives
        timeout; return the exit status.

        ``group=False`` sends the SIGTERM to the top process only, for a parent that shuts its
        children down in its own order (Celery's warm shutdown lets the pool finish its task).
        """
        if self.alive():
            if group:
                self._signal_group(signal.SIGTERM)
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash or a lost machine would."""
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def _signal_group(self, sig: signal.Signals) -> None:
        with suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.proc.pid, sig)

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def process(args: Sequence[str], env: dict[str, str], log: Path) -> Iterator[Process]:
    """Run args for the block's duration, output appended to log; stopped afterwards."""
    with Process(args, env, log, append=True) as started:
        yield started
