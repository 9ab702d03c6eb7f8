"""``nst submit | status | cancel | jobs | download``: the job service from a terminal.

Built on ``shared.client``. Job ids go to stdout (so ``ID=$(nst submit ...)`` works); progress
and messages go to stderr. Exit codes follow ``shared.cli.exit_codes`` with the cases it lacks
added in ``client_exit_code``: 3 when the service cannot be reached or cannot serve, 2 for a bad
key or an unknown job, 1 when the job failed or was cancelled.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from shared.cli.exit_codes import EXIT_UNREACHABLE, EXIT_USAGE, exit_code
from shared.cli.run import PARAM_OPTIONS
from shared.client import Client, Job, QueueUnavailable, ServiceUnreachable, Unauthorized
from shared.errors import ImageError, JobConflict, JobNotFound, NSTError, StorageUnavailable
from shared.files import write_atomically
from shared.params import JobParams

P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_API_URL = "http://127.0.0.1:8000"
EXIT_INTERRUPTED = 130


def client_exit_code(exc: BaseException) -> int:
    """The exit status for a client error; cases the shared mapping lacks are decided here."""
    if isinstance(exc, ServiceUnreachable | StorageUnavailable | QueueUnavailable):
        return EXIT_UNREACHABLE
    if isinstance(exc, Unauthorized | JobNotFound | JobConflict):
        return EXIT_USAGE
    return exit_code(exc)


def reports_client_errors(command: Callable[P, R]) -> Callable[P, R]:
    """End a command on a product error with one ``nst: error:`` line and its exit status."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except NSTError as exc:
            click.echo(f"nst: error: {exc.message}", err=True)
            sys.exit(client_exit_code(exc))

    return wrapper


def api_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--api`` and ``--api-key``, taken from NST_API_URL / NST_API_KEY when not given."""
    command = click.option(
        "--api-key", envvar="NST_API_KEY", default=None, help="API key (or NST_API_KEY)."
    )(command)
    return click.option(
        "--api",
        "api_url",
        envvar="NST_API_URL",
        default=DEFAULT_API_URL,
        show_default=True,
        help="Service URL (or NST_API_URL).",
    )(command)


def param_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One text option per job parameter, the same names as ``nst run``; the service checks them."""
    for name in reversed(PARAM_OPTIONS):
        description = JobParams.model_fields[name].description or f"Job parameter {name}."
        flag = "--" + name.replace("_", "-")
        command = click.option(flag, name, default=None, help=description)(command)
    return command


def client_command(name: str) -> Callable[[Callable[..., Any]], click.Command]:
    """Declare a client command: API options, mapped exit codes."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        wrapped = api_options(reports_client_errors(function))
        return click.command(name)(wrapped)

    return decorate


@client_command("submit")
@click.argument("content", type=click.Path(dir_okay=False))
@click.argument("styles", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--wait", is_flag=True, help="Show progress until the job ends, then download.")
@click.option("-o", "--output", default=None, help="Where --wait writes the PNG result.")
@click.option("--poll-interval", type=float, default=1.0, show_default=True, hidden=True)
@param_options
def submit(
    api_url: str,
    api_key: str | None,
    content: str,
    styles: tuple[str, ...],
    wait: bool,
    output: str | None,
    poll_interval: float,
    **raw_params: str | None,
) -> None:
    """Submit CONTENT with one or more STYLE images; print the job id."""
    job = Client(api_url, api_key).submit(content, list(styles), **raw_params)
    click.echo(job.id)
    if wait:
        _follow(job, Path(output or f"nst-{job.id}.png"), poll_interval)


def _follow(job: Job, output: Path, poll_interval: float) -> None:
    """Show a progress bar until the job ends; download a result, or exit 1 without one."""
    try:
        with _ProgressBar() as bar:
            job.wait(progress=bar.update, poll_interval=poll_interval)
    except KeyboardInterrupt:
        click.echo(
            f"\nStopped waiting; job {job.id} keeps running. Follow it with: nst status {job.id}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    _write_atomically(output, job.result_bytes())
    click.echo(f"saved {output}", err=True)


class _ProgressBar:
    """A tqdm bar on stderr: iterations, the latest losses and tqdm's own ETA."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=None, unit="it", desc="queued", file=sys.stderr, dynamic_ncols=True)

    def update(self, job: Job) -> None:
        self.bar.set_description_str(job.status)  # set_description would add a second ": "
        progress = job.progress
        if progress is None:
            return
        self.bar.total = progress.total
        self.bar.n = progress.iteration
        if progress.losses is not None:
            losses = progress.losses
            self.bar.set_postfix(content=f"{losses.content:.3g}", style=f"{losses.style:.3g}")
        self.bar.refresh()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write the download whole or not at all; a failure is the user's ImageError, one line."""
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror}") from None


@client_command("status")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
def status(api_url: str, api_key: str | None, job_id: str, as_json: bool) -> None:
    """Show one job: state, progress, time left, error."""
    job = Client(api_url, api_key).job(job_id)
    if as_json:
        import json

        click.echo(json.dumps(job.data, indent=2))
        return
    click.echo(f"{job.id}  {job.status}  {_progress_text(job)}".rstrip())
    if job.error:
        click.echo(f"error: {job.error['message']}")


def _progress_text(job: Job) -> str:
    progress = job.progress
    if progress is None:
        return ""
    text = f"{progress.iteration}/{progress.total} ({progress.percent:.0f}%)"
    if not job.is_final and progress.eta_seconds is not None:
        text += f"  about {progress.eta_seconds:.0f}s left"
    return text


@client_command("cancel")
@click.argument("job_id")
def cancel(api_url: str, api_key: str | None, job_id: str) -> None:
    """Cancel a job: a queued one never runs, a running one stops at its next checkpoint."""
    job = Client(api_url, api_key).job(job_id).cancel()
    if job.status == "cancelled":
        click.echo(f"{job.id}  cancelled")
    else:
        click.echo(f"{job.id}  cancel requested; it stops at its next checkpoint")


@client_command("jobs")
@click.option("--status", "status_filter", default=None, help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
def jobs(api_url: str, api_key: str | None, status_filter: str | None, limit: int) -> None:
    """List your most recent jobs as a table, newest first."""
    rows = [
        (job.id, job.status, _progress_text(job), str(job.data.get("created_at") or ""))
        for job in Client(api_url, api_key).jobs(status=status_filter, limit=limit)
    ]
    header = ("ID", "STATUS", "PROGRESS", "CREATED")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        )


@client_command("download")
@click.argument("job_id")
@click.option("-o", "--output", default=None, help="Where to write the PNG result.")
def download(api_url: str, api_key: str | None, job_id: str, output: str | None) -> None:
    """Download a finished job's result as PNG."""
    job = Client(api_url, api_key).job(job_id)
    path = Path(output or f"nst-{job.id}.png")
    _write_atomically(path, job.result_bytes())
    click.echo(f"saved {path}", err=True)


CLIENT_COMMANDS = (submit, status, cancel, jobs, download)


def register(group: click.Group) -> None:
    """Add the client commands to the ``nst`` group."""
    for command in CLIENT_COMMANDS:
        group.add_command(command)
