"""KapsoHook contact and note methods against the simulator, each request checked against the OpenAPI files."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.api.v1.contacts import contact_identifier
from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoValidationError
from kapso_provider.hooks.kapso import KapsoHook
from tests._openapi import assert_valid_request

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+1 (555) 123-4567"
WA_ID = "15551234567"


def _files(request: Any) -> dict[str, Any]:
    if (
        request.method == "GET"
        and request.path == "/whatsapp_contacts"
        and any(k.startswith("q[") for k in request.query)
    ):
        # The list filters exist in openapi-whatsapp.yaml only; the older openapi.yaml declares paging alone,
        # and the newer, WhatsApp-specific file is the one followed.
        return {"files": ("openapi-whatsapp.yaml",)}
    return {}


@pytest.fixture
def hook(kapso_server: KapsoServer) -> Iterator[KapsoHook]:
    hook = KapsoHook()
    yield hook
    hook.close()
    requests = kapso_server.simulator.requests
    assert requests, "no request was made"
    for request in requests:
        assert_valid_request(request.method, request.path, request.query, request.json, **_files(request))


class TestIdentifier:
    @pytest.mark.parametrize(
        ("given", "sent"),
        [
            (PHONE, WA_ID),
            ("+15551234567", WA_ID),
            ("15551234567", WA_ID),
            ("7f9c2ad4-5e0b-4f7e-9a51-1f5f2d3c4b6a", "7f9c2ad4-5e0b-4f7e-9a51-1f5f2d3c4b6a"),
            ("contact-789ghi", "contact-789ghi"),
        ],
    )
    def test_phone_numbers_become_digits_ids_stay(self, given: str, sent: str) -> None:
        assert contact_identifier(given) == sent

    @pytest.mark.parametrize(("given", "expected"), [("", "must be a contact id"), ("+12 34", "4 digits")])
    def test_bad_identifier(self, given: str, expected: str) -> None:
        with pytest.raises(KapsoArgumentError, match=expected):
            contact_identifier(given)


class TestContacts:
    def test_create_get_update(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        customer_id = str(uuid.uuid4())
        created = hook.create_contact(PHONE, profile_name="Ada", customer_id=customer_id, metadata={"tier": "gold"})
        assert (created["wa_id"], created["profile_name"], created["customer_id"]) == (WA_ID, "Ada", customer_id)
        assert hook.get_contact(created["id"]) == created
        assert hook.get_contact(PHONE) == created

        updated = hook.update_contact(PHONE, profile_name="Ada L.", metadata={"tier": "platinum"})
        assert (updated["profile_name"], updated["metadata"]) == ("Ada L.", {"tier": "platinum"})
        assert kapso_server.simulator.requests[0].json == {
            "contact": {"wa_id": WA_ID, "profile_name": "Ada", "customer_id": customer_id, "metadata": {"tier": "gold"}}
        }
        assert kapso_server.simulator.requests[2].path == f"/whatsapp_contacts/{WA_ID}"

    def test_duplicate_and_unknown(self, hook: KapsoHook) -> None:
        hook.create_contact(PHONE)
        with pytest.raises(KapsoValidationError, match="Wa_id has already been taken"):
            hook.create_contact("+15551234567")
        with pytest.raises(KapsoNotFoundError, match="Contact not found"):
            hook.get_contact("+15559999999")

    def test_a_conversation_has_its_contact(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.create_conversation(phone_number="+15550001111", contact_name="Grace")
        assert hook.get_contact("+15550001111")["profile_name"] == "Grace"

    def test_list_reads_every_page_lazily(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        for index in range(5):
            kapso_server.simulator.contacts.add_contact(f"+1555000000{index}")
        records = hook.list_contacts(per_page=2)
        assert kapso_server.simulator.requests == []
        assert sorted(record["wa_id"] for record in records) == [f"1555000000{index}" for index in range(5)]
        assert [request.query["page"] for request in kapso_server.simulator.requests] == ["1", "2", "3"]

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"customer_id": "c1"}, ["Ada"]),
            ({"external_customer_id": "CUS-1"}, ["Ada"]),
            ({"has_customer": True}, ["Ada"]),
            ({"has_customer": False}, ["Linus", "Grace"]),
            ({"profile_name": "GRA"}, ["Grace"]),
            ({"phone_number": "+1 555 000 0002"}, ["Grace"]),
            (
                {"created_after": "2000-01-01T00:00:00Z", "created_before": "2999-01-01T00:00:00Z"},
                ["Linus", "Grace", "Ada"],
            ),
            ({"created_after": "2999-01-01T00:00:00Z"}, []),
        ],
    )
    def test_filters(
        self, hook: KapsoHook, kapso_server: KapsoServer, filters: dict[str, Any], expected: list[str]
    ) -> None:
        contacts = kapso_server.simulator.contacts
        customer_id = str(uuid.uuid4())
        if "customer_id" in filters:
            filters = {**filters, "customer_id": customer_id}
        contacts.add_contact("+15550000001", profile_name="Ada", customer_id=customer_id)
        contacts.add_contact("+15550000002", profile_name="Grace")
        contacts.add_contact("+15550000003", profile_name="Linus")
        contacts.set_external_customer_id(customer_id, "CUS-1")
        assert [record["profile_name"] for record in hook.list_contacts(**filters)] == expected

    def test_boolean_filters_are_sent_as_json_booleans(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        list(hook.list_contacts(has_customer=False))
        list(hook.list_contacts(has_customer=True))
        first, second = kapso_server.simulator.requests
        assert first.query["q[customer_id_null]"] == "true"
        assert second.query["q[customer_id_not_null]"] == "true"

    @pytest.mark.parametrize(
        ("call", "expected"),
        [
            (lambda hook: hook.create_contact("call me"), "phone_number: 'call me' is not a phone number"),
            (lambda hook: hook.create_contact(PHONE, metadata=["x"]), "metadata: must be an object"),
            (lambda hook: hook.update_contact(PHONE), "give profile_name or metadata"),
            (lambda hook: hook.list_contacts(phone_number="abc"), "phone_number: must hold at least one digit"),
            (lambda hook: hook.list_contacts(has_customer="yes"), "has_customer: must be True, False or None"),
        ],
    )
    def test_bad_arguments_fail_before_any_request(self, kapso_server: KapsoServer, call: Any, expected: str) -> None:
        with pytest.raises(KapsoArgumentError, match=expected):
            call(KapsoHook())
        assert kapso_server.simulator.requests == []


class TestNotes:
    def test_note_lifecycle(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        contact = hook.create_contact(PHONE, profile_name="Ada")
        note = hook.create_contact_note(
            PHONE, content="Prefers mornings", name="Preference", metadata={"source": "survey"}
        )
        assert (note["content"], note["name"], note["metadata"]) == (
            "Prefers mornings",
            "Preference",
            {"source": "survey"},
        )
        assert hook.get_contact_note(contact["id"], note["id"]) == note

        second = hook.create_contact_note(contact["id"], content="Called back")
        assert second["name"] is None
        assert sorted(item["id"] for item in hook.list_contact_notes(PHONE, per_page=1)) == sorted(
            [note["id"], second["id"]]
        )

        updated = hook.update_contact_note(PHONE, note["id"], content="Prefers evenings")
        assert (updated["content"], updated["name"]) == ("Prefers evenings", "Preference")

        hook.delete_contact_note(PHONE, note["id"])
        assert [item["id"] for item in kapso_server.simulator.contacts.notes(contact["id"])] == [second["id"]]
        with pytest.raises(KapsoNotFoundError, match="Note not found"):
            hook.get_contact_note(PHONE, note["id"])
        with pytest.raises(KapsoNotFoundError, match="Note not found"):
            hook.delete_contact_note(PHONE, note["id"])

        bodies = [request.json for request in kapso_server.simulator.requests if request.method in ("POST", "PATCH")]
        assert bodies[1] == {
            "note": {"name": "Preference", "content": "Prefers mornings", "metadata": {"source": "survey"}}
        }
        assert bodies[2] == {"note": {"content": "Called back"}}
        assert bodies[3] == {"note": {"content": "Prefers evenings"}}

    def test_note_on_unknown_contact(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="Contact not found"):
            hook.create_contact_note("+15559999999", content="hello")

    @pytest.mark.parametrize(
        ("call", "expected"),
        [
            (lambda hook: hook.create_contact_note(PHONE, content=""), "content: must be a non-empty string"),
            (lambda hook: hook.create_contact_note(PHONE, content=None), "content: is required"),
            (lambda hook: hook.create_contact_note(PHONE, content="x", metadata="m"), "metadata: must be an object"),
            (lambda hook: hook.update_contact_note(PHONE, "n"), "give content, name or metadata"),
            (lambda hook: hook.get_contact_note(PHONE, ""), "must be a non-empty string"),
        ],
    )
    def test_bad_arguments_fail_before_any_request(self, kapso_server: KapsoServer, call: Any, expected: str) -> None:
        with pytest.raises(KapsoArgumentError, match=expected):
            call(KapsoHook())
        assert kapso_server.simulator.requests == []
