"""Verify and unpack Kapso webhook deliveries received by your own HTTP endpoint (standard library only).

Kapso signs each delivery with the webhook's secret: ``X-Webhook-Signature`` holds the hex HMAC-SHA256 of
the raw request body. It names the event in ``X-Webhook-Event``, marks each delivery with
``X-Idempotency-Key`` (a retried delivery carries the same key) and sets ``X-Webhook-Batch: true`` when
the body holds several events (webhooks with buffering enabled).

:class:`KapsoWebhookVerifier` checks one delivery (raw body plus headers) and returns its events, marked
``duplicate`` when its idempotency key was seen before; a bad signature or a malformed body raises a
subclass of :class:`KapsoWebhookError`. ``docs/inbound-messages.md`` shows a handler built on it; that
code runs in the test suite (``tests/test_docs_samples.py``).

Nothing here ever puts the secret in an exception, a ``repr`` or a log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BATCH_HEADER",
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "KapsoWebhookDelivery",
    "KapsoWebhookError",
    "KapsoWebhookEvent",
    "KapsoWebhookPayloadError",
    "KapsoWebhookSignatureError",
    "KapsoWebhookVerifier",
    "compute_signature",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENT_HEADER = "X-Webhook-Event"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
BATCH_HEADER = "X-Webhook-Batch"


class KapsoWebhookError(Exception):
    """A delivery that must not be trusted or cannot be read; never carries the secret."""


class KapsoWebhookSignatureError(KapsoWebhookError):
    """The signature is missing, malformed, or does not match the body (answer 401)."""


class KapsoWebhookPayloadError(KapsoWebhookError):
    """The signed body is not the JSON a Kapso delivery holds (answer 400)."""


def _as_bytes(raw_body: bytes | bytearray | memoryview | str) -> bytes:
    # The signature covers the exact bytes Kapso sent: a text body is encoded back as UTF-8, never reformatted.
    return raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)


def compute_signature(raw_body: bytes | str, secret: str | bytes) -> str:
    """The hex HMAC-SHA256 of ``raw_body`` with ``secret``: what Kapso puts in ``X-Webhook-Signature``.

    :param raw_body: the request body exactly as received.
    :param secret: the webhook's secret key.
    """
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, _as_bytes(raw_body), hashlib.sha256).hexdigest()


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


class IdempotencyStore(Protocol):
    """Where seen ``X-Idempotency-Key`` values are remembered; plug in Redis or a database table to share it."""

    def add(self, key: str) -> bool:
        """Remember ``key``; return ``True`` if it was new, ``False`` if it had been seen (atomically)."""
        ...


class InMemoryIdempotencyStore:
    """The last ``max_keys`` idempotency keys of this process, forgetting the oldest first (thread-safe).

    :param max_keys: how many keys to remember, at least 1.
    """

    def __init__(self, max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys: {max_keys!r} must be at least 1")
        self.max_keys = max_keys
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """Remember ``key``; ``True`` if it was new."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


@dataclass(frozen=True)
class KapsoWebhookEvent:
    """One event of a delivery.

    :param name: the event name (``whatsapp.message.received`` ...), from the event or ``X-Webhook-Event``.
    :param data: the event's JSON object as Kapso sent it.
    """

    name: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class KapsoWebhookDelivery:
    """A verified delivery.

    :param events: its events, one for a plain delivery, several for a batch.
    :param event_name: the ``X-Webhook-Event`` header.
    :param idempotency_key: the ``X-Idempotency-Key`` header, if sent.
    :param batch: whether ``X-Webhook-Batch: true`` was set.
    :param duplicate: whether this idempotency key was seen before (a retried delivery): handle it once.
    """

    events: list[KapsoWebhookEvent] = field(default_factory=list)
    event_name: str | None = None
    idempotency_key: str | None = None
    batch: bool = False
    duplicate: bool = False


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # HTTP header names are case-insensitive, and frameworks hand them over in any case.
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _event_name(data: Mapping[str, Any], default: str | None) -> str | None:
    for key in ("event", "type", "event_type"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return default


def parse_events(raw_body: bytes | str, *, batch: bool, event_name: str | None = None) -> list[KapsoWebhookEvent]:
    """The events of a delivery body; call it only on a verified body.

    A batch (``X-Webhook-Batch: true``) is a JSON array of events, or an object whose ``data`` (or
    ``events``) array holds them; the batch's event name applies to items without one. Anything else is
    one event.

    :param raw_body: the request body.
    :param batch: whether ``X-Webhook-Batch`` was ``true``.
    :param event_name: the ``X-Webhook-Event`` header.
    :raises KapsoWebhookPayloadError: the body is not a JSON object (or array, for a batch).
    """
    try:
        body = json.loads(_as_bytes(raw_body))
    except ValueError:
        raise KapsoWebhookPayloadError("The delivery body is not JSON.") from None
    if batch:
        items: Any = body
        name = event_name
        if isinstance(body, dict):
            name = _event_name(body, event_name)
            items = body.get("data", body.get("events"))
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise KapsoWebhookPayloadError(
                "A batched delivery must hold a JSON array of event objects (the body, or its 'data')."
            )
        return [KapsoWebhookEvent(name=_event_name(item, name), data=item) for item in items]
    if not isinstance(body, dict):
        raise KapsoWebhookPayloadError(f"A delivery must be a JSON object, got {type(body).__name__}.")
    return [KapsoWebhookEvent(name=_event_name(body, event_name), data=body)]


class KapsoWebhookVerifier:
    """Verifies Kapso deliveries, unpacks batches and flags retried ones.

    :param secret: the webhook's secret key (``secret_key`` when the webhook was created).
    :param idempotency_store: where seen ``X-Idempotency-Key`` values are kept; a bounded in-memory store by
        default. Use a shared one when several processes receive deliveries.
    """

    def __init__(self, *, secret: str | bytes, idempotency_store: IdempotencyStore | None = None) -> None:
        if not secret:
            raise ValueError("secret: must not be empty")
        self._secret = secret
        self.idempotency_store: IdempotencyStore = idempotency_store or InMemoryIdempotencyStore()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(secret=<hidden>, idempotency_store={self.idempotency_store!r})"

    def verify(self, raw_body: bytes | str, headers: Mapping[str, str]) -> KapsoWebhookDelivery:
        """Check the signature, parse the events and record the idempotency key, in that order.

        The key is recorded only for a delivery that verified and parsed, so a forged or broken request
        can never mark a real delivery's key as seen.

        :param raw_body: the request body exactly as received.
        :param headers: the request headers (any case).
        :raises KapsoWebhookSignatureError: missing, malformed or wrong signature.
        :raises KapsoWebhookPayloadError: a signed body that is not a Kapso delivery.
        """
        verify_signature(raw_body, _header(headers, SIGNATURE_HEADER), self._secret)
        event_name = _header(headers, EVENT_HEADER)
        batch = (_header(headers, BATCH_HEADER) or "").strip().lower() == "true"
        events = parse_events(raw_body, batch=batch, event_name=event_name)
        key = _header(headers, IDEMPOTENCY_HEADER)
        duplicate = bool(key) and not self.idempotency_store.add(str(key))
        return KapsoWebhookDelivery(
            events=events, event_name=event_name, idempotency_key=key, batch=batch, duplicate=duplicate
        )
