"""The parameters of one style-transfer job, validated once and used everywhere.

``JobParams`` is the one schema of a job: the API's form fields and OpenAPI document, the
flags of ``nst run`` and ``nst submit``, the Python client's checks and the web form's ranges
are all generated from it. The API, ``nst run`` and the client validate with ``parse_params``
before anything is stored or queued; the engine receives the frozen ``JobParams`` and checks
only what the parameters alone cannot: that the images it is given match ``style_blend``
(``check_style_count``, as the engine is also called directly, without an entry point).
Bounds that depend on the deployment (largest size, most iterations, most style images) come in
as ``Limits`` and are checked only there, at the entry points (``check_limits``): a stored
record is read back with the schema alone, so changing a limit never breaks a job that was
accepted under the old one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contract.errors import InvalidParams

VGG19_CONV_LAYERS: tuple[str, ...] = (
    "block1_conv1",
    "block1_conv2",
    "block2_conv1",
    "block2_conv2",
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block3_conv4",
    "block4_conv1",
    "block4_conv2",
    "block4_conv3",
    "block4_conv4",
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
    "block5_conv4",
)
DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("block5_conv2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block4_conv1",
    "block5_conv1",
)
MIN_SIDE = 16  # VGG19 pools four times before block5; a shorter side leaves no activations
_LAYER_ITEMS: dict[str, Any] = {"items": {"type": "string", "enum": list(VGG19_CONV_LAYERS)}}
MIN_STRENGTH, MAX_STRENGTH, DEFAULT_STRENGTH = 0.01, 100.0, 1.0
RAW_WEIGHTS = (1.0, 0.1, 1e-2)  # the seed's content, style and TV weights, for expert jobs
_RAW_FIELDS = ("content_weight", "style_weight", "tv_weight")
EARLY_STOP_WINDOW = 25  # iterations the relative improvement is measured over
DEFAULT_EARLY_STOP = 0.01  # saved 43 % of 300 iterations, same look (benchmarks/README.md)
MAX_WEIGHT_PRODUCT = 1e30  # float32 overflows at 3.4e38; losses and gradients need headroom
_TUPLE_FIELDS = (
    "content_layers",
    "content_layer_weights",
    "style_layers",
    "style_layer_weights",
    "style_blend",
)


@dataclass(frozen=True)
class Limits:
    """Deployment bounds on a job, taken from Settings by the entry points.

    These defaults are the settings' too (``NST_MAX_SIZE`` and the others in
    ``shared/settings.py`` read them from here): one number for each, on the contract's side,
    as the server depends on the contract and never the other way round.
    """

    max_size: int = 1024
    max_iterations: int = 2000
    max_style_images: int = 4


class JobParams(BaseModel):
    """Everything that decides a job's output besides its images."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    size: int = Field(
        512, ge=MIN_SIDE, description="Long side of the output in pixels.", examples=[512]
    )
    iterations: int = Field(
        300, ge=1, description="Optimizer steps over all scales.", examples=[300]
    )
    optimizer: Literal["lbfgs", "adam"] = Field("lbfgs", description="L-BFGS or Adam.")
    learning_rate: float = Field(
        5.0, gt=0, le=1000, description="Adam step size, in 0..255 pixel units.", examples=[5.0]
    )
    style_strength: float | None = Field(
        None,
        ge=MIN_STRENGTH,
        le=MAX_STRENGTH,
        description="How strongly to paint in the style, on a log scale: 1 is balanced, 0.1 "
        "light, 10 strong. Means the same at every size, aspect ratio and number of styles. "
        f"Default {DEFAULT_STRENGTH:g} unless raw weights are given.",
        examples=[1.0],
        json_schema_extra={"x-effective-default": DEFAULT_STRENGTH},
    )
    content_weight: float | None = Field(
        None,
        ge=0,
        le=1e12,
        description=f"Expert: alpha, the raw content-loss weight (default {RAW_WEIGHTS[0]:g}); "
        "instead of style_strength.",
    )
    style_weight: float | None = Field(
        None,
        ge=0,
        le=1e12,
        description=f"Expert: beta, the raw style-loss weight (default {RAW_WEIGHTS[1]:g}); "
        "instead of style_strength.",
    )
    tv_weight: float | None = Field(
        None,
        ge=0,
        le=1e12,
        description=f"Expert: the raw total-variation weight (default {RAW_WEIGHTS[2]:g}); "
        "instead of style_strength.",
    )
    content_layers: tuple[str, ...] = Field(
        DEFAULT_CONTENT_LAYERS,
        min_length=1,
        description="VGG19 layers compared with the content.",
        json_schema_extra=_LAYER_ITEMS,
    )
    content_layer_weights: tuple[float, ...] | None = Field(
        None, description="One weight per content layer; default 1 each."
    )
    style_layers: tuple[str, ...] = Field(
        DEFAULT_STYLE_LAYERS,
        min_length=1,
        description="VGG19 layers whose Gram matrices are matched.",
        json_schema_extra=_LAYER_ITEMS,
    )
    style_layer_weights: tuple[float, ...] | None = Field(
        None, description="w_l, one per style layer; default equal weights summing to 1."
    )
    style_blend: tuple[float, ...] | None = Field(
        None, description="One weight per style image; default equal. Normalized to sum to 1."
    )
    init: Literal["content", "noise", "style"] = Field("content", description="Starting image.")
    pooling: Literal["max", "avg"] = Field(
        "max", description="VGG19 pooling; avg gives smoother results."
    )
    preserve_color: Literal["none", "luminance", "histogram"] = Field(
        "none",
        description="Keep the content's colours: transfer luminance only, or match the style's "
        "colours to the content before optimizing.",
        # Each choice in words, in the enum's order: the web form's options (via /v1/meta).
        json_schema_extra={
            "x-choice-labels": [
                "No",
                "Yes, transfer brightness only",
                "Yes, match the painting's colours first",
            ]
        },
    )
    style_scale: float = Field(
        1.0, ge=0.1, le=4.0, description="Style image size relative to the output."
    )
    scales: int = Field(1, ge=1, le=4, description="Coarse-to-fine passes (1 = single scale).")
    seed: int = Field(
        0,
        ge=0,
        le=2**31 - 1,
        description="Same inputs and seed give the same output on one worker machine "
        "(same backend, precision and core count; README, 'Reproducibility').",
    )
    checkpoint_every: int | None = Field(
        None,
        ge=1,
        description="Iterations between progress checkpoints; default from configuration.",
    )
    early_stop: float = Field(
        DEFAULT_EARLY_STOP,
        ge=0,
        le=0.5,
        description=f"Stop when the loss improves by less than this fraction over the last "
        f"{EARLY_STOP_WINDOW} iterations of the finest scale, never before the first progress "
        "update; 0 runs every iteration.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        """Refuse true/false where a number or name is expected instead of reading them as 1/0."""
        if isinstance(value, bool):
            raise ValueError("booleans are not accepted here")
        return value

    @field_validator(*_TUPLE_FIELDS, mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        """Let form fields and CLI flags give lists as comma-separated text."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("content_layers", "style_layers")
    @classmethod
    def _known_layers(cls, layers: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in layers if name not in VGG19_CONV_LAYERS]
        if unknown:
            raise ValueError(f"unknown VGG19 layer(s) {unknown}; use block<1-5>_conv<n>")
        if len(set(layers)) != len(layers):
            raise ValueError("layers must not repeat")
        return layers

    @field_validator("content_layer_weights", "style_layer_weights", "style_blend")
    @classmethod
    def _finite_non_negative(cls, weights: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if weights is None:
            return None
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        return weights

    @field_validator("content_layer_weights", "style_layer_weights")
    @classmethod
    def _one_weight_per_layer(
        cls, weights: tuple[float, ...] | None, info: ValidationInfo
    ) -> tuple[float, ...] | None:
        layers = info.data.get(str(info.field_name).removesuffix("_weights") + "s")
        if weights is not None and layers is not None and len(weights) != len(layers):
            raise ValueError(f"needs {len(layers)} values, one per layer, got {len(weights)}")
        return weights

    @field_validator("content_layer_weights", "style_layer_weights")
    @classmethod
    def _products_fit_float32(
        cls, weights: tuple[float, ...] | None, info: ValidationInfo
    ) -> tuple[float, ...] | None:
        """Refuse layer weights whose product with the term's weight overflows float32.

        Beyond ``MAX_WEIGHT_PRODUCT`` the loss is infinite whatever the image, and the job
        would fail in the worker instead of at submit.
        """
        term = str(info.field_name).removesuffix("_layer_weights")
        weight = info.data.get(f"{term}_weight")
        if weight is None:
            weight = RAW_WEIGHTS[_RAW_FIELDS.index(f"{term}_weight")]
        if weights and weight * max(weights) > MAX_WEIGHT_PRODUCT:
            raise ValueError(
                f"{term}_weight x {term}_layer_weights is {weight * max(weights):.3g}, "
                f"over {MAX_WEIGHT_PRODUCT:.0e}: the loss would overflow float32"
            )
        return weights

    @field_validator("scales")
    @classmethod
    def _coarsest_scale_usable(cls, scales: int, info: ValidationInfo) -> int:
        size = info.data.get("size")
        if size is not None and size // 2 ** (scales - 1) < MIN_SIDE:
            raise ValueError("too many for this size (the coarsest pass would be under 16 px)")
        return scales

    @model_validator(mode="after")
    def _strength_or_raw_weights(self) -> JobParams:
        """One way to weigh the terms per job: a strength, or the raw weights, not both."""
        raw = [name for name in _RAW_FIELDS if getattr(self, name) is not None]
        if self.style_strength is not None and raw:
            raise ValueError(f"give style_strength or the raw weights ({', '.join(raw)}), not both")
        return self

    @property
    def uses_strength(self) -> bool:
        """True unless the job gives raw weights (then the seed's losses run unscaled)."""
        return self.style_strength is not None or all(
            getattr(self, name) is None for name in _RAW_FIELDS
        )

    @property
    def strength(self) -> float:
        return self.style_strength if self.style_strength is not None else DEFAULT_STRENGTH

    def raw_weights(self) -> tuple[float, float, float]:
        """(content, style, tv) weights of an expert job, the seed's defaults where not given."""
        given = (self.content_weight, self.style_weight, self.tv_weight)
        return tuple(  # type: ignore[return-value]
            default if value is None else value
            for value, default in zip(given, RAW_WEIGHTS, strict=True)
        )

    def check_style_count(self, count: int) -> None:
        """Check that the number of style images fits ``style_blend`` (limits: ``check_limits``)."""
        if count < 1:
            raise InvalidParams("at least one style image is required", field="style")
        if self.style_blend is not None and len(self.style_blend) != count:
            raise InvalidParams(
                f"style_blend needs {count} values, one per style image, "
                f"got {len(self.style_blend)}",
                field="style_blend",
            )

    def pass_sizes(self) -> tuple[int, ...]:
        """Long side of each coarse-to-fine pass, coarsest first, the last one ``size``."""
        return tuple(self.size // 2 ** (self.scales - 1 - k) for k in range(self.scales))

    def style_size(self, pass_size: int) -> int:
        """Long side the style images are resized to for a pass of this size."""
        return max(MIN_SIDE, round(self.style_scale * pass_size))

    def blend_weights(self, count: int) -> tuple[float, ...]:
        """Per-style-image weights summing to 1."""
        raw = self.style_blend or (1.0,) * count
        total = sum(raw)
        return tuple(w / total for w in raw)


def check_limits(params: JobParams, limits: Limits, style_count: int | None = None) -> None:
    """Check the deployment's bounds; only entry points call this, never a read of a record.

    A stored job keeps the limits it was accepted under: raising NST_MAX_SIZE later, or
    lowering it, never makes an accepted job unreadable.
    """
    if params.size > limits.max_size:
        raise InvalidParams(f"size: must be at most {limits.max_size}", field="size")
    for name in ("iterations", "checkpoint_every"):
        value = getattr(params, name)
        if value is not None and value > limits.max_iterations:
            raise InvalidParams(f"{name}: must be at most {limits.max_iterations}", field=name)
    if style_count is not None:
        params.check_style_count(style_count)
        if style_count > limits.max_style_images:
            raise InvalidParams(
                f"at most {limits.max_style_images} style images are allowed, got {style_count}",
                field="style",
            )


def parse_params(
    data: Mapping[str, Any], limits: Limits | None = None, style_count: int | None = None
) -> JobParams:
    """Validate raw parameters against the schema and the limits; InvalidParams names the field."""
    fields = dict(data)
    if limits is not None:  # a default above the deployment's limit gives way to the limit
        for name, limit in (("size", limits.max_size), ("iterations", limits.max_iterations)):
            if name not in fields and JobParams.model_fields[name].default > limit:
                fields[name] = limit
    try:
        params = JobParams.model_validate(fields)
    except ValidationError as exc:
        raise invalid_params(exc) from None
    if limits is not None:
        check_limits(params, limits, style_count)
    return params


def invalid_params(exc: ValidationError) -> InvalidParams:
    """The first problem pydantic found, as InvalidParams naming its field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or None
    where = f"{field}: " if field else ""
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown parameter"
    return InvalidParams(f"{where}{message}", field=field)
