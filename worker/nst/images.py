"""Image <-> VGG19 input conversion, resizing and the colour-preservation helpers (numpy + Pillow).

VGG19 was trained on Caffe-preprocessed images: BGR channel order, 0..255, ImageNet mean
subtracted. ``preprocess_image`` and ``deprocess_image`` are exact inverses up to the final
clip to valid 8-bit RGB. Colour helpers follow Gatys et al. (2016) "Preserving color in neural
artistic style transfer": YIQ luminance-only transfer, or matching the style's colour mean and
covariance to the content's.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from shared.images import working_size

IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=np.float64,
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def resize_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Resize to ``long_side`` on the longer side, keeping the aspect ratio (``working_size``)."""
    return image.resize(working_size(image.size, long_side), Image.Resampling.LANCZOS)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Return an H x W x 3 float32 array in 0..255."""
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def preprocess_image(rgb: np.ndarray) -> np.ndarray:
    """Turn H x W x 3 RGB (0..255) into a 1 x H x W x 3 float32 VGG19 (Caffe) input."""
    bgr = np.asarray(rgb, dtype=np.float32)[..., ::-1] - IMAGENET_MEAN_BGR
    return np.ascontiguousarray(bgr[np.newaxis])


def deprocess_image(tensor: np.ndarray) -> np.ndarray:
    """Turn a (1 x) H x W x 3 VGG19 input back into H x W x 3 uint8 RGB, clipped to 0..255."""
    bgr = np.asarray(tensor, dtype=np.float32).reshape(tensor.shape[-3:]) + IMAGENET_MEAN_BGR
    return np.clip(np.rint(bgr[..., ::-1]), 0, 255).astype(np.uint8)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """Convert RGB (0..255) to YIQ; Y is the luminance in 0..255."""
    return np.asarray(rgb, dtype=np.float64) @ _RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """Convert YIQ back to RGB (not clipped)."""
    return yiq @ _YIQ_TO_RGB.T


def luminance_image(rgb: np.ndarray) -> np.ndarray:
    """Return the luminance as a grey H x W x 3 RGB float32 image (what VGG19 sees)."""
    luminance = rgb_to_yiq(rgb)[..., :1]
    return np.repeat(luminance, 3, axis=-1).astype(np.float32)


def match_luminance(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Return the style's grey luminance image shifted/scaled to the content's mean and std."""
    style_y = rgb_to_yiq(style_rgb)[..., 0]
    content_y = rgb_to_yiq(content_rgb)[..., 0]
    scale = content_y.std() / max(style_y.std(), 1e-6)
    matched = (style_y - style_y.mean()) * scale + content_y.mean()
    return np.repeat(matched[..., np.newaxis], 3, axis=-1).astype(np.float32)


def with_content_chroma(result_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Combine the result's luminance with the content's I and Q; return clipped uint8 RGB."""
    yiq = rgb_to_yiq(content_rgb)
    yiq[..., 0] = rgb_to_yiq(result_rgb)[..., 0]
    return np.clip(np.rint(yiq_to_rgb(yiq)), 0, 255).astype(np.uint8)


def _sqrtm(cov: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 1e-5) ** power
    return (vectors * values) @ vectors.T


def match_color_histogram(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Map the style's colours so their mean and covariance equal the content's (float32 RGB)."""
    style = np.asarray(style_rgb, dtype=np.float64).reshape(-1, 3)
    content = np.asarray(content_rgb, dtype=np.float64).reshape(-1, 3)
    style_mean, content_mean = style.mean(axis=0), content.mean(axis=0)
    transform = _sqrtm(np.cov(content, rowvar=False), 0.5) @ _sqrtm(
        np.cov(style, rowvar=False), -0.5
    )
    matched = (style - style_mean) @ transform.T + content_mean
    return np.clip(matched, 0, 255).reshape(np.shape(style_rgb)).astype(np.float32)


def resize_tensor(tensor: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinearly resize a 1 x H x W x 3 float tensor (any value range) to a new size."""
    channels = [
        np.asarray(
            Image.fromarray(tensor[0, :, :, c]).resize((width, height), Image.Resampling.BILINEAR)
        )
        for c in range(tensor.shape[-1])
    ]
    return np.stack(channels, axis=-1)[np.newaxis].astype(np.float32)
