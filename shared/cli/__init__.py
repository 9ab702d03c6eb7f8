"""The ``nst`` command line: ``nst run`` here, job-service client commands added below.

Commands import their heavy dependencies inside the function, so ``nst --help`` and the
client commands never load TensorFlow.
"""

from __future__ import annotations

import click

from shared.cli.exit_codes import OneLineUsageGroup, exit_code, fail, reports_errors
from shared.cli.run import run


@click.group(cls=OneLineUsageGroup)
def main() -> None:
    """Neural style transfer: run locally, or submit and follow jobs on the service."""


main.add_command(run)
# Client commands (submit, status, cancel, jobs, download) from shared/cli/client_commands.py:
# main.add_command(submit) ...

__all__ = ["exit_code", "fail", "main", "reports_errors"]

from shared.cli.client_commands import register  # noqa: E402 - after main exists

register(main)
