"""Safe decoding and re-encoding of user images (Pillow only, no TensorFlow).

Both the API (checking uploads before anything is queued) and the engine
(reading local files for ``nst run``) decode through ``decode_image`` so that one
set of rules applies everywhere: only JPEG, PNG and WebP decoders, the
decompression-bomb guard set from configuration and raised as an error rather
than a warning, and the whole image decoded up front so a truncated file fails
here instead of inside a job. Every mode Pillow opens becomes the sRGB picture a
person would see (``to_srgb``): EXIF orientation applied, an embedded ICC profile
honoured, 16-bit and float samples scaled rather than clipped, transparency laid
on white. ``working_size`` is the one rule for the size the engine works at.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from contract.errors import ImageError, ImageTooLarge, UnsupportedAspectRatio
from contract.params import MIN_SIDE, JobParams

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


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
    return to_srgb(image)


def to_srgb(image: Image.Image) -> Image.Image:
    """Return the picture as 8-bit sRGB, upright, as a viewer would show it.

    ``convert("RGB")`` alone clips 16-bit and float samples (a 16-bit grey photo turns almost
    white), ignores ICC profiles (CMYK comes out garish) and shows transparent pixels with
    whatever colour hides under them.
    """
    image = ImageOps.exif_transpose(image)
    image = _eight_bit(image)
    if image.mode in ("LA", "PA", "RGBA", "P") and _has_alpha(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba).convert("RGB")
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "CMYK", "L"):
        image = _from_profile(image, profile)
    return image.convert("RGB")


def _eight_bit(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer and float samples into 0..255 greyscale."""
    if image.mode.startswith("I;16") or image.mode == "I":
        samples = np.asarray(image, dtype=np.float64)  # I and I;16 hold 16-bit samples
        return Image.fromarray(np.rint(np.clip(samples, 0, 65535) / 257.0).astype(np.uint8), "L")
    if image.mode == "F":
        samples = np.nan_to_num(np.asarray(image, dtype=np.float64))
        scale = 255.0 if samples.size and samples.max() <= 1.0 else 1.0  # 0..1 or 0..255 data
        return Image.fromarray(np.rint(np.clip(samples * scale, 0, 255)).astype(np.uint8), "L")
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("LA", "PA", "RGBA") or "transparency" in image.info


def _from_profile(image: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded ICC profile to sRGB; an unreadable profile is ignored."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def working_size(
    size: tuple[int, int], long_side: int, name: str = "image", where: str = ""
) -> tuple[int, int]:
    """The (width, height) the engine works at: long side ``long_side``, aspect kept.

    The long side never exceeds ``long_side`` (a thin image once became 320000 x 16 px and
    took a worker down). Raise UnsupportedAspectRatio when the short side would be under
    ``MIN_SIDE`` pixels, naming the ratio that would be accepted.
    """
    width, height = size
    scale = long_side / max(width, height)
    short = min(width, height) * scale
    if round(short) < MIN_SIDE:
        ratio = max(width, height) / min(width, height)
        raise UnsupportedAspectRatio(
            f"{name} is {width}x{height} (aspect ratio {ratio:.3g}:1): at a long side of "
            f"{long_side} px{where} its short side would be under {MIN_SIDE} px; there the "
            f"aspect ratio can be at most {long_side / MIN_SIDE:.3g}:1"
        )
    return (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))


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


def check_working_sizes(
    params: JobParams, content: tuple[int, int], styles: Sequence[tuple[int, int]]
) -> None:
    """Raise UnsupportedAspectRatio unless every image fits every pass of the job (at submit)."""
    coarsest = params.pass_sizes()[0]
    passes = f" (the coarsest of {params.scales} scales)" if params.scales > 1 else ""
    working_size(content, coarsest, "content image", passes)
    for index, style in enumerate(styles):
        working_size(style, params.style_size(coarsest), f"style image {index + 1}", passes)
