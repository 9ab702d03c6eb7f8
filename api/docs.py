"""``/docs``: the API reference, rendered by Swagger UI from the ``swagger-ui-py`` package.

The page and its scripts are served from the installed package (Swagger UI 5, which renders
OpenAPI 3.1), never from a CDN: the reference works on a closed network and changes only when
the lock file does. It shows the same document as ``/v1/openapi.json``; "Authorize" takes an
API key for "Try it out". The package's page has no viewport meta, so a phone drew it at
980 px wide and shrank it to a third; one is added to its ``<head>``.
"""

from __future__ import annotations

from flask import Flask, Response, request
from swagger_ui import api_doc

from api.openapi import document

PREFIX = "/docs"
VIEWPORT = b'<meta name="viewport" content="width=device-width, initial-scale=1">'


def init_app(app: Flask) -> None:
    api_doc(
        app,
        config=document(app.extensions["nst"].limits),
        url_prefix=PREFIX,
        title="Neural style transfer API",
        host_inject=False,
        parameters={"persistAuthorization": "true", "tryItOutEnabled": "false"},
    )
    blueprint = "bp" + PREFIX.replace("/", "_")  # the name swagger-ui-py gives it

    @app.after_request
    def fit_the_reference_to_phones(response: Response) -> Response:
        if request.blueprint == blueprint and response.mimetype == "text/html":
            page = response.get_data()
            if b'name="viewport"' not in page:
                response.set_data(page.replace(b"<head>", b"<head>\n" + VIEWPORT, 1))
        return response
