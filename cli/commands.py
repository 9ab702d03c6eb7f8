"""``nst submit | watch | status | cancel | jobs | download``: the job service from a terminal.

Built on ``client.api_client``. Job ids go to stdout (so ``ID=$(nst submit ...)`` works); progress
and messages go to stderr; ``--json`` prints the job (or jobs) as JSON on stdout instead. Exit
codes come from the error classes (``cli/errors.py``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic_core import to_jsonable_python

from cli.errors import exit_status_help, reports_errors
from cli.options import given, param_options
from client.api_client import Client, JobHandle
from contract.errors import EXIT_INTERRUPTED, ImageError, JobActive, JobConflict, JobFinished
from contract.files import write_atomically

DEFAULT_API_URL = "http://127.0.0.1:8000"


def client_command(
    name: str, summary: str, examples: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], click.Command]:
    """Declare a client command: ``--api``, ``--api-key`` and ``--json``, errors mapped.

    ``summary`` is the line ``nst --help`` lists (whole, never cut with "..."); ``examples``
    and the exit statuses end the command's own ``--help``.
    """
    lines = "\n".join(f"  {example}" for example in examples)
    epilog = (f"\b\nExamples:\n{lines}\n\n" if examples else "") + exit_status_help()

    def decorate(function: Callable[..., Any]) -> click.Command:
        wrapped = reports_errors(function)
        wrapped = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(
            wrapped
        )
        wrapped = click.option(
            "--api-key", envvar="NST_API_KEY", default=None, help="API key (or NST_API_KEY)."
        )(wrapped)
        wrapped = click.option(
            "--api",
            "api_url",
            envvar="NST_API_URL",
            default=DEFAULT_API_URL,
            show_default=True,
            help="Service URL, e.g. 127.0.0.1:8000 (or NST_API_URL).",
        )(wrapped)
        return click.command(name, short_help=summary, epilog=epilog)(wrapped)

    return decorate


def _echo_json(data: Any) -> None:
    """Models (the typed answers) as the JSON the service sent, indented."""
    click.echo(json.dumps(to_jsonable_python(data), indent=2))


@client_command(
    "submit",
    "Submit a photo and paintings; print the job id.",
    (
        "nst submit photo.jpg starry.jpg                  # prints the job id",
        "nst submit photo.jpg --preset starry_night --size 256 --wait -o out.png",
        "ID=$(nst submit photo.jpg a.jpg b.jpg --style-blend 0.7,0.3)",
    ),
)
@click.argument("content", type=click.Path(dir_okay=False))
@click.argument("styles", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--preset",
    "presets",
    multiple=True,
    metavar="ID",
    help="A built-in painting instead of (or besides) STYLE files; repeatable.",
)
@click.option("--webhook-url", default=None, help="POST signed job events to this URL.")
@click.option(
    "--webhook-events",
    default=None,
    metavar="progress,completed",
    help="Which events the webhook gets [default: completed].",
)
@click.option("--wait", is_flag=True, help="Show progress until the job ends, then download.")
@click.option("-o", "--output", default=None, help="Where --wait writes the PNG result.")
@click.option("--poll-interval", type=float, default=1.0, show_default=True, hidden=True)
@param_options
def submit(
    api_url: str,
    api_key: str | None,
    as_json: bool,
    content: str,
    styles: tuple[str, ...],
    presets: tuple[str, ...],
    webhook_url: str | None,
    webhook_events: str | None,
    wait: bool,
    output: str | None,
    poll_interval: float,
    **raw_params: Any,
) -> None:
    """Submit CONTENT with STYLE images and/or --preset paintings; print the job id."""
    if not styles and not presets:
        raise click.UsageError("give at least one STYLE image or --preset")
    target = _checked_output(output) if wait else None
    job = Client(api_url, api_key).submit(
        content,
        list(styles),
        style_preset=",".join(presets) or None,
        webhook_url=webhook_url,
        webhook_events=webhook_events,
        **given(raw_params),
    )
    if not wait:
        _echo_json(job.resource) if as_json else click.echo(job.id)
        return
    if not as_json:
        click.echo(job.id)
    _follow(job, target or Path(f"nst-{job.id}.png"), poll_interval, as_json)


@client_command(
    "watch", "Follow a job until it ends, then download it.", ("nst watch JOB_ID -o out.png",)
)
@click.argument("job_id")
@click.option("-o", "--output", default=None, help="Where to write the PNG result.")
@click.option("--poll-interval", type=float, default=1.0, show_default=True, hidden=True)
def watch(
    api_url: str,
    api_key: str | None,
    as_json: bool,
    job_id: str,
    output: str | None,
    poll_interval: float,
) -> None:
    """Follow a job with a progress bar until it ends, then download its result."""
    target = _checked_output(output)
    job = Client(api_url, api_key).job(job_id)
    _follow(job, target or Path(f"nst-{job.id}.png"), poll_interval, as_json)


def _checked_output(output: str | None) -> Path | None:
    """Refuse an output folder that does not exist before waiting, not after."""
    if output is None:
        return None
    path = Path(output)
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise ImageError(f"cannot write {path}: the folder {path.parent} does not exist")
    return path


def _follow(job: JobHandle, output: Path, poll_interval: float, as_json: bool) -> None:
    """Show progress until the job ends; download a result, or exit 1 without one."""
    try:
        with _ProgressBar() if sys.stderr.isatty() else _StateLines() as shown:
            job.wait(progress=shown.update, poll_interval=poll_interval)
    except KeyboardInterrupt:
        click.echo(
            f"\nStopped watching; job {job.id} keeps running. Re-attach with: nst watch {job.id}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if as_json:
        _echo_json(job.resource)
    progress = job.progress
    if progress is not None and progress.stopped_early:
        click.echo(
            f"stopped early at iteration {progress.iteration} of {progress.total}: the picture "
            f"had settled ({progress.iterations_saved} iterations saved; --early-stop 0 runs all)",
            err=True,
        )
    _write_atomically(output, job.result_bytes())
    click.echo(f"saved {output}", err=True)


class _ProgressBar:
    """A tqdm bar on stderr (a terminal): iterations, the latest losses and tqdm's own ETA.

    Made at the first update, from the job as it is then: a job that already ended gets its
    one summary line and no bar (a bar would show "queued", then a rate from all its iterations
    over no time). The rate counts from the first progress seen, so re-attaching mid-run shows
    the speed of this run, not of iterations done before it.
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.counting = False

    def update(self, job: JobHandle) -> None:
        if self.bar is None and job.is_final:
            click.echo(_state_line(job), err=True)
            return
        if self.bar is None:
            from tqdm import tqdm

            # Until the first progress there is nothing to count: the state and the time
            # waited, not tqdm's "0it [00:05, ?it/s]".
            self.bar = tqdm(
                total=None,
                unit="it",
                file=sys.stderr,
                dynamic_ncols=True,
                desc=_state_text(job),
                bar_format="{desc} [{elapsed}]",
            )
        self.bar.set_description_str(_state_text(job))  # set_description would add ": "
        progress = job.progress
        if progress is None:
            self.bar.refresh()
            return
        if not self.counting:  # tqdm's own bar from now on, its rate from this iteration
            self.counting = True
            self.bar.bar_format = None
            self.bar.initial = self.bar.last_print_n = progress.iteration
            self.bar.start_t = self.bar.last_print_t = self.bar._time()
        self.bar.total = progress.total
        self.bar.n = progress.iteration
        if progress.losses is not None:
            losses = progress.losses
            self.bar.set_postfix(content=f"{losses.content:.3g}", style=f"{losses.style:.3g}")
        self.bar.refresh()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


class _StateLines:
    """Progress when stderr is not a terminal (a log, CI, a pipe): one plain line per change.

    No ``\r`` redraws and no repeats: a line when the state (or the queue place) changes, and
    the ending with how far the job got.
    """

    def __init__(self) -> None:
        self.last: str | None = None

    def update(self, job: JobHandle) -> None:
        text = _state_line(job) if job.is_final else _state_text(job)
        if text != self.last:
            click.echo(text, err=True)
            self.last = text

    def __enter__(self) -> _StateLines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _state_text(job: JobHandle) -> str:
    """The state as a person reads it, with the queue place while queued."""
    position = job.resource.queue_position
    if job.status == "queued" and position:
        return f"queued, number {position} in the queue"
    return _status_word(job)


def _state_line(job: JobHandle) -> str:
    """A job's ending in one line: ``succeeded at iteration 40 of 40``."""
    progress = job.progress
    if progress is None:
        return job.status
    return f"{job.status} at iteration {progress.iteration} of {progress.total}"


def _status_word(job: JobHandle) -> str:
    """The status a person should see: ``cancelling`` while a cancel is pending."""
    if job.resource.cancel_requested and not job.is_final:
        return "cancelling"
    return job.status


def _write_atomically(path: Path, data: bytes) -> None:
    """Write the download whole or not at all; a failure is the user's ImageError, one line."""
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror}") from None


@client_command(
    "status",
    "Show one job: state, progress, time left.",
    (
        "nst status JOB_ID",
        "nst status JOB_ID --json",
    ),
)
@click.argument("job_id")
def status(api_url: str, api_key: str | None, as_json: bool, job_id: str) -> None:
    """Show one job: state, progress, time left, error."""
    job = Client(api_url, api_key).job(job_id)
    if as_json:
        _echo_json(job.resource)
        return
    click.echo(f"{job.id}  {_status_word(job)}  {_progress_text(job)}".rstrip())
    if job.error:
        click.echo(f"error: {job.error.message}")


def _progress_text(job: JobHandle) -> str:
    progress = job.progress
    if progress is None:
        return ""
    text = f"{progress.iteration}/{progress.total} ({progress.percent:.0f}%)"
    if not job.is_final and progress.eta_seconds is not None:
        text += f"  about {progress.eta_seconds:.0f}s left"
    return text


@client_command("cancel", "Stop a queued or running job (never deletes).", ("nst cancel JOB_ID",))
@click.argument("job_id")
def cancel(api_url: str, api_key: str | None, as_json: bool, job_id: str) -> None:
    """Cancel a job: a queued one never runs, a running one stops at its next checkpoint.

    Never deletes anything: a job that already succeeded or failed keeps its picture (exit 2,
    nothing changed); cancelling a cancelled job again is fine (exit 0).
    """
    try:
        job = Client(api_url, api_key).cancel(job_id)
    except JobFinished as exc:
        raise JobFinished(
            f"{exc.message.partition(';')[0]}: nothing was cancelled or deleted "
            f"(nst status {job_id} shows it; nst delete {job_id} deletes its images)"
        ) from None
    if as_json:
        _echo_json(job.resource)
    elif job.status == "cancelled":
        click.echo(f"{job.id}  cancelled")
    else:
        click.echo(f"{job.id}  cancelling: it stops at its next checkpoint")


@client_command("delete", "Delete a finished job's images now.", ("nst delete JOB_ID",))
@click.argument("job_id")
def delete(api_url: str, api_key: str | None, as_json: bool, job_id: str) -> None:
    """Delete a finished job's images now (photo, paintings, previews, result).

    Never cancels: a queued or running job is refused (exit 2); nst cancel it first.
    """
    try:
        job = Client(api_url, api_key).delete_images(job_id)
    except JobActive as exc:
        raise JobActive(
            f"{exc.message.partition(':')[0]}: cancel it first (nst cancel {job_id}), "
            "then delete it once it has ended"
        ) from None
    if as_json:
        _echo_json(job.resource)
    else:
        click.echo(f"{job.id}  images deleted")


@client_command(
    "jobs",
    "List your jobs, newest first.",
    (
        "nst jobs --status running",
        "nst jobs --limit 5 --cursor CURSOR   # the next page, as printed",
    ),
)
@click.option(
    "--status",
    "status_filter",
    default=None,
    type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled"]),
    help="Only jobs in this state.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 100),
    default=20,
    show_default=True,
    help="At most this many jobs.",
)
@click.option(
    "--cursor",
    default=None,
    metavar="CURSOR",
    help="Start after the previous page (the command it prints says which).",
)
@click.option("--page", type=int, default=None, hidden=True)  # gone: says what replaced it
def jobs(
    api_url: str,
    api_key: str | None,
    as_json: bool,
    status_filter: str | None,
    limit: int,
    cursor: str | None,
    page: int | None,
) -> None:
    """List your jobs as a table, newest first, with local times.

    When there are more, the command for the next page is printed on stderr; jobs submitted
    meanwhile never repeat one. ``--json`` prints the list alone.
    """
    if page is not None:
        raise click.UsageError(
            "--page is gone: jobs created between pages made pages repeat jobs; each page now "
            "ends with the command for the next one (--cursor)"
        )
    found = Client(api_url, api_key).jobs(status_filter, limit, cursor)
    if as_json:
        _echo_json([job.resource for job in found])
        _next_page_hint(found.next_cursor, status_filter, limit)
        return
    if not found:
        which = f"{status_filter} " if status_filter else ""
        click.echo(f"No {'more ' if cursor else ''}{which}jobs.")
        return
    rows = [(job.id, _status_word(job), _progress_text(job), _local_time(job)) for job in found]
    header = ("ID", "STATUS", "PROGRESS", "CREATED")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    _next_page_hint(found.next_cursor, status_filter, limit)


def _next_page_hint(cursor: str | None, status_filter: str | None, limit: int) -> None:
    """On stderr, the whole command for the next page (same filter and limit), if there is one."""
    if cursor is None:
        return
    status_flag = f" --status {status_filter}" if status_filter else ""
    click.echo(f"more: nst jobs{status_flag} --limit {limit} --cursor {cursor}", err=True)


def _local_time(job: JobHandle) -> str:
    return job.resource.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


@client_command(
    "download", "Download a finished job's PNG result.", ("nst download JOB_ID -o out.png",)
)
@click.argument("job_id")
@click.option("-o", "--output", default=None, help="Where to write the PNG result.")
def download(
    api_url: str, api_key: str | None, as_json: bool, job_id: str, output: str | None
) -> None:
    """Download a finished job's result as PNG."""
    target = _checked_output(output)
    job = Client(api_url, api_key).job(job_id)
    path = target or Path(f"nst-{job.id}.png")
    try:
        _write_atomically(path, job.result_bytes())
    except JobConflict as exc:
        raise JobConflict(f"{exc.message}; follow it with: nst watch {job.id}") from None
    if as_json:
        _echo_json({"id": job.id, "path": str(path)})
    click.echo(f"saved {path}", err=True)


CLIENT_COMMANDS = (submit, watch, status, cancel, delete, jobs, download)
