"""The ``nst`` command line: ``nst run`` here, and the job service's client commands.

Commands import their heavy dependencies inside the function, so ``nst --help`` and the
client commands never load TensorFlow, and a client-only install needs none of it.
"""

from __future__ import annotations

import click

from cli.commands import CLIENT_COMMANDS
from cli.errors import OneLineUsageGroup
from cli.run import run


@click.group(cls=OneLineUsageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nst-service", prog_name="nst")
def main() -> None:
    """Neural style transfer: run locally, or submit and follow jobs on the service."""


for command in (run, *CLIENT_COMMANDS):
    main.add_command(command)
