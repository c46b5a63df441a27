"""Kapso's signature: the hex HMAC-SHA256 of the raw body with the webhook's secret."""

from __future__ import annotations

import hashlib
import hmac

from kapso_provider.webhooks._errors import KapsoWebhookSignatureError

SIGNATURE_HEADER = "X-Webhook-Signature"


def as_bytes(raw_body: bytes | bytearray | memoryview | str) -> bytes:
    """The body's bytes: a text body is encoded back as UTF-8, never reformatted."""
    # The signature covers the exact bytes Kapso sent.
    return raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)


def compute_signature(raw_body: bytes | str, secret: str | bytes) -> str:
    """The hex HMAC-SHA256 of ``raw_body`` with ``secret``: what Kapso puts in ``X-Webhook-Signature``.

    :param raw_body: the request body exactly as received.
    :param secret: the webhook's secret key.
    """
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, as_bytes(raw_body), hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes | str, signature: str | None, secret: str | bytes) -> None:
    """Raise unless ``signature`` is the HMAC-SHA256 of ``raw_body`` with ``secret``, compared in constant time.

    A ``sha256=`` prefix (a common convention) is accepted; hex case does not matter.

    :param raw_body: the request body exactly as received.
    :param signature: the ``X-Webhook-Signature`` header value.
    :param secret: the webhook's secret key.
    :raises KapsoWebhookSignatureError: missing, malformed or wrong signature.
    """
    if not secret:
        raise KapsoWebhookSignatureError("No webhook secret configured: cannot verify the delivery.")
    if signature is None or not signature.strip():
        raise KapsoWebhookSignatureError(f"The delivery has no {SIGNATURE_HEADER} header.")
    given = signature.strip()
    if given.lower().startswith("sha256="):
        given = given[len("sha256=") :]
    expected = compute_signature(raw_body, secret)
    # compare_digest takes as long whatever the first differing character: no timing oracle for forgers.
    # Both sides are ASCII-encoded first, as compare_digest refuses non-ASCII text.
    if not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode("ascii")):
        raise KapsoWebhookSignatureError(
            f"{SIGNATURE_HEADER} does not match the body: wrong secret, or the body was changed "
            "(verify the raw bytes, before any JSON parsing)."
        )
