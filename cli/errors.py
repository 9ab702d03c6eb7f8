"""The one place where errors become exit codes and a one-line message on stderr.

Exit statuses are read from the error classes in ``contract/errors.py`` (``exit_code``); the
table every ``--help`` shows (``EXIT_STATUSES``) is made from the same constants.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from contract.errors import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_NOT_SERVICE,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    NSTError,
)

P = ParamSpec("P")
R = TypeVar("R")

EXIT_STATUSES = (
    (EXIT_OK, "success"),
    (EXIT_JOB_FAILED, "the job failed or was cancelled"),
    (EXIT_USAGE, "a usage or input error: one line 'nst: error: ...' on stderr"),
    (EXIT_UNAVAILABLE, "the service cannot be reached or cannot serve now: try again later"),
    (EXIT_NOT_SERVICE, "the URL answers, but not as this service: check --api / NST_API_URL"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C) while waiting: the job keeps running"),
)


def exit_status_help() -> str:
    """The exit status table of ``--help`` (``\b`` keeps click from re-wrapping it)."""
    rows = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_STATUSES)
    return f"\b\nExit status:\n{rows}"


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
    except click.exceptions.NoArgsIsHelpError as exc:
        # Bare ``nst`` asks what there is: the help on stdout and success, not an error.
        click.echo(exc.ctx.get_help())
        sys.exit(EXIT_OK)
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
