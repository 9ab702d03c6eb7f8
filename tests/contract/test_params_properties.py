"""The parameter schema over arbitrary input: params within bounds, or InvalidParams, never else."""

from __future__ import annotations

import math
from typing import Any

import annotated_types as at
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import InvalidParams
from contract.params import VGG19_CONV_LAYERS, JobParams, Limits, parse_params

LIMITS = Limits(max_size=1024, max_iterations=2000, max_style_images=4)
FIELD_NAMES = tuple(JobParams.model_fields)
LIMITED_BY = {
    "size": LIMITS.max_size,
    "iterations": LIMITS.max_iterations,
    "checkpoint_every": LIMITS.max_iterations,
}
WORDS = ("lbfgs", "adam", "sgd", "content", "noise", "avg", "max", "luminance", "histogram")
EXTREMES = (0, -1, 1, 2**31, 2**63, 10**400, -(10**400), 1e308, 5e-324, -0.0)

numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(EXTREMES),
)
text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(VGG19_CONV_LAYERS + WORDS),
    numbers.map(str),
    st.lists(st.sampled_from(VGG19_CONV_LAYERS), max_size=6).map(",".join),
    st.sampled_from(
        ("nan", "inf", "-Infinity", "1e400", " 12 ", "1_000", "0x10", "\uff11\uff12", "")
    ),
)
scalars = st.one_of(numbers, text, st.booleans(), st.none())
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
raw_params = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.sampled_from(("colour", "", "__class__"))),
    json_values,
    max_size=6,
)


def assert_within_declared_bounds(params: JobParams) -> None:
    """Every numeric field honours its Field constraints and the deployment limits."""
    for name, info in JobParams.model_fields.items():
        value = getattr(params, name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        assert math.isfinite(value), name
        for bound in info.metadata:
            if isinstance(bound, at.Ge):
                assert value >= bound.ge, name
            elif isinstance(bound, at.Gt):
                assert value > bound.gt, name
            elif isinstance(bound, at.Le):
                assert value <= bound.le, name
            elif isinstance(bound, at.Lt):
                assert value < bound.lt, name
        if name in LIMITED_BY:
            assert value <= LIMITED_BY[name], name


def assert_consistent(params: JobParams) -> None:
    """Layers are known and unique, weights are finite, one per layer, not all zero."""
    for layers, weights in [
        (params.content_layers, params.content_layer_weights),
        (params.style_layers, params.style_layer_weights),
    ]:
        assert layers and set(layers) <= set(VGG19_CONV_LAYERS)
        assert len(set(layers)) == len(layers)
        assert weights is None or len(weights) == len(layers)
    for weights in (params.content_layer_weights, params.style_layer_weights, params.style_blend):
        if weights is not None:
            assert all(math.isfinite(w) and w >= 0 for w in weights) and sum(weights) > 0
    assert params.size // 2 ** (params.scales - 1) >= 16


@st.composite
def valid_params(draw: st.DrawFn) -> dict[str, Any]:
    """Parameters that satisfy every rule, some fields left to their defaults."""
    scales = draw(st.integers(1, 4))
    style_layers = draw(st.lists(st.sampled_from(VGG19_CONV_LAYERS), min_size=1, unique=True))
    content_layers = draw(st.lists(st.sampled_from(VGG19_CONV_LAYERS), min_size=1, unique=True))
    weights = st.floats(0.01, 100)
    candidates = {
        "size": st.integers(16 * 2 ** (scales - 1), LIMITS.max_size),
        "iterations": st.integers(1, LIMITS.max_iterations),
        "optimizer": st.sampled_from(("lbfgs", "adam")),
        "learning_rate": st.floats(1e-6, 1000),
        "content_weight": st.floats(0, 1e12),
        "style_weight": st.floats(0, 1e12),
        "tv_weight": st.floats(0, 1e12),
        "content_layer_weights": st.lists(
            weights, min_size=len(content_layers), max_size=len(content_layers)
        ),
        "style_layer_weights": st.lists(
            weights, min_size=len(style_layers), max_size=len(style_layers)
        ),
        "style_blend": st.lists(weights, min_size=1, max_size=LIMITS.max_style_images),
        "init": st.sampled_from(("content", "noise", "style")),
        "pooling": st.sampled_from(("max", "avg")),
        "preserve_color": st.sampled_from(("none", "luminance", "histogram")),
        "style_scale": st.floats(0.1, 4.0),
        "seed": st.integers(0, 2**31 - 1),
        "checkpoint_every": st.one_of(st.none(), st.integers(1, LIMITS.max_iterations)),
    }
    chosen = draw(st.sets(st.sampled_from(sorted(candidates))))
    raw = {name: draw(candidates[name]) for name in chosen}
    raw.update(scales=scales, content_layers=content_layers, style_layers=style_layers)
    raw.setdefault("size", 16 * 2 ** (scales - 1))
    return raw


@st.composite
def one_field_changed(draw: st.DrawFn) -> dict[str, Any]:
    """Valid parameters with one field set to anything: the rules must still hold."""
    raw = draw(valid_params())
    raw[draw(st.sampled_from(FIELD_NAMES))] = draw(json_values)
    return raw


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(raw_params, one_field_changed()))
def test_parse_params_gives_params_in_bounds_or_invalid_params(raw: dict[str, Any]) -> None:
    try:
        params = parse_params(raw, LIMITS)
    except InvalidParams as exc:
        assert exc.message.strip()
        assert exc.field is None or exc.field in FIELD_NAMES or exc.field in raw
        return
    assert_within_declared_bounds(params)
    assert_consistent(params)


@settings(max_examples=200, deadline=None)
@given(raw=valid_params())
def test_valid_params_round_trip_through_model_dump(raw: dict[str, Any]) -> None:
    params = parse_params(raw, LIMITS)
    assert parse_params(params.model_dump(), LIMITS) == params
    assert parse_params(params.model_dump(mode="json"), LIMITS) == params
    assert_within_declared_bounds(params)
