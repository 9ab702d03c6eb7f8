"""``GET /v1/webhook-secret``: the caller's own signing secret, so its receiver can verify.

Each API key has its own secret (``contract.webhooks.owner_secret``), shown only to a request
made with that key; it is derived on each call, never stored.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from api.auth import current_owner
from api.container import services
from contract.errors import WebhooksDisabled
from contract.webhooks import WebhookEvent, WebhookSecret, owner_secret

bp = Blueprint("webhooks", __name__)


@bp.get("/v1/webhook-secret")
def webhook_secret() -> Response:
    owner = current_owner()
    server_secret = services().settings.webhook_secret
    if server_secret is None:
        raise WebhooksDisabled("this service sends no webhooks (no NST_WEBHOOK_SECRET is set)")
    answer = WebhookSecret(
        secret=owner_secret(server_secret.get_secret_value(), owner),
        scheme="Standard Webhooks v1 (HMAC-SHA256): https://www.standardwebhooks.com",
        events=list(WebhookEvent),
    )
    response = jsonify(answer.model_dump(mode="json"))
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
