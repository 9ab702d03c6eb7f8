"""The parameters of one style-transfer job, validated once and used everywhere.

The API validates a submission with ``parse_params`` before anything is stored
or queued, the CLI does the same for ``nst run``, and the engine receives the
resulting frozen ``JobParams`` and never re-checks it. Bounds that depend on the
deployment (largest size, most iterations, most style images) come in as
``Limits`` from configuration, so the schema itself reads no environment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from shared.errors import InvalidParams

VGG19_CONV_LAYERS: tuple[str, ...] = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)  # fmt: skip
DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("block5_conv2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = (
    "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1",
)  # fmt: skip
_TUPLE_FIELDS = (
    "content_layers", "content_layer_weights", "style_layers", "style_layer_weights", "style_blend",
)  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """Deployment bounds on a job, taken from Settings by the entry points."""

    max_size: int = 1024
    max_iterations: int = 2000
    max_style_images: int = 4


class JobParams(BaseModel):
    """Everything that decides a job's output besides its images."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    size: int = Field(512, ge=16, description="Long side of the output in pixels.", examples=[512])
    iterations: int = Field(
        300, ge=1, description="Optimizer steps over all scales.", examples=[300]
    )
    optimizer: Literal["lbfgs", "adam"] = Field("lbfgs", description="L-BFGS or Adam.")
    learning_rate: float = Field(
        5.0, gt=0, le=1000, description="Adam step size, in 0..255 pixel units.", examples=[5.0]
    )
    content_weight: float = Field(
        1.0, ge=0, le=1e12, description="alpha: weight of the content loss."
    )
    style_weight: float = Field(0.1, ge=0, le=1e12, description="beta: weight of the style loss.")
    tv_weight: float = Field(
        1e-2, ge=0, le=1e12, description="Weight of total-variation smoothing."
    )
    content_layers: tuple[str, ...] = Field(
        DEFAULT_CONTENT_LAYERS, min_length=1, description="VGG19 layers compared with the content."
    )
    content_layer_weights: tuple[float, ...] | None = Field(
        None, description="One weight per content layer; default 1 each."
    )
    style_layers: tuple[str, ...] = Field(
        DEFAULT_STYLE_LAYERS,
        min_length=1,
        description="VGG19 layers whose Gram matrices are matched.",
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
        "colours "
        "to the content before optimizing.",
    )
    style_scale: float = Field(
        1.0, ge=0.1, le=4.0, description="Style image size relative to the output."
    )
    scales: int = Field(1, ge=1, le=4, description="Coarse-to-fine passes (1 = single scale).")
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Same inputs and seed give the same output."
    )
    checkpoint_every: int | None = Field(
        None,
        ge=1,
        description="Iterations between progress checkpoints; default from configuration.",
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

    @field_validator("size")
    @classmethod
    def _size_within_limit(cls, size: int, info: ValidationInfo) -> int:
        limit = _limits(info).max_size
        if size > limit:
            raise ValueError(f"must be at most {limit}")
        return size

    @field_validator("iterations", "checkpoint_every")
    @classmethod
    def _iterations_within_limit(cls, iterations: int | None, info: ValidationInfo) -> int | None:
        """Bound the run, and the checkpoint interval too: an unbounded int is never useful."""
        limit = _limits(info).max_iterations
        if iterations is not None and iterations > limit:
            raise ValueError(f"must be at most {limit}")
        return iterations

    @field_validator("content_layer_weights", "style_layer_weights")
    @classmethod
    def _one_weight_per_layer(
        cls, weights: tuple[float, ...] | None, info: ValidationInfo
    ) -> tuple[float, ...] | None:
        layers = info.data.get(str(info.field_name).removesuffix("_weights") + "s")
        if weights is not None and layers is not None and len(weights) != len(layers):
            raise ValueError(f"needs {len(layers)} values, one per layer, got {len(weights)}")
        return weights

    @field_validator("scales")
    @classmethod
    def _coarsest_scale_usable(cls, scales: int, info: ValidationInfo) -> int:
        size = info.data.get("size")
        if size is not None and size // 2 ** (scales - 1) < 16:
            raise ValueError("too many for this size (the coarsest pass would be under 16 px)")
        return scales

    def check_style_count(self, count: int, limits: Limits) -> None:
        """Check that the number of style images fits the limits and ``style_blend``."""
        if count < 1:
            raise InvalidParams("at least one style image is required", field="style")
        if count > limits.max_style_images:
            raise InvalidParams(
                f"at most {limits.max_style_images} style images are allowed, got {count}",
                field="style",
            )
        if self.style_blend is not None and len(self.style_blend) != count:
            raise InvalidParams(
                f"style_blend needs {count} values, one per style image, "
                f"got {len(self.style_blend)}",
                field="style_blend",
            )

    def blend_weights(self, count: int) -> tuple[float, ...]:
        """Per-style-image weights summing to 1."""
        raw = self.style_blend or (1.0,) * count
        total = sum(raw)
        return tuple(w / total for w in raw)


def _limits(info: ValidationInfo) -> Limits:
    return (info.context or {}).get("limits") or Limits()


def parse_params(data: Mapping[str, Any], limits: Limits | None = None) -> JobParams:
    """Validate raw parameters; raise InvalidParams naming the first bad field."""
    try:
        return JobParams.model_validate(dict(data), context={"limits": limits or Limits()})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or None
        where = f"{field}: " if field else ""
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown parameter"
        raise InvalidParams(f"{where}{message}", field=field) from None
