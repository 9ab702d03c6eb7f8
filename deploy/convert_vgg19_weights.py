"""Convert Keras' VGG19 no-top weights file to the Keras 3 ``.weights.h5`` format.

Keras downloads ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (the legacy HDF5
layout, groups named after layers) into its cache. The worker reads NST_VGG19_WEIGHTS with
Keras 3's native layout and checks it at start-up (worker/weights.py), so the image bakes
the converted file. deploy/Dockerfile.worker runs this at build time:

    python deploy/convert_vgg19_weights.py SOURCE.h5 DESTINATION.weights.h5
"""

from __future__ import annotations

import sys

import keras


def convert(source: str, destination: str) -> None:
    """Load the legacy file into VGG19 (no top) and save its weights in Keras 3 format."""
    model = keras.applications.VGG19(include_top=False, weights=source)
    model.save_weights(destination)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(sys.argv[1], sys.argv[2])
