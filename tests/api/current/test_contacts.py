"""Current API: contacts (list, read, create, update, erase) and marketing preferences, through the hook."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoUnsupportedError

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator
    from tests.api.current.conftest import Refused


def test_create_read_update_and_erase(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    made = hook.create_contact("+1 (555) 123-0001", profile_name="Ada", metadata={"tier": "gold"})
    assert simulator.requests[0].json == {
        "contact": {"wa_id": "15551230001", "profile_name": "Ada", "metadata": {"tier": "gold"}}
    }
    # By id, by phone number in any spelling: the same record.
    assert hook.get_contact(made["id"])["profile_name"] == "Ada"
    assert hook.get_contact("+1 555 123 0001")["id"] == made["id"]
    assert simulator.requests[-1].path == "/whatsapp/contacts/15551230001"
    changed = hook.update_contact(made["id"], profile_name="Ada L.")
    assert changed["profile_name"] == "Ada L."
    assert simulator.requests[-1].json == {"contact": {"profile_name": "Ada L."}}
    assert hook.erase_contact("+15551230001") is None
    with pytest.raises(KapsoNotFoundError):
        hook.get_contact(made["id"])


def test_lists_with_filters_and_the_cursor(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    made = [hook.create_contact(f"+1555987{index:04d}", profile_name=f"Person {index}")["id"] for index in range(3)]
    hook.create_contact("+447700900123", profile_name="Other")
    listed = [record["id"] for record in hook.list_contacts(phone_number="+1 555 987", per_page=2)]
    assert sorted(listed) == sorted(made)
    pages = [
        request for request in simulator.requests if request.path == "/whatsapp/contacts" and request.method == "GET"
    ]
    assert [request.query["wa_id_contains"] for request in pages] == ["1555987", "1555987"]
    assert [record["profile_name"] for record in hook.list_contacts(profile_name="other")] == ["Other"]
    assert simulator.requests[-1].query == {"profile_name_contains": "other", "limit": "100"}
    assert list(hook.list_contacts(has_customer=True)) == []
    assert simulator.requests[-1].query["has_customer"] == "true"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.create_contact("5551230001"), r"^phone_number: .* has no '\+' and country code"),
        (lambda h: h.create_contact("+15551230001", customer_id="acme"), r"^customer_id: must be a UUID"),
        (lambda h: h.create_contact("+15551230001", metadata=["a"]), r"^metadata: must be an object"),
        (lambda h: h.update_contact("+15551230001"), r"^contact: give profile_name or metadata"),
        (lambda h: list(h.list_contacts(created_after="yesterday")), r"^created_after: must be an ISO-8601"),
        (lambda h: h.get_contact(""), r"^contact: must be a contact id or a phone number"),
    ],
)
def test_bad_arguments_fail_before_any_request(refused: Refused, call: Any, message: str) -> None:
    refused(call, KapsoArgumentError, message)


def test_notes_exist_only_on_api_v1(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    with pytest.raises(KapsoUnsupportedError, match=r"^create_contact_note: Kapso's current API has no such operation"):
        hook.create_contact_note("+15551230001", content="called back")
    assert simulator.requests == []


class TestMarketingPreferences:
    def test_a_stop_is_read_on_the_connections_number(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        hook.create_contact("+15551230001")
        assert list(hook.list_marketing_preferences("+15551230001")) == []
        # No preference recorded means subscribed: None, not an error.
        assert hook.get_marketing_preference("+15551230001") is None
        simulator.stop_marketing("+15551230001")
        (listed,) = hook.list_marketing_preferences("+15551230001")
        assert (listed["status"], listed["marketing_allowed"]) == ("stopped", False)
        one = hook.get_marketing_preference("+15551230001")
        assert one is not None
        assert (one["phone_number_id"], one["status"]) == (simulator.default_phone_number_id, "stopped")
        assert simulator.requests[-1].path == (
            f"/whatsapp/contacts/15551230001/marketing_preferences/{simulator.default_phone_number_id}"
        )

    def test_an_unknown_contact_is_still_an_error(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="contact"):
            hook.get_marketing_preference(str(uuid.uuid4()))

    def test_an_unknown_number_is_still_an_error(self, hook: KapsoHook) -> None:
        hook.create_contact("+15551230001")
        with pytest.raises(KapsoNotFoundError):
            hook.get_marketing_preference("+15551230001", phone_number_id="999999999999999")
