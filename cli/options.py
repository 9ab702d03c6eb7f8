"""Command-line flags generated from the job schema, for ``nst run`` and ``nst submit``.

One flag per ``JobParams`` field, with its type, choices, default and range in ``--help``
(``contract/param_specs.py``). Flags default to "not given", so ``nst submit`` sends only what
the user set and the service's own defaults apply; ``parse_params`` checks what was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from contract.param_specs import ParamSpec, param_specs

PARAM_NAMES = tuple(spec.name for spec in param_specs())


def _click_type(spec: ParamSpec) -> Any:
    if spec.choices:
        return click.Choice(spec.choices)
    return {"integer": click.INT, "number": click.FLOAT}.get(spec.kind, click.STRING)


def _help(spec: ParamSpec) -> str:
    notes = []
    if spec.default is not None:
        shown = ",".join(map(str, spec.default)) if isinstance(spec.default, list) else spec.default
        notes.append(f"default: {shown}")
    if spec.range_text():
        notes.append(spec.range_text())
    if spec.kind == "list":
        notes.append("comma-separated")
    if spec.item_choices:
        notes.append("from " + ", ".join(spec.item_choices))
    return spec.description + (f" [{'; '.join(notes)}]" if notes else "")


def _metavar(spec: ParamSpec) -> str | None:
    if spec.kind == "list":
        return "A,B,..." if spec.item_kind == "string" else "X,Y,..."
    return None if spec.choices else {"integer": "INT", "number": "FLOAT"}.get(spec.kind, "TEXT")


def param_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add one option per job parameter (keyword arguments named like the fields)."""
    for spec in reversed(param_specs()):
        option = click.option(
            spec.flag,
            spec.name,
            type=_click_type(spec),
            default=None,
            metavar=_metavar(spec),
            help=_help(spec),
        )
        command = option(command)
    return command


def given(raw: dict[str, Any]) -> dict[str, Any]:
    """The parameters the user set on the command line."""
    return {name: raw[name] for name in PARAM_NAMES if raw.get(name) is not None}
