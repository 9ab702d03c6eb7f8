"""Engine tests run TensorFlow one op at a time, as a worker's engine does.

The engine asks for that when it is built (``gradients.run_ops_one_at_a_time``), which only
works before TensorFlow's runtime starts; in a test process, tests of images and losses start
it first, and then the session's engine would overlap its ops, its L-BFGS loop would not repeat
itself bit for bit, and comparisons with the host reference would depend on the tests' order.
So it is set here, at collection, before any test runs. ``test_precision.py`` still checks in
a fresh process that the engine sets it by itself.
"""

from __future__ import annotations

from worker.nst.optimizers.gradients import run_ops_one_at_a_time

assert run_ops_one_at_a_time(), "TensorFlow's runtime started before the engine tests"
