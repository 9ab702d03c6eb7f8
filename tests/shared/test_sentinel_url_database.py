"""A sentinel:// URL's database must be ASCII digits: "²" passed isdigit() and crashed int()."""

from __future__ import annotations

import pytest

from contract.errors import ConfigError
from shared.redis_client import SentinelURL


@pytest.mark.parametrize("database", ["²", "٣", "-1", "1e3", "x"])
def test_a_database_that_is_not_ascii_digits_is_a_config_error(database: str) -> None:
    with pytest.raises(ConfigError, match="is not a number"):
        SentinelURL.parse(f"sentinel://127.0.0.1:26379/{database}")


def test_a_database_number_is_read() -> None:
    assert SentinelURL.parse("sentinel://127.0.0.1:26379/3").db == 3
