"""Verify and unpack Kapso webhook deliveries received by your own HTTP endpoint (standard library only).

Kapso signs each delivery with the webhook's secret: ``X-Webhook-Signature`` holds the hex HMAC-SHA256 of
the raw request body. The other headers are not signed: ``X-Webhook-Event`` names the event,
``X-Idempotency-Key`` marks the delivery (a retry carries the same key) and ``X-Webhook-Batch: true`` marks
a body holding several events (webhooks with buffering enabled). Whoever captured a delivery can replay its
body under other headers, so the signed body decides wherever it can.

:class:`KapsoWebhookVerifier` checks one delivery (raw body plus headers), returns its events and has it
handled once: :meth:`KapsoWebhookVerifier.receive` claims the delivery for your handler's block and marks it
handled only when the block succeeds, so that a failed handler's retry is handled, a concurrent copy waits
(:class:`KapsoWebhookInProgressError`), and a retry or replay of a handled delivery comes back
``duplicate``, whether it carries the same idempotency key or the same signed body. A bad signature or a
malformed body raises a subclass of :class:`KapsoWebhookError`.

Kapso's current webhooks (payload version 2, the default) and the legacy ones (version 1) are both read:
every :class:`KapsoWebhookEvent` keeps its body as Kapso sent it and offers a typed view (``sender``,
``text``, ``reply_id``, ``wamid``, ``conversation_id``, ``phone_number_id``, ``status`` ...) that reads the
same in both versions. ``docs/inbound-messages.md`` shows a handler built on it; that code runs in the test
suite (``tests/test_docs_samples.py``).

Nothing here ever puts the secret in an exception, a ``repr`` or a log.
"""

from __future__ import annotations

from kapso_provider.webhooks._errors import (
    KapsoWebhookError,
    KapsoWebhookInProgressError,
    KapsoWebhookPayloadError,
    KapsoWebhookSignatureError,
)
from kapso_provider.webhooks._events import KapsoWebhookEvent
from kapso_provider.webhooks._parse import BATCH_HEADER, EVENT_HEADER, PAYLOAD_VERSION_HEADER, parse_events
from kapso_provider.webhooks._signature import SIGNATURE_HEADER, compute_signature, verify_signature
from kapso_provider.webhooks._store import ClaimState, IdempotencyStore, InMemoryIdempotencyStore
from kapso_provider.webhooks._verifier import IDEMPOTENCY_HEADER, KapsoWebhookDelivery, KapsoWebhookVerifier

__all__ = [
    "BATCH_HEADER",
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "PAYLOAD_VERSION_HEADER",
    "SIGNATURE_HEADER",
    "ClaimState",
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "KapsoWebhookDelivery",
    "KapsoWebhookError",
    "KapsoWebhookEvent",
    "KapsoWebhookInProgressError",
    "KapsoWebhookPayloadError",
    "KapsoWebhookSignatureError",
    "KapsoWebhookVerifier",
    "compute_signature",
    "parse_events",
    "verify_signature",
]
