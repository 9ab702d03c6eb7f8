"""Command-line value types the benchmarks share."""

from __future__ import annotations

import argparse


def int_list(value: str) -> list[int]:
    """``"1,4,16"`` -> ``[1, 4, 16]``; ``""`` -> ``[]`` (an option that may be empty).

    Blank items (``"1,,4"``, a trailing comma) are skipped; anything else that is not an
    integer is an argparse error naming the value, not a traceback.
    """
    try:
        return [int(item) for item in value.split(",") if item.strip()]
    except ValueError as error:
        message = f"not a comma-separated list of integers: {value!r}"
        raise argparse.ArgumentTypeError(message) from error
