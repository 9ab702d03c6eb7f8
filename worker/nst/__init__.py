"""The style-transfer engine (Gatys et al. on VGG19); no Celery, Redis, Flask or S3 in here."""

from worker.nst.engine import Checkpoint, Losses, StyleTransfer, TransferResult

__all__ = ["Checkpoint", "Losses", "StyleTransfer", "TransferResult"]
