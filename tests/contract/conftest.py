"""The in-process app for contract tests (the same fixture as tests/api)."""

from tests.api.conftest import app, client  # noqa: F401
