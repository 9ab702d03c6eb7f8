"""The job parameters as flat specs, read from ``JobParams``' JSON schema, for generators.

The CLI's flags (``cli/options.py``), the OpenAPI document's form fields (``api/openapi.py``)
and the web form's ranges (``/v1/meta``) are generated from these, so a parameter added to
``JobParams`` appears everywhere with its type, range, choices and default. Deployment limits
(largest size, most iterations) are laid over the schema's own bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from contract.params import JobParams, Limits

Kind = Literal["integer", "number", "string", "list"]


def _unset(value: Any) -> bool:
    return value is None or value is False


# Left out of the JSON (``/v1/meta``) when it says nothing: no bound, no choices, not exclusive.
_Optional = Field(exclude_if=_unset)


@dataclass(frozen=True)
class ParamSpec:
    """One job parameter: what a form field or a flag needs to know about it.

    A plain dataclass, which ``contract.resources.Meta`` serves as is: pydantic reads the
    ``Annotated`` fields, and ``exclude_if`` leaves out what is unset.
    """

    name: str
    kind: Kind
    description: str
    default: Annotated[Any, _Optional] = None
    minimum: Annotated[int | float | None, _Optional] = None  # int stays int on the wire
    maximum: Annotated[int | float | None, _Optional] = None
    exclusive_minimum: Annotated[bool, _Optional] = False
    choices: Annotated[tuple[str, ...] | None, _Optional] = None
    # Words for each choice, in the same order, where a form shows more than the value.
    choice_labels: Annotated[tuple[str, ...] | None, _Optional] = None
    item_kind: Annotated[str | None, _Optional] = None  # for lists: "string" or "number"
    item_choices: Annotated[tuple[str, ...] | None, _Optional] = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def range_text(self) -> str:
        """The accepted range in words, for help texts: ``16 <= x <= 1024``."""
        low, high = "", ""
        if self.minimum is not None:
            low = f"{_number(self.minimum)} {'<' if self.exclusive_minimum else '<='} "
        if self.maximum is not None:
            high = f" <= {_number(self.maximum)}"
        return f"{low}x{high}" if low or high else ""


def param_specs(limits: Limits | None = None) -> list[ParamSpec]:
    """Every JobParams field in declaration order, with limits applied when given."""
    schema = JobParams.model_json_schema()["properties"]
    specs = [_spec(name, prop) for name, prop in schema.items()]
    if limits is None:
        return specs
    bound = {
        "size": limits.max_size,
        "iterations": limits.max_iterations,
        "checkpoint_every": limits.max_iterations,
    }
    return [
        ParamSpec(**{**spec.__dict__, "maximum": bound[spec.name]}) if spec.name in bound else spec
        for spec in specs
    ]


def _spec(name: str, prop: dict[str, Any]) -> ParamSpec:
    typed = next((p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"), prop)
    kind: Kind = "list" if typed.get("type") == "array" else typed.get("type", "string")
    items = typed.get("items", {})
    minimum = typed.get("minimum", typed.get("exclusiveMinimum"))
    return ParamSpec(
        name=name,
        kind=kind,
        description=prop.get("description", name),
        default=prop.get("x-effective-default", prop.get("default")),
        minimum=minimum,
        maximum=typed.get("maximum"),
        exclusive_minimum="exclusiveMinimum" in typed,
        choices=tuple(typed["enum"]) if "enum" in typed else None,
        choice_labels=tuple(prop["x-choice-labels"]) if "x-choice-labels" in prop else None,
        item_kind=items.get("type") if kind == "list" else None,
        item_choices=tuple(items["enum"]) if "enum" in items else None,
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"
