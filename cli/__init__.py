"""The ``nst`` command line: ``nst run`` here, and the job service's client commands.

Commands import their heavy dependencies inside the function, so ``nst --help`` and the
client commands never load TensorFlow, and a client-only install needs none of it.
"""

from __future__ import annotations

import click

from cli.commands import CLIENT_COMMANDS
from cli.errors import OneLineUsageGroup, exit_status_help
from cli.run import run

EXAMPLES = """\b
Examples:
  nst submit photo.jpg starry.jpg --size 256 --wait -o out.png
  nst submit photo.jpg --preset starry_night        # prints the job id
  nst watch JOB_ID -o out.png                       # follow it, then download
  nst jobs --status running
  nst cancel JOB_ID
  nst run photo.jpg starry.jpg -o out.png           # no service: on this machine

\b
The client commands talk to NST_API_URL (default http://127.0.0.1:8000) with NST_API_KEY.
'nst COMMAND -h' shows a command's options."""


@click.group(
    cls=OneLineUsageGroup,
    epilog=f"{EXAMPLES}\n\n{exit_status_help()}",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="nst-service", prog_name="nst")
def main() -> None:
    """Neural style transfer: run locally, or submit and follow jobs on the service."""


for command in (run, *CLIENT_COMMANDS):
    main.add_command(command)
