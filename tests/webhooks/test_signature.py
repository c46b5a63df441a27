"""kapso_provider.webhooks signatures: what is accepted, what is refused, and a secret that never leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from typing import Any

import pytest

from kapso_provider.exceptions import KapsoError
from kapso_provider.webhooks import (
    KapsoWebhookError,
    KapsoWebhookSignatureError,
    KapsoWebhookVerifier,
    compute_signature,
    verify_signature,
)
from tests._webhooks import SECRET, body_of, signed_headers

EVENT = {
    "event": "whatsapp.message.received",
    "message": {"id": "m-1", "content": "hi", "direction": "inbound"},
    "conversation": {"id": "c-1", "phone_number": "+15551234567"},
}


def test_good_signature() -> None:
    body = body_of(EVENT)
    delivery = KapsoWebhookVerifier(secret=SECRET).verify(body, signed_headers(body))
    assert [(event.name, event.data) for event in delivery.events] == [("whatsapp.message.received", EVENT)]
    assert (delivery.batch, delivery.duplicate, delivery.mismatches) == (False, False, ())


@pytest.mark.parametrize("variant", ["lowercase-header", "uppercase-hex", "sha256-prefix", "text-body", "bytes-secret"])
def test_accepted_variants(variant: str) -> None:
    body = body_of(EVENT)
    signature = signed_headers(body)["X-Webhook-Signature"]
    headers = {"X-Webhook-Signature": signature}
    raw: bytes | str = body
    secret: str | bytes = SECRET
    if variant == "lowercase-header":
        headers = {"x-webhook-signature": signature}
    elif variant == "uppercase-hex":
        headers["X-Webhook-Signature"] = signature.upper()
    elif variant == "sha256-prefix":
        headers["X-Webhook-Signature"] = "sha256=" + signature
    elif variant == "text-body":
        raw = body.decode()
    else:
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
def test_refused(arrange: str, text: str) -> None:
    body = body_of(EVENT)
    headers = signed_headers(body, **{"X-Idempotency-Key": "key-1"})
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
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    # A refused delivery claims nothing, so it can never make the real delivery look handled.
    assert len(verifier.idempotency_store) == 0  # type: ignore[arg-type]


def test_errors_are_kapso_errors() -> None:
    # One `except KapsoError` catches every error of the provider, webhooks included.
    assert issubclass(KapsoWebhookSignatureError, KapsoWebhookError)
    assert issubclass(KapsoWebhookError, KapsoError)
    with pytest.raises(KapsoError):
        KapsoWebhookVerifier(secret=SECRET).verify(b"{}", {})


def test_compare_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    original = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module calls hmac.compare_digest at run time
    body = body_of(EVENT)
    verify_signature(body, signed_headers(body)["X-Webhook-Signature"], SECRET)
    with pytest.raises(KapsoWebhookSignatureError):
        verify_signature(body, "0" * 64, SECRET)
    assert len(calls) == 2
    assert calls[0][1] == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest().encode()


def test_compute_matches_hmac() -> None:
    body = body_of(EVENT)
    assert compute_signature(body, SECRET) == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_secret_never_in_repr_or_errors() -> None:
    verifier = KapsoWebhookVerifier(secret=SECRET)
    assert SECRET not in repr(verifier)
    for body, headers in [
        (b"{}", {}),
        (b"[", signed_headers(b"[")),
        (b"[1]", signed_headers(b"[1]", **{"X-Webhook-Batch": "true"})),
    ]:
        with pytest.raises(KapsoWebhookError) as info:
            verifier.verify(body, headers)
        assert SECRET not in str(info.value)


@pytest.mark.parametrize("secret", ["", b""])
def test_empty_secret_refused(secret: str | bytes) -> None:
    with pytest.raises(ValueError, match=r"^secret:"):
        KapsoWebhookVerifier(secret=secret)
    with pytest.raises(KapsoWebhookSignatureError, match="No webhook secret"):
        verify_signature(b"{}", "00", secret)


def test_standard_library_only() -> None:
    probe = (
        "import sys; before = set(sys.modules); import kapso_provider.webhooks; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(result.stdout.replace("'", '"')))
    ours = {"kapso_provider", "kapso_provider.exceptions"}
    assert loaded - ours, "the probe saw nothing load"
    assert {name for name in loaded - ours if not name.startswith("kapso_provider.webhooks")} == set()
