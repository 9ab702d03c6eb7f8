"""Who is calling: the owner id that scopes every job lookup of the current request."""

from __future__ import annotations

from flask import request

from api.services import services


def current_owner() -> str:
    """The owner id of the current request (raises Unauthorized)."""
    return services().keys.owner_for(request.headers.get("Authorization"))
