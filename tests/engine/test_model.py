"""Loading VGG19 weights and building truncated feature extractors."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from contract.errors import WeightsUnavailable
from worker.nst.engine import StyleTransfer
from worker.nst.model import FeatureExtractors


def test_missing_weights_file_is_reported_at_construction(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable, match="not found"):
        StyleTransfer(str(tmp_path / "nope.weights.h5"))


def test_a_file_that_is_not_vgg19_weights_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.weights.h5"
    bogus.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(WeightsUnavailable, match="cannot load VGG19 weights"):
        StyleTransfer(str(bogus))


def test_extractor_stops_at_the_deepest_requested_layer(weights_path: str) -> None:
    extractors = FeatureExtractors(weights_path)
    model = extractors.get("max", ("block2_conv1", "block1_conv1"))
    names = [layer.name for layer in model.layers]
    assert "block2_conv1" in names and "block2_conv2" not in names
    assert [tuple(o.shape) for o in model.outputs] == [
        (None, None, None, 128),
        (None, None, None, 64),
    ]
    assert extractors.get("max", ("block2_conv1", "block1_conv1")) is model


def test_avg_pooling_shares_weights_but_changes_deep_features(weights_path: str) -> None:
    extractors = FeatureExtractors(weights_path)
    layers = ("block1_conv1", "block3_conv1")
    max_model, avg_model = extractors.get("max", layers), extractors.get("avg", layers)
    assert any(isinstance(layer, keras.layers.AveragePooling2D) for layer in avg_model.layers)
    image = np.random.default_rng(0).normal(0, 50, (1, 32, 32, 3)).astype(np.float32)
    max_out, avg_out = max_model(image), avg_model(image)
    np.testing.assert_allclose(np.asarray(max_out[0]), np.asarray(avg_out[0]), rtol=1e-5)
    assert not np.allclose(np.asarray(max_out[1]), np.asarray(avg_out[1]))
