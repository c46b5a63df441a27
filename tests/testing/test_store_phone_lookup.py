"""The simulator finds a number's conversation through an index, with the same answers as a full scan."""

from __future__ import annotations

from kapso_provider.testing._store import Store


def test_any_notation_finds_the_same_active_conversation() -> None:
    store = Store()
    first = store.find_or_create_conversation("+1 (555) 010-0001", store.default_config_id)
    again = store.find_or_create_conversation("15550100001", store.default_config_id)
    assert again["id"] == first["id"]
    assert first["phone_number"] == "+15550100001"


def test_ended_conversations_and_other_configs_are_skipped() -> None:
    store = Store()
    other = store.add_config(name="Other", phone_number="+15550000009", business_account_id="200000000000002")["id"]
    ended = store.create_conversation("+15550100002", status="ended")
    elsewhere = store.create_conversation("+15550100002", other)
    found = store.find_or_create_conversation("+15550100002", store.default_config_id)
    assert found["id"] not in (ended["id"], elsewhere["id"])
    assert store.find_or_create_conversation("+15550100002", other)["id"] == elsewhere["id"]


def test_reset_forgets_the_index() -> None:
    store = Store()
    before = store.find_or_create_conversation("+15550100003", store.default_config_id)
    store.reset()
    after = store.find_or_create_conversation("+15550100003", store.default_config_id)
    assert after["id"] != before["id"]
    assert [conversation["id"] for conversation in store.conversations()] == [after["id"]]
