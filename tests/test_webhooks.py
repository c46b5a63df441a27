"""kapso_provider.webhooks: signatures, batches, retried deliveries, and a secret that never leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from typing import Any

import pytest

from kapso_provider.webhooks import (
    InMemoryIdempotencyStore,
    KapsoWebhookError,
    KapsoWebhookPayloadError,
    KapsoWebhookSignatureError,
    KapsoWebhookVerifier,
    compute_signature,
    parse_events,
    verify_signature,
)

SECRET = "whsec-very-secret-value-123"
EVENT = {
    "event": "whatsapp.message.received",
    "message": {"id": "m-1", "content": "hi", "direction": "inbound"},
    "conversation": {"id": "c-1", "phone_number": "+15551234567"},
}


def _body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _headers(body: bytes, **extra: str) -> dict[str, str]:
    # Kapso's signature: hex HMAC-SHA256 of the raw body, computed here independently of the module.
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Webhook-Signature": signature, "X-Webhook-Event": "whatsapp.message.received", **extra}


class TestSignature:
    def test_good_signature(self) -> None:
        body = _body(EVENT)
        delivery = KapsoWebhookVerifier(secret=SECRET).verify(body, _headers(body))
        assert [(event.name, event.data) for event in delivery.events] == [("whatsapp.message.received", EVENT)]
        assert delivery.batch is False
        assert delivery.duplicate is False

    @pytest.mark.parametrize(
        "variant", ["lowercase-header", "uppercase-hex", "sha256-prefix", "text-body", "bytes-secret"]
    )
    def test_accepted_variants(self, variant: str) -> None:
        body = _body(EVENT)
        headers = _headers(body)
        signature = headers.pop("X-Webhook-Signature")
        raw: bytes | str = body
        secret: str | bytes = SECRET
        if variant == "lowercase-header":
            headers["x-webhook-signature"] = signature
        elif variant == "uppercase-hex":
            headers["X-Webhook-Signature"] = signature.upper()
        elif variant == "sha256-prefix":
            headers["X-Webhook-Signature"] = "sha256=" + signature
        elif variant == "text-body":
            headers["X-Webhook-Signature"] = signature
            raw = body.decode()
        else:
            headers["X-Webhook-Signature"] = signature
            secret = SECRET.encode()
        assert KapsoWebhookVerifier(secret=secret).verify(raw, headers).events[0].data == EVENT

    @pytest.mark.parametrize(
        ("arrange", "text"),
        [
            ("missing", "has no X-Webhook-Signature"),
            ("empty", "has no X-Webhook-Signature"),
            ("wrong-secret", "does not match"),
            ("tampered-body", "does not match"),
            ("reformatted-body", "does not match"),
            ("garbage", "does not match"),
            ("non-ascii", "does not match"),
        ],
    )
    def test_refused(self, arrange: str, text: str) -> None:
        body = _body(EVENT)
        headers = _headers(body)
        if arrange == "missing":
            del headers["X-Webhook-Signature"]
        elif arrange == "empty":
            headers["X-Webhook-Signature"] = "  "
        elif arrange == "wrong-secret":
            headers["X-Webhook-Signature"] = hmac.new(b"other", body, hashlib.sha256).hexdigest()
        elif arrange == "tampered-body":
            body = body.replace(b'"hi"', b'"HI"')
        elif arrange == "reformatted-body":
            body = json.dumps(EVENT, indent=2).encode()  # same JSON, other bytes: the signature covers bytes
        elif arrange == "garbage":
            headers["X-Webhook-Signature"] = "not-hex"
        else:
            headers["X-Webhook-Signature"] = "é" * 64
        verifier = KapsoWebhookVerifier(secret=SECRET)
        with pytest.raises(KapsoWebhookSignatureError, match=text) as info:
            verifier.verify(body, headers)
        assert isinstance(info.value, KapsoWebhookError)
        assert SECRET not in str(info.value)
        assert SECRET not in repr(info.value)
        # A refused delivery never marks its idempotency key as seen.
        assert len(verifier.idempotency_store) == 0  # type: ignore[arg-type]

    def test_compare_is_constant_time(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[tuple[Any, Any]] = []
        original = hmac.compare_digest

        def spy(a: Any, b: Any) -> bool:
            calls.append((a, b))
            return original(a, b)

        monkeypatch.setattr(hmac, "compare_digest", spy)  # the module calls hmac.compare_digest at run time
        body = _body(EVENT)
        verify_signature(body, _headers(body)["X-Webhook-Signature"], SECRET)
        with pytest.raises(KapsoWebhookSignatureError):
            verify_signature(body, "0" * 64, SECRET)
        assert len(calls) == 2
        assert calls[0][1] == compute_signature(body, SECRET).encode()

    def test_compute_matches_hmac(self) -> None:
        body = _body(EVENT)
        assert compute_signature(body, SECRET) == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    def test_secret_never_in_repr_or_errors(self) -> None:
        verifier = KapsoWebhookVerifier(secret=SECRET)
        assert SECRET not in repr(verifier)
        for body, headers in [
            (b"{}", {}),
            (b"[", _headers(b"[")),
            (b"[1]", _headers(b"[1]", **{"X-Webhook-Batch": "true"})),
        ]:
            with pytest.raises(KapsoWebhookError) as info:
                verifier.verify(body, headers)
            assert SECRET not in str(info.value)

    @pytest.mark.parametrize("secret", ["", b""])
    def test_empty_secret_refused(self, secret: str | bytes) -> None:
        with pytest.raises(ValueError, match=r"^secret:"):
            KapsoWebhookVerifier(secret=secret)
        with pytest.raises(KapsoWebhookSignatureError, match="No webhook secret"):
            verify_signature(b"{}", "00", secret)


class TestPayload:
    @pytest.mark.parametrize(
        "shape",
        ["array", "data", "events"],
    )
    def test_batches(self, shape: str) -> None:
        items = [
            {**EVENT, "message": {"id": "m-1", "content": "one"}},
            {"message": {"id": "m-2", "content": "two"}},  # no name of its own: the batch's applies
        ]
        payload: Any = items if shape == "array" else {"type": "whatsapp.message.received", shape: items}
        body = _body(payload)
        delivery = KapsoWebhookVerifier(secret=SECRET).verify(
            body, _headers(body, **{"X-Webhook-Batch": "true", "X-Webhook-Event": "whatsapp.message.received"})
        )
        assert delivery.batch is True
        assert [event.data["message"]["id"] for event in delivery.events] == ["m-1", "m-2"]
        assert {event.name for event in delivery.events} == {"whatsapp.message.received"}

    def test_batch_header_false_means_one_event(self) -> None:
        body = _body({"data": [1, 2]})
        delivery = KapsoWebhookVerifier(secret=SECRET).verify(body, _headers(body, **{"X-Webhook-Batch": "false"}))
        assert len(delivery.events) == 1

    @pytest.mark.parametrize(
        ("body", "batch", "text"),
        [
            (b"not json", False, "not JSON"),
            (b"[]", False, "JSON object"),
            (b'{"data": "x"}', True, "array of event objects"),
            (b"[1, 2]", True, "array of event objects"),
        ],
    )
    def test_malformed_signed_bodies(self, body: bytes, batch: bool, text: str) -> None:
        with pytest.raises(KapsoWebhookPayloadError, match=text):
            parse_events(body, batch=batch)


class TestDuplicates:
    def test_retried_delivery_is_flagged(self) -> None:
        verifier = KapsoWebhookVerifier(secret=SECRET)
        body = _body(EVENT)
        headers = _headers(body, **{"X-Idempotency-Key": "key-1"})
        first = verifier.verify(body, headers)
        again = verifier.verify(body, headers)
        other = verifier.verify(body, _headers(body, **{"X-Idempotency-Key": "key-2"}))
        assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
        assert again.idempotency_key == "key-1"

    def test_without_a_key_nothing_is_deduplicated(self) -> None:
        verifier = KapsoWebhookVerifier(secret=SECRET)
        body = _body(EVENT)
        assert [verifier.verify(body, _headers(body)).duplicate for _ in range(2)] == [False, False]

    def test_store_is_bounded(self) -> None:
        store = InMemoryIdempotencyStore(max_keys=3)
        assert [store.add(key) for key in ["a", "b", "c", "d"]] == [True] * 4
        assert len(store) == 3
        assert store.add("a") is True  # the oldest was forgotten
        assert store.add("d") is False

    def test_pluggable_store(self) -> None:
        class SharedStore:
            def __init__(self) -> None:
                self.keys: set[str] = set()

            def add(self, key: str) -> bool:
                new = key not in self.keys
                self.keys.add(key)
                return new

        shared = SharedStore()
        body = _body(EVENT)
        headers = _headers(body, **{"X-Idempotency-Key": "k"})
        # Two receivers (processes) sharing one store see a retry arriving at the other one.
        assert KapsoWebhookVerifier(secret=SECRET, idempotency_store=shared).verify(body, headers).duplicate is False
        assert KapsoWebhookVerifier(secret=SECRET, idempotency_store=shared).verify(body, headers).duplicate is True

    def test_bad_bound(self) -> None:
        with pytest.raises(ValueError, match=r"^max_keys:"):
            InMemoryIdempotencyStore(max_keys=0)


def test_standard_library_only() -> None:
    probe = (
        "import sys; before = set(sys.modules); import kapso_provider.webhooks; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "['kapso_provider', 'kapso_provider.webhooks']"
