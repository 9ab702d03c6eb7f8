"""The backend-specific pieces: gradients, compiling, and writing one row of a device buffer.

Everything else is ``keras.ops``; this module picks TensorFlow (``tf.GradientTape``, a
``tf.function``, optionally XLA) or JAX (``jax.value_and_grad`` under ``jax.jit``) from
``keras.backend.backend()``. ``compile_loss_and_grads`` is a host call (numpy in and out) for the
reference optimizers of ``host_reference.py`` and for scoring; ``traced_loss_and_grads``,
``compile_traced`` and ``write_row`` build the device loops (``device_adam.py``,
``device_lbfgs.py``), whose tensors never leave the device between calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

LossFn = Callable[..., tuple[Any, Any]]
StepResult = tuple[float, np.ndarray, np.ndarray]
LossAndGrads = Callable[[np.ndarray, Sequence[Any]], StepResult]
TracedLossAndGrads = Callable[[Any, Sequence[Any]], tuple[Any, Any, Any]]


def _backend() -> str:
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise NotImplementedError(
            f"the style-transfer engine supports tensorflow and jax, not {backend}"
        )
    return str(backend)


def run_ops_one_at_a_time() -> bool:
    """Make TensorFlow run one op at a time (each op still uses every core); True if it does.

    With TensorFlow's default inter-op parallelism two runs of the same L-BFGS device loop
    at 256 px gave different pictures (6-8 levels of 255 apart after 150 iterations): which
    ops overlap depends on thread timing, and the kernels' float32 sums then come out in
    another order (oneDNN runs a kernel on fewer threads when it starts it from a busy pool
    thread). The host step and the Adam loop were reproducible already; with one op at a
    time the L-BFGS loop is too, bit for bit (``tests/engine/test_precision.py``). The
    network is a chain of convolutions, each using every core, so little overlap is lost.
    Only possible before TensorFlow starts its runtime; JAX's XLA programs need nothing.
    """
    if _backend() != "tensorflow":
        return True
    import tensorflow as tf

    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return True
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime started already (another model in this process)
        return False
    return True


def compile_loss_and_grads(
    loss_fn: LossFn, jit_compile: bool, weights: Sequence[keras.Variable] = ()
) -> LossAndGrads:
    """Wrap ``loss_fn(image, *args) -> (total, terms)`` as a compiled loss-and-gradient call;
    ``weights`` are the network's variables it reads (see ``compile_traced``)."""
    step = compile_traced(traced_loss_and_grads(loss_fn), jit_compile, weights)

    def call(image: np.ndarray, args: Sequence[Any]) -> StepResult:
        total, terms, grad = step(keras.ops.convert_to_tensor(image), tuple(args))
        return float(total), np.asarray(terms), np.asarray(grad)

    return call


def traced_loss_and_grads(loss_fn: LossFn) -> TracedLossAndGrads:
    """``(image, args) -> (total, terms, gradient)`` for use inside a compiled function."""
    if _backend() == "tensorflow":
        import tensorflow as tf

        def tape(image: Any, args: Sequence[Any]) -> tuple[Any, Any, Any]:
            with tf.GradientTape() as recorder:
                recorder.watch(image)
                total, terms = loss_fn(image, *args)
            return total, terms, recorder.gradient(total, image)

        return tape
    import jax

    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

    def differentiate(image: Any, args: Sequence[Any]) -> tuple[Any, Any, Any]:
        (total, terms), grad = value_and_grad(image, *args)
        return total, terms, grad

    return differentiate


def compile_traced(
    fn: Callable[..., Any], jit_compile: bool, weights: Sequence[keras.Variable] = ()
) -> Callable[..., Any]:
    """Compile ``fn`` of tensors: a ``tf.function`` (XLA if ``jit_compile``), or ``jax.jit``.

    Arguments must be tensors (not Python numbers) for TensorFlow to trace once per shape.
    AutoGraph is off: the loops are explicit ``keras.ops`` control flow, and converting their
    Python source only costs tracing time (and warns about lambdas it cannot parse).

    ``weights`` are the variables ``fn`` reads: the network's. A ``tf.function`` reads a
    variable by its handle; under ``jax.jit`` a variable read while tracing is a constant, so
    VGG19's weights would be written into every compiled program (103 MB of program text for
    one 64 px forward pass, against 16 kB with them as arguments) and XLA would spend its
    compile time on them, and each compiled shape would hold its own copy on the device. So
    under JAX they are the compiled function's first argument (``WeightsAsArguments``).
    """
    if _backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=jit_compile, autograph=False)
    import jax

    return WeightsAsArguments(fn, weights) if weights else jax.jit(fn)


class WeightsAsArguments:
    """``jax.jit(fn)`` with ``weights``' current values passed in at each call and read, while
    tracing, through a ``keras.StatelessScope`` (as Keras' own ``stateless_call`` does)."""

    def __init__(self, fn: Callable[..., Any], weights: Sequence[keras.Variable]) -> None:
        import jax

        self._weights = tuple(weights)

        def with_values(values: list[Any], *args: Any) -> Any:
            with keras.StatelessScope(state_mapping=list(zip(self._weights, values, strict=True))):
                return fn(*args)

        self._jitted = jax.jit(with_values)

    def __call__(self, *args: Any) -> Any:
        return self._jitted([w.value for w in self._weights], *args)

    def _cache_size(self) -> int:
        """How many times it was traced (``traces``)."""
        return int(self._jitted._cache_size())  # type: ignore[attr-defined]


def traces(compiled: Callable[..., Any]) -> int:
    """How many times ``compile_traced``'s function has been traced (each one compiles anew)."""
    if _backend() == "tensorflow":
        return int(compiled.experimental_get_tracing_count())  # type: ignore[attr-defined]
    return int(compiled._cache_size())  # type: ignore[attr-defined]


def write_row(buffer: Any, index: Any, row: Any) -> Any:
    """Return ``buffer`` with ``buffer[index] = row``, for a traced int32 ``index``.

    ``keras.ops.slice_update`` is XLA-only on TensorFlow; a scatter runs anywhere and, like
    JAX's update in a loop, may reuse the buffer in place.
    """
    if _backend() == "tensorflow":
        import tensorflow as tf

        return tf.tensor_scatter_nd_update(buffer, tf.reshape(index, (1, 1)), row[tf.newaxis])
    import jax

    return jax.lax.dynamic_update_index_in_dim(buffer, row, index, 0)
