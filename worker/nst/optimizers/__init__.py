"""The machinery that optimizes the image: where it is updated, and when the host looks.

The method (what is optimized: the images, VGG19's features, the losses and their balance)
is the package above; this is how the image gets there. Reading order from ``engine.py``:

- ``passes.py``: one job's scale passes, each driven a compiled call at a time: a ``RunPlan``
  (what to run) and a ``RunTally`` (what was done);
- ``loops.py``: the loop one pass runs (``IterationLoop``), on the device or on the host;
- ``device_adam.py``, ``device_lbfgs.py``: the update steps themselves, many per compiled call,
  sharing ``device_calls.py`` (what a call hands back) and ``gradients.py`` (the backend);
- ``host_reference.py``: the same two optimizers in numpy, the reference the device loops are
  tested against and whose state format checkpoints keep; not what a worker runs;
- the schedule: ``cadence.py`` (when progress and state fall due), ``pacing.py`` (how many
  iterations the next call runs), ``stopping.py`` (early stop's plateau).

Nothing is imported here, so that a module of this package costs only what it imports.
"""
