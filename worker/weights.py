"""A start-up check of the configured VGG19 weights that does not start TensorFlow.

The prefork parent must not initialize TensorFlow, yet missing, wrong or unreachable weights
must stop the worker at start-up with a clear message rather than fail (or strand) the first job.
h5py reads a file's layout without building the model; for ``imagenet`` the parent fetches Keras'
own file into Keras' own cache, so the pool child's ``VGG19(weights="imagenet")`` finds it there
and never downloads mid-job.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from contract.errors import WeightsUnavailable
from contract.files import atomic_writer

VGG19_CONV_COUNT = 16
# What keras.applications.vgg19 downloads for include_top=False, and the MD5 it checks.
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
IMAGENET_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_MD5 = "253f8cb515780f3b799900260a226db6"


def check_weights(spec: str) -> None:
    """Raise WeightsUnavailable unless the weights named by NST_VGG19_WEIGHTS can be loaded."""
    if spec == "imagenet":
        ensure_imagenet_cached()
    else:
        check_weights_file(spec)


def check_weights_file(spec: str) -> None:
    """Raise WeightsUnavailable unless spec is a Keras 3 VGG19 no-top weights file."""
    path = Path(spec)
    if not path.is_file():
        raise WeightsUnavailable(f"NST_VGG19_WEIGHTS: no file at {spec}")
    try:
        with h5py.File(path, "r") as weights:
            layers = weights.get("layers")
            convs = [name for name in (layers or {}) if name.startswith("conv2d")]
    except OSError as exc:
        raise WeightsUnavailable(
            f"NST_VGG19_WEIGHTS: {spec} is not an HDF5 weights file ({exc})"
        ) from None
    if len(convs) != VGG19_CONV_COUNT:
        raise WeightsUnavailable(
            f"NST_VGG19_WEIGHTS: {spec} holds {len(convs)} convolution layers, "
            f"not VGG19's {VGG19_CONV_COUNT} (expected a Keras 3 vgg19 notop .weights.h5)"
        )


def keras_models_dir() -> Path:
    """Where ``keras.utils.get_file`` caches application weights (its own rule, restated)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def ensure_imagenet_cached(timeout: float = 30.0) -> Path:
    """Return Keras' cached ImageNet weights, downloading them first if absent or corrupt."""
    target = keras_models_dir() / IMAGENET_FILE
    if target.is_file() and _md5(target) == IMAGENET_MD5:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _download(IMAGENET_URL, target, timeout)
    except OSError as exc:  # requests' errors are OSErrors too; their text runs to many lines
        reason = type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc)
        raise WeightsUnavailable(
            f"NST_VGG19_WEIGHTS=imagenet: cannot download {IMAGENET_URL} into {target.parent} "
            f"({reason}); on a machine without internet set NST_VGG19_WEIGHTS to a "
            "local vgg19 notop .weights.h5 file"
        ) from None
    return target


def _download(url: str, target: Path, timeout: float) -> None:
    """Stream ``url`` into ``target``, which appears only if the MD5 matches."""
    session = requests.Session()
    retry = Retry(total=3, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    digest = hashlib.md5(usedforsecurity=False)
    with session.get(url, stream=True, timeout=timeout) as response:
        response.raise_for_status()
        with atomic_writer(target) as part:
            for chunk in response.iter_content(chunk_size=1 << 20):
                part.write(chunk)
                digest.update(chunk)
            if digest.hexdigest() != IMAGENET_MD5:
                raise OSError(f"MD5 mismatch on the downloaded file (got {digest.hexdigest()})")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
