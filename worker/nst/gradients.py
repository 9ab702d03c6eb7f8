"""The one backend-specific piece: a compiled ``image -> (total, terms, gradient)`` function.

Everything else is ``keras.ops``; this module picks TensorFlow (``tf.GradientTape`` in a
``tf.function``, optionally XLA) or JAX (``jax.value_and_grad`` under ``jax.jit``) from
``keras.backend.backend()``. The returned callable takes and returns numpy arrays so the
optimizers stay backend-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

LossFn = Callable[..., tuple[Any, Any]]
StepResult = tuple[float, np.ndarray, np.ndarray]
LossAndGrads = Callable[[np.ndarray, Sequence[Any]], StepResult]


def compile_loss_and_grads(loss_fn: LossFn, jit_compile: bool) -> LossAndGrads:
    """Wrap ``loss_fn(image, *args) -> (total, terms)`` as a compiled loss-and-gradient call."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(loss_fn, jit_compile)
    if backend == "jax":
        return _jax(loss_fn)
    raise NotImplementedError(
        f"the style-transfer engine supports tensorflow and jax, not {backend}"
    )


def _tensorflow(loss_fn: LossFn, jit_compile: bool) -> LossAndGrads:
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile)
    def step(image: Any, args: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(image)
            total, terms = loss_fn(image, *args)
        return total, terms, tape.gradient(total, image)

    def call(image: np.ndarray, args: Sequence[Any]) -> StepResult:
        total, terms, grad = step(tf.constant(image), tuple(args))
        return float(total), terms.numpy(), grad.numpy()

    return call


def _jax(loss_fn: LossFn) -> LossAndGrads:
    import jax

    step = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

    def call(image: np.ndarray, args: Sequence[Any]) -> StepResult:
        (total, terms), grad = step(image, *args)
        return float(total), np.asarray(terms), np.asarray(grad)

    return call
