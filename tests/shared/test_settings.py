"""Configuration is read once from NST_* variables; a bad value names its variable."""

from __future__ import annotations

import pytest

from contract.errors import ConfigError
from shared.settings import load_settings


def test_defaults_keep_xla_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NST_XLA", raising=False)
    assert load_settings().xla == "off"


def test_bad_values_stop_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NST_XLA", "sometimes")
    monkeypatch.setenv("NST_CHECKPOINT_EVERY", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "NST_XLA:" in caught.value.message and "NST_CHECKPOINT_EVERY:" in caught.value.message
