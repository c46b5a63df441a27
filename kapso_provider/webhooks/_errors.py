"""The errors that refuse a delivery; :class:`KapsoWebhookError` itself is part of the provider's error tree."""

from __future__ import annotations

from kapso_provider.exceptions import KapsoWebhookError

__all__ = [
    "KapsoWebhookError",
    "KapsoWebhookInProgressError",
    "KapsoWebhookPayloadError",
    "KapsoWebhookSignatureError",
]


class KapsoWebhookSignatureError(KapsoWebhookError):
    """The signature is missing, malformed, or does not match the body (answer 401)."""


class KapsoWebhookPayloadError(KapsoWebhookError):
    """The signed body is not the JSON a Kapso delivery holds (answer 400)."""


class KapsoWebhookInProgressError(KapsoWebhookError):
    """Another request is handling the same delivery right now (answer 409: Kapso retries later).

    Raised instead of flagging the delivery ``duplicate``: the other request may still fail, and then this
    event must be handled by a later retry, not acknowledged now.
    """
