"""Safe decoding and re-encoding of user images (Pillow only, no TensorFlow).

Both the API (checking uploads before anything is queued) and the engine
(reading local files for ``nst run``) decode through ``decode_image`` so that one
set of rules applies everywhere: only JPEG, PNG and WebP decoders, the
decompression-bomb guard set from configuration and raised as an error rather
than a warning, and the whole image decoded up front so a truncated file fails
here instead of inside a job.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from shared.errors import ImageError, ImageTooLarge

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")


def decode_image(
    data: bytes, max_pixels: int, name: str = "image", long_side: int | None = None
) -> Image.Image:
    """Decode bytes into an RGB image, or raise ImageError/ImageTooLarge with a readable reason.

    With ``long_side``, a JPEG is decoded at the smallest power-of-two reduction whose long
    side is still at least that many pixels (libjpeg scales while decoding, so a large photo
    for a small job costs a fraction of a full decode); the whole file is still read and
    checked.
    """
    if not data:
        raise ImageError(f"{name} is empty (0 bytes)")
    Image.MAX_IMAGE_PIXELS = (
        max_pixels  # Pillow's own guard at the configured limit, not its default
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{name} is {width}x{height} = {width * height} pixels, "
                    f"over the limit of {max_pixels}"
                )
            if long_side is not None:
                image.draft("RGB", _draft_box(image.size, long_side))
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"{name} is too large to decode safely: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not a JPEG, PNG or WebP image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name} could not be decoded (truncated or corrupt): {exc}") from None
    if image.width < 1 or image.height < 1:
        raise ImageError(f"{name} has no pixels")
    return image.convert("RGB")


def _draft_box(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The smallest box with the image's aspect ratio and the given long side."""
    width, height = size
    scale = long_side / max(width, height)
    return (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))


def read_image_file(path: str, max_pixels: int) -> Image.Image:
    """Decode a local file, turning a missing or unreadable path into ImageError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from None
    return decode_image(data, max_pixels, name=path)


def encode_png(pixels: np.ndarray | Image.Image) -> bytes:
    """Encode an HxWx3 uint8 array (or an image) as PNG: lossless, for results."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_jpeg(pixels: np.ndarray | Image.Image, quality: int = 85) -> bytes:
    """Encode as JPEG, used for small, frequently replaced previews."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode_input(image: Image.Image) -> bytes:
    """Re-encode an uploaded image for storage: JPEG at quality 95 without chroma subsampling.

    Never the uploaded bytes (no smuggled payloads); JPEG rather than PNG because
    it sits on the submit path and encodes a megapixel about ten times faster.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, subsampling=0)
    return buffer.getvalue()
