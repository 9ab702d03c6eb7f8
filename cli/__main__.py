"""``python -m cli``: the same as the ``nst`` command."""

from cli import main

main()
