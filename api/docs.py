"""``/docs``: the API reference, rendered by Swagger UI from the ``swagger-ui-py`` package.

The page and its scripts are served from the installed package (Swagger UI 5, which renders
OpenAPI 3.1), never from a CDN: the reference works on a closed network and changes only when
the lock file does. It shows the same document as ``/v1/openapi.json``; "Authorize" takes an
API key for "Try it out".
"""

from __future__ import annotations

from flask import Flask
from swagger_ui import api_doc

from api.openapi import document


def init_app(app: Flask) -> None:
    api_doc(
        app, config=document(app.extensions["nst"].limits), url_prefix="/docs",
        title="Neural style transfer API", host_inject=False,
        parameters={"persistAuthorization": "true", "tryItOutEnabled": "false"},
    )  # fmt: skip
