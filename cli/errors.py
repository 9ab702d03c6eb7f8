"""The one place where errors become exit codes and a one-line message on stderr.

Exit statuses are read from the error classes in ``shared/errors.py`` (``exit_code``): 0
success, 1 the job failed or was cancelled, 2 a usage or input error, 3 the service cannot be
reached or cannot serve now, 130 interrupted while waiting.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from shared.errors import EXIT_JOB_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, NSTError

P = ParamSpec("P")
R = TypeVar("R")


def exit_code(exc: BaseException) -> int:
    """Return the exit status for an error a command let escape."""
    if isinstance(exc, NSTError):
        return exc.exit_code
    if isinstance(exc, ConnectionError):
        return EXIT_UNAVAILABLE
    return EXIT_JOB_FAILED


def fail(exc: BaseException) -> NoReturn:
    """Print ``nst: error: <message>`` on stderr and exit with the mapped status."""
    message = exc.message if isinstance(exc, NSTError) else str(exc)
    click.echo(f"nst: error: {message}", err=True)
    sys.exit(exit_code(exc))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so product errors end it with one line and the right exit status."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (NSTError, ConnectionError) as exc:
            fail(exc)

    return wrapper


class _UsageLine(click.ClickException):
    """A usage error shown as ``nst: error: <message>``: click's own takes three lines."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        click.echo(f"nst: error: {self.format_message()}", err=True)


@contextlib.contextmanager
def _one_line_usage() -> Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        raise _UsageLine(exc.format_message()) from None


class OneLineUsageGroup(click.Group):
    """The ``nst`` group: a bad option, argument or command in any subcommand is one line, exit 2.

    The group parses its own options in ``make_context`` and the subcommand's in ``invoke``,
    so wrapping both covers every usage error click raises.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)
