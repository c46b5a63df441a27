"""Each delivery handled once: claimed while the handler works, handled only when it says so, replays known."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.webhooks import (
    ClaimState,
    IdempotencyStore,
    InMemoryIdempotencyStore,
    KapsoWebhookInProgressError,
    KapsoWebhookVerifier,
)
from tests._webhooks import SECRET, body_of, kapso_headers, signed_headers
from tests.webhooks._sql_store import SqliteIdempotencyStore

if TYPE_CHECKING:
    from pathlib import Path

RECEIVED: dict[str, Any] = {
    "message": {"id": "wamid.1", "type": "text", "text": {"body": "hi"}, "kapso": {"direction": "inbound"}},
    "conversation": {"id": "conv-1", "phone_number": "+15551234567"},
    "phone_number_id": "123",
}
BODY = body_of(RECEIVED)
EVENT = "whatsapp.message.received"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> IdempotencyStore:
    """Each test runs on the default store and on the database-table sample of the docs."""
    if request.param == "memory":
        return InMemoryIdempotencyStore()
    return SqliteIdempotencyStore(str(tmp_path / "keys.db"))


def _verifier(store: IdempotencyStore | None = None, **kwargs: Any) -> KapsoWebhookVerifier:
    return KapsoWebhookVerifier(secret=SECRET, idempotency_store=store, **kwargs)


def test_failed_handler_retry_is_handled(store: IdempotencyStore) -> None:
    # Before: the key was recorded on verify(), so Kapso's retry of a delivery whose handler failed came back
    # duplicate, was answered 200 and never handled.
    verifier = _verifier(store)
    headers = kapso_headers(BODY, event=EVENT, key="key-1")
    first = verifier.verify(BODY, headers)
    verifier.release(first)  # the handler failed; the endpoint answers 500
    retry = verifier.verify(BODY, headers)
    assert (first.duplicate, retry.duplicate) == (False, False)
    verifier.mark_handled(retry)
    again = verifier.verify(BODY, headers)
    assert again.duplicate is True
    assert again.claim_token is None


def test_receive_marks_only_a_block_that_succeeds(store: IdempotencyStore) -> None:
    verifier = _verifier(store)
    headers = kapso_headers(BODY, event=EVENT, key="key-1")
    handled: list[str] = []

    def failing_handler() -> None:
        with verifier.receive(BODY, headers) as delivery:
            assert delivery.duplicate is False
            raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        failing_handler()
    for _ in range(2):
        with verifier.receive(BODY, headers) as delivery:
            if not delivery.duplicate:
                handled.extend(event.data["message"]["id"] for event in delivery.events)
    assert handled == ["wamid.1"]


def test_replay_under_a_fresh_key_is_a_duplicate(store: IdempotencyStore) -> None:
    # X-Idempotency-Key is not signed: a captured delivery replayed with a new key was handled again.
    verifier = _verifier(store)
    with verifier.receive(BODY, kapso_headers(BODY, event=EVENT, key="key-1")):
        pass
    for headers in [
        kapso_headers(BODY, event=EVENT, key="key-2"),
        signed_headers(BODY, **{"X-Webhook-Event": EVENT}),  # no key at all
        kapso_headers(BODY, event="whatsapp.message.sent", key="key-3"),  # and another event name
    ]:
        assert verifier.verify(BODY, headers).duplicate is True


def test_retry_with_a_rebuilt_body_is_a_duplicate_by_its_key(store: IdempotencyStore) -> None:
    verifier = _verifier(store)
    with verifier.receive(BODY, kapso_headers(BODY, event=EVENT, key="key-1")):
        pass
    rebuilt = body_of({**RECEIVED, "conversation": {**RECEIVED["conversation"], "messages_count": 2}})
    assert verifier.verify(rebuilt, kapso_headers(rebuilt, event=EVENT, key="key-1")).duplicate is True


def test_events_with_identical_bodies_stay_apart(store: IdempotencyStore) -> None:
    # Kapso documents one body for whatsapp.phone_number.created and .deleted: neither may hide the other.
    verifier = _verifier(store)
    body = body_of({"phone_number_id": "123", "project": {"id": "p"}, "customer": {"id": "c"}})
    names = ["whatsapp.phone_number.created", "whatsapp.phone_number.deleted"]
    for name in names:
        with verifier.receive(body, kapso_headers(body, event=name)) as delivery:
            assert delivery.duplicate is False
    for name in names:
        assert verifier.verify(body, kapso_headers(body, event=name)).duplicate is True


def test_concurrent_copy_is_in_progress_not_duplicate(store: IdempotencyStore) -> None:
    verifier = _verifier(store)
    headers = kapso_headers(BODY, event=EVENT, key="key-1")
    first = verifier.verify(BODY, headers)
    for copy in [headers, kapso_headers(BODY, event=EVENT, key="key-2")]:
        with pytest.raises(KapsoWebhookInProgressError, match="answer 409"):
            verifier.verify(BODY, copy)
    verifier.mark_handled(first)
    assert verifier.verify(BODY, headers).duplicate is True


def test_a_refused_claim_holds_nothing(store: IdempotencyStore) -> None:
    # The idempotency key is claimed first; when the body's key is taken, the first claim must not linger.
    verifier = _verifier(store)
    holder = verifier.verify(BODY, kapso_headers(BODY, event=EVENT, key="key-1"))
    with pytest.raises(KapsoWebhookInProgressError):
        verifier.verify(BODY, kapso_headers(BODY, event=EVENT, key="key-2"))
    verifier.release(holder)
    other = body_of({**RECEIVED, "phone_number_id": "456"})
    assert verifier.verify(other, kapso_headers(other, event=EVENT, key="key-2")).duplicate is False


def test_claim_of_a_dead_handler_expires() -> None:
    clock = FakeClock()
    verifier = _verifier(InMemoryIdempotencyStore(clock=clock), claim_seconds=60)
    headers = kapso_headers(BODY, event=EVENT, key="key-1")
    verifier.verify(BODY, headers)  # the process handling it is killed: neither marked nor released
    clock.now += 59
    with pytest.raises(KapsoWebhookInProgressError):
        verifier.verify(BODY, headers)
    clock.now += 2
    retry = verifier.verify(BODY, headers)
    assert (retry.duplicate, retry.claim_token is not None) == (False, True)


def test_a_late_release_leaves_the_new_claim_alone() -> None:
    clock = FakeClock()
    verifier = _verifier(InMemoryIdempotencyStore(clock=clock), claim_seconds=10)
    headers = kapso_headers(BODY, event=EVENT, key="key-1")
    slow = verifier.verify(BODY, headers)
    clock.now += 11
    retry = verifier.verify(BODY, headers)
    verifier.release(slow)  # the slow handler fails after its claim expired
    with pytest.raises(KapsoWebhookInProgressError):
        verifier.verify(BODY, headers)
    verifier.mark_handled(retry)
    assert verifier.verify(BODY, headers).duplicate is True


def test_concurrent_deliveries_are_handled_once(store: IdempotencyStore) -> None:
    verifier = _verifier(store)
    headers = [kapso_headers(BODY, event=EVENT, key=f"key-{index % 3}") for index in range(16)]
    handled: list[int] = []
    start = threading.Barrier(len(headers))

    def deliver(index: int) -> str:
        start.wait()
        while True:  # Kapso retries until the answer is 200
            try:
                with verifier.receive(BODY, headers[index]) as delivery:
                    if delivery.duplicate:
                        return "duplicate"
                    handled.append(index)
                    return "handled"
            except KapsoWebhookInProgressError:
                continue

    with ThreadPoolExecutor(len(headers)) as pool:
        outcomes = list(pool.map(deliver, range(len(headers))))
    assert len(handled) == 1
    assert sorted(outcomes) == ["duplicate"] * 15 + ["handled"]


def test_memory_store_is_bounded() -> None:
    store = InMemoryIdempotencyStore(max_keys=3)
    for key in ["a", "b", "c", "d"]:
        store.mark_handled(key, token="t")
    assert len(store) == 3
    assert store.claim("a", token="t2", lease_seconds=60) == "claimed"  # the oldest was forgotten
    assert store.claim("d", token="t2", lease_seconds=60) == "handled"
    assert "max_keys=3" in repr(store)


@pytest.mark.parametrize("max_keys", [0, -1])
def test_bad_bound(max_keys: int) -> None:
    with pytest.raises(ValueError, match=r"^max_keys:"):
        InMemoryIdempotencyStore(max_keys=max_keys)


@pytest.mark.parametrize("seconds", [0, -5.0])
def test_bad_claim_seconds(seconds: float) -> None:
    with pytest.raises(ValueError, match=r"^claim_seconds:"):
        _verifier(claim_seconds=seconds)


def test_stores_share_deliveries_across_processes(tmp_path: Path) -> None:
    # Two receivers (two processes, or replicas) on one table see each other's claims and handled keys.
    path = str(tmp_path / "keys.db")
    one, two = (_verifier(SqliteIdempotencyStore(path)) for _ in range(2))
    headers = kapso_headers(BODY, event=EVENT, key="key-1")
    claimed = one.verify(BODY, headers)
    with pytest.raises(KapsoWebhookInProgressError):
        two.verify(BODY, headers)
    one.mark_handled(claimed)
    assert two.verify(BODY, headers).duplicate is True


def test_store_of_the_old_contract_is_refused() -> None:
    class AddOnlyStore:
        def add(self, key: str) -> bool:
            return True

    with pytest.raises(TypeError, match=r"^idempotency_store: AddOnlyStore lacks claim, mark_handled, release"):
        KapsoWebhookVerifier(secret=SECRET, idempotency_store=AddOnlyStore())  # type: ignore[arg-type]


def test_store_answering_nonsense_is_refused() -> None:
    class Confused(InMemoryIdempotencyStore):
        def claim(self, key: str, *, token: str, lease_seconds: float) -> ClaimState:
            return "yes"  # type: ignore[return-value]

    with pytest.raises(TypeError, match=r"claim\(\) returned 'yes'"):
        _verifier(Confused()).verify(BODY, kapso_headers(BODY, event=EVENT))
