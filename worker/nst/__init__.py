"""The style-transfer engine (Gatys et al. on VGG19); no Celery, Redis, Flask or S3 in here.

The method is at this level (``images``, ``model``, ``losses``, ``inputs``, ``balance``,
``engine``: ``StyleTransfer``); how the image is optimized is ``optimizers/``. This file
imports nothing: a caller names the module it needs (``worker.nst.engine`` starts Keras and
TensorFlow; ``worker.nst.results`` and ``worker.nst.options`` do not), so the worker, the CLI
and the benchmarks' simulated engine pay only for what they use.
"""
