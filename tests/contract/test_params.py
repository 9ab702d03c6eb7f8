"""parse_params: every field refuses values below/above its range and wrong types."""

from __future__ import annotations

from typing import Any

import pytest

from contract.errors import InvalidParams
from contract.params import JobParams, Limits, parse_params

LIMITS = Limits(max_size=1024, max_iterations=2000, max_style_images=2)

BAD_VALUES: list[tuple[str, Any]] = [
    ("size", 15),
    ("size", 1025),
    ("size", "big"),
    ("size", 256.5),
    ("size", True),
    ("iterations", 0),
    ("iterations", 2001),
    ("iterations", "many"),
    ("optimizer", "sgd"),
    ("optimizer", 3),
    ("learning_rate", 0),
    ("learning_rate", 1001),
    ("learning_rate", "fast"),
    ("content_weight", -1),
    ("content_weight", 1e13),
    ("content_weight", float("nan")),
    ("style_weight", -1),
    ("style_weight", 1e13),
    ("style_weight", "x"),
    ("tv_weight", -0.1),
    ("tv_weight", 1e13),
    ("tv_weight", float("inf")),
    ("content_layers", ()),
    ("content_layers", ("block9_conv1",)),
    ("content_layers", 5),
    ("content_layer_weights", (1.0, 2.0)),
    ("content_layer_weights", (-1.0,)),
    ("content_layer_weights", "a"),
    ("style_layers", ("block1_conv1", "block1_conv1")),
    ("style_layers", ("fc1",)),
    ("style_layer_weights", (1.0,)),
    ("style_layer_weights", (0, 0, 0, 0, 0)),
    ("style_blend", (-1.0, 2.0)),
    ("style_blend", (0.0, 0.0)),
    ("style_blend", "a,b"),
    ("init", "zeros"),
    ("init", 1),
    ("pooling", "min"),
    ("pooling", None),
    ("preserve_color", "yes"),
    ("preserve_color", True),
    ("style_scale", 0.05),
    ("style_scale", 4.5),
    ("style_scale", "double"),
    ("scales", 0),
    ("scales", 5),
    ("scales", "two"),
    ("seed", -1),
    ("seed", 2**31),
    ("seed", "lucky"),
    ("checkpoint_every", 0),
    ("checkpoint_every", 2001),
    ("checkpoint_every", "often"),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_bad_value_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_params({field: value}, LIMITS)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


def test_defaults_are_valid() -> None:
    params = parse_params({}, LIMITS)
    assert params == JobParams()


def test_text_values_from_forms_and_flags_are_converted() -> None:
    params = parse_params(
        {
            "size": "128",
            "style_layers": "block1_conv1, block2_conv1",
            "style_blend": "1,3",
            "content_weight": "2.5",
        },
        LIMITS,
    )
    assert params.size == 128 and params.content_weight == 2.5
    assert params.style_layers == ("block1_conv1", "block2_conv1")
    assert params.blend_weights(2) == (0.25, 0.75)


def test_too_many_scales_for_the_size_is_refused() -> None:
    with pytest.raises(InvalidParams, match="scales"):
        parse_params({"size": 64, "scales": 4}, LIMITS)


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(InvalidParams, match="unknown parameter") as caught:
        parse_params({"colour": "blue"}, LIMITS)
    assert caught.value.field == "colour"


@pytest.mark.parametrize(("count", "blend"), [(0, None), (3, None), (2, (1.0,))])
def test_style_count_must_fit_limits_and_blend(count: int, blend: tuple[float, ...] | None) -> None:
    with pytest.raises(InvalidParams):
        parse_params({"style_blend": blend} if blend else {}, LIMITS, style_count=count)
