"""The verifier: check a delivery, claim it while the handler works, and remember it once handled."""

from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kapso_provider.webhooks._errors import KapsoWebhookInProgressError
from kapso_provider.webhooks._parse import (
    BATCH_HEADER,
    DEFAULT_PAYLOAD_VERSION,
    EVENT_HEADER,
    PAYLOAD_VERSION_HEADER,
    body_key,
    parse_body,
)
from kapso_provider.webhooks._signature import SIGNATURE_HEADER, verify_signature
from kapso_provider.webhooks._store import IdempotencyStore, InMemoryIdempotencyStore

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from kapso_provider.webhooks._events import KapsoWebhookEvent

__all__ = ["IDEMPOTENCY_HEADER", "KapsoWebhookDelivery", "KapsoWebhookVerifier"]

IDEMPOTENCY_HEADER = "X-Idempotency-Key"
_STORE_METHODS = ("claim", "mark_handled", "release")

logger = logging.getLogger("kapso_provider.webhooks")


@dataclass(frozen=True)
class KapsoWebhookDelivery:
    """A verified delivery.

    :param events: its events, one for a plain delivery, several for a batch.
    :param event_name: the delivery's event name, from the signed body where it has one (see
        the ``name`` of :class:`KapsoWebhookEvent`), else from ``X-Webhook-Event``.
    :param idempotency_key: the ``X-Idempotency-Key`` header, if sent (unsigned).
    :param batch: whether the delivery is a batch (the body says so, or ``X-Webhook-Batch: true`` with a batch
        shape).
    :param duplicate: whether this delivery was handled before, under its idempotency key or with the same
        signed body: acknowledge it and do nothing. A duplicate holds no claim.
    :param header_event_name: the ``X-Webhook-Event`` header as sent (unsigned).
    :param mismatches: one line per unsigned header that contradicts the signed body (the body wins);
        empty for every delivery as Kapso sends it. Treat a delivery that has some as suspect.
    :param keys: the store keys of the delivery: its idempotency key (if sent) and the hash of its body.
    :param claim_token: the token of the claim on ``keys``, ``None`` for a duplicate.
    :param payload_version: the payload version of its events (1 or 2; see
        the ``payload_version`` of :class:`KapsoWebhookEvent`).
    """

    events: list[KapsoWebhookEvent] = field(default_factory=list)
    event_name: str | None = None
    idempotency_key: str | None = None
    batch: bool = False
    duplicate: bool = False
    header_event_name: str | None = None
    mismatches: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    claim_token: str | None = field(default=None, repr=False)
    payload_version: int = DEFAULT_PAYLOAD_VERSION


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # HTTP header names are case-insensitive, and frameworks hand them over in any case.
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


class KapsoWebhookVerifier:
    """Verifies Kapso deliveries, unpacks batches, and has each delivery handled once.

    A delivery counts as handled only once your handler says so: use :meth:`receive` (a context manager
    that marks it handled when its block ends normally and releases it when the block raises), or call
    :meth:`mark_handled` or :meth:`release` yourself after :meth:`verify`. Until then the delivery is
    claimed: a concurrent copy raises :class:`KapsoWebhookInProgressError`, and a retry after a failure
    (or after ``claim_seconds``, if the handler died) is handled again.

    :param secret: the webhook's secret key (``secret_key`` when the webhook was created).
    :param idempotency_store: where claims and handled keys are kept; a bounded in-memory store by default.
        Use a shared one (:class:`IdempotencyStore`) when several processes receive deliveries.
    :param claim_seconds: how long a claim outlives a handler that neither finished nor failed (a killed
        process). Longer than your handler ever runs; shorter than about two minutes, so that Kapso's last
        retry (about 2.5 minutes after the first attempt) finds the claim expired.
    """

    def __init__(
        self,
        *,
        secret: str | bytes,
        idempotency_store: IdempotencyStore | None = None,
        claim_seconds: float = 60.0,
    ) -> None:
        if not secret:
            raise ValueError("secret: must not be empty")
        if not claim_seconds > 0:
            raise ValueError(f"claim_seconds: {claim_seconds!r} must be more than 0")
        store = InMemoryIdempotencyStore() if idempotency_store is None else idempotency_store
        missing = [name for name in _STORE_METHODS if not callable(getattr(store, name, None))]
        if missing:
            raise TypeError(
                f"idempotency_store: {type(store).__name__} lacks {', '.join(missing)}; a store claims a key "
                "while the handler works and marks it handled after (see IdempotencyStore). A store with only "
                "add() recorded keys before the handler ran, so a failed delivery's retry was dropped."
            )
        self._secret = secret
        self.idempotency_store: IdempotencyStore = store
        self.claim_seconds = claim_seconds

    def __repr__(self) -> str:
        return f"{type(self).__name__}(secret=<hidden>, idempotency_store={self.idempotency_store!r})"

    def verify(self, raw_body: bytes | str, headers: Mapping[str, str]) -> KapsoWebhookDelivery:
        """Check the signature, read the events, and claim the delivery, in that order.

        A delivery that fails verification or parsing claims nothing, so a forged or broken request can
        never mark a real delivery's key. Finish every delivery this returns with :meth:`mark_handled` or
        :meth:`release` (or use :meth:`receive`).

        :param raw_body: the request body exactly as received.
        :param headers: the request headers (any case).
        :raises KapsoWebhookSignatureError: missing, malformed or wrong signature.
        :raises KapsoWebhookPayloadError: a signed body that is not a Kapso delivery.
        :raises KapsoWebhookInProgressError: another request holds a live claim on this delivery.
        """
        verify_signature(raw_body, _header(headers, SIGNATURE_HEADER), self._secret)
        header_event = _header(headers, EVENT_HEADER)
        parsed = parse_body(
            raw_body,
            header_event=header_event,
            header_batch=_header(headers, BATCH_HEADER),
            header_version=_header(headers, PAYLOAD_VERSION_HEADER),
        )
        idempotency_key = _header(headers, IDEMPOTENCY_HEADER)
        keys = [f"kapso:idempotency:{idempotency_key.strip()}"] if idempotency_key and idempotency_key.strip() else []
        keys.append(body_key(raw_body, parsed))
        if parsed.mismatches:
            logger.warning(
                "Kapso webhook delivery %s: its unsigned headers contradict its signed body: %s",
                keys[-1],
                "; ".join(parsed.mismatches),
            )
        token = secrets.token_hex(16)
        state = self._claim(keys, token)
        return KapsoWebhookDelivery(
            events=parsed.events,
            event_name=parsed.event_name,
            idempotency_key=idempotency_key,
            batch=parsed.batch,
            duplicate=state == "handled",
            header_event_name=header_event,
            mismatches=parsed.mismatches,
            keys=tuple(keys),
            claim_token=token if state == "claimed" else None,
            payload_version=parsed.events[0].payload_version if parsed.events else DEFAULT_PAYLOAD_VERSION,
        )

    def _claim(self, keys: list[str], token: str) -> str:
        """Claim every key, or none: ``"claimed"``, or ``"handled"`` if any key was (then nothing is held)."""
        held: list[str] = []
        try:
            for key in keys:
                state = self.idempotency_store.claim(key, token=token, lease_seconds=self.claim_seconds)
                if state == "claimed":
                    held.append(key)
                    continue
                if state == "handled":
                    return state
                if state == "in_progress":
                    raise KapsoWebhookInProgressError(
                        "Another request is handling this delivery right now; answer 409 so that Kapso "
                        "retries it later."
                    )
                raise TypeError(
                    f"idempotency_store: claim() returned {state!r}, not 'claimed', 'in_progress' or 'handled'"
                )
            held.clear()
            return "claimed"
        finally:
            for key in held:
                self.idempotency_store.release(key, token=token)

    def mark_handled(self, delivery: KapsoWebhookDelivery) -> None:
        """Record ``delivery`` as handled: its retries and replays come back ``duplicate``.

        Call it after your handler's work succeeded, before answering 200. Nothing to do for a duplicate.
        """
        if delivery.claim_token is not None:
            for key in delivery.keys:
                self.idempotency_store.mark_handled(key, token=delivery.claim_token)

    def release(self, delivery: KapsoWebhookDelivery) -> None:
        """Give up the claim on ``delivery`` after a failed handler, so that Kapso's retry is handled."""
        if delivery.claim_token is not None:
            for key in delivery.keys:
                self.idempotency_store.release(key, token=delivery.claim_token)

    @contextmanager
    def receive(self, raw_body: bytes | str, headers: Mapping[str, str]) -> Iterator[KapsoWebhookDelivery]:
        """Verify and claim a delivery for the block; mark it handled if the block ends normally.

        If the block raises, the claim is released and the exception goes on: answer 500 and Kapso's retry
        is handled. Skip the work when ``delivery.duplicate`` is set.

        :param raw_body: the request body exactly as received.
        :param headers: the request headers (any case).
        :raises KapsoWebhookSignatureError: missing, malformed or wrong signature (on entering).
        :raises KapsoWebhookPayloadError: a signed body that is not a Kapso delivery (on entering).
        :raises KapsoWebhookInProgressError: another request is handling the delivery (on entering).
        """
        delivery = self.verify(raw_body, headers)
        try:
            yield delivery
        except BaseException:
            self.release(delivery)
            raise
        self.mark_handled(delivery)
