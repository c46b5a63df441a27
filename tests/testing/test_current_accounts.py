"""The proxy's account endpoints over real HTTP: templates and their review, phone numbers, conversations,
media upload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.testing._support import PHONE, TIMEOUT, answer_errors
from tests.testing._tours import PNG

if TYPE_CHECKING:
    import requests

    from kapso_provider.testing import KapsoSimulator

PROXY = "current/openapi-whatsapp.yaml"
TEMPLATE = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Order {{1}} shipped"}],
}


def templates_url(sim: KapsoSimulator) -> str:
    return f"{sim.meta_url}/{sim.default_business_account_id}/message_templates"


def create(sim: KapsoSimulator, http: requests.Session, **changes: Any) -> requests.Response:
    return http.post(templates_url(sim), json={**TEMPLATE, **changes}, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("reads", "verdict", "seen"), [(1, "approved", ["APPROVED"]), (2, "rejected", ["PENDING", "REJECTED"])]
)
def test_a_created_template_is_reviewed_on_reads(
    sim: KapsoSimulator, http: requests.Session, reads: int, verdict: str, seen: list[str]
) -> None:
    sim.template_admin.review_reads = reads
    sim.template_admin.review_verdict = verdict
    created = create(sim, http)
    assert answer_errors(PROXY, created) == []
    assert (created.json()["status"], created.json()["category"]) == ("PENDING", "UTILITY")
    one = f"{templates_url(sim)}/{created.json()['id']}"
    statuses = [http.get(one, timeout=TIMEOUT).json()["status"] for _ in seen]
    assert statuses == seen
    # v1 sees the same template, with v1's statuses.
    (record,) = http.get(f"{sim.base_url}/whatsapp_templates", timeout=TIMEOUT).json()["data"]
    assert (record["name"], record["status"]) == ("order_update", verdict)


def test_list_filters_and_an_update_returns_to_pending(sim: KapsoSimulator, http: requests.Session) -> None:
    hsm_id = create(sim, http).json()["id"]
    create(sim, http, name="spring_sale", category="MARKETING")
    listed = http.get(templates_url(sim), params={"category": "MARKETING"}, timeout=TIMEOUT)
    assert answer_errors(PROXY, listed) == []
    assert [item["name"] for item in listed.json()["data"]] == ["spring_sale"]
    approved = http.get(templates_url(sim), params={"status": "APPROVED"}, timeout=TIMEOUT).json()["data"]
    assert {item["name"] for item in approved} == {"order_update", "spring_sale"}
    update = {"components": [{"type": "BODY", "text": "Order {{1}} is on its way"}]}
    updated = http.post(templates_url(sim), params={"hsm_id": hsm_id}, json=update, timeout=TIMEOUT)
    assert updated.json() == {"success": True}
    sim.template_admin.review_reads = None
    assert http.get(f"{templates_url(sim)}/{hsm_id}", timeout=TIMEOUT).json()["status"] == "PENDING"
    assert (
        http.get(templates_url(sim), params={"name": "order_update"}, timeout=TIMEOUT).json()["data"][0]["components"]
        == update["components"]
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "Order-Update"}, "name"),
        ({"category": "PROMO"}, "category"),
        ({"components": [{"type": "FOOTER", "text": "x"}]}, "components"),
        ({"components": [{"type": "BODY", "text": "Hi {{name}}"}]}, "components"),
        ({"parameter_format": "MIXED"}, "parameter_format"),
    ],
)
def test_template_refusals(sim: KapsoSimulator, http: requests.Session, changes: dict[str, Any], field: str) -> None:
    refused = create(sim, http, **changes)
    assert refused.status_code == 400
    assert field in refused.json()["error"]["message"]


def test_a_taken_name_and_unknown_accounts(sim: KapsoSimulator, http: requests.Session) -> None:
    create(sim, http)
    assert create(sim, http).status_code == 400
    assert http.get(f"{sim.meta_url}/999/message_templates", timeout=TIMEOUT).status_code == 404
    assert http.get(f"{templates_url(sim)}/123", timeout=TIMEOUT).status_code == 404
    missing = http.post(templates_url(sim), params={"hsm_id": "123"}, json={}, timeout=TIMEOUT)
    assert missing.status_code == 404


@pytest.mark.parametrize("by", ["name", "hsm_id"])
def test_delete(sim: KapsoSimulator, http: requests.Session, by: str) -> None:
    hsm_id = create(sim, http).json()["id"]
    params = {"name": "order_update"} if by == "name" else {"hsm_id": hsm_id}
    deleted = http.delete(templates_url(sim), params=params, timeout=TIMEOUT)
    assert deleted.json() == {"success": True}
    assert http.get(templates_url(sim), timeout=TIMEOUT).json()["data"] == []
    assert http.delete(templates_url(sim), params=params, timeout=TIMEOUT).status_code == 404
    assert http.delete(templates_url(sim), timeout=TIMEOUT).status_code == 400


def test_disabled_templates_are_not_shown(sim: KapsoSimulator, http: requests.Session) -> None:
    # The proxy's status enum has APPROVED, PENDING and REJECTED only.
    sim.create_template("old_offer", status="disabled")
    assert http.get(templates_url(sim), timeout=TIMEOUT).json()["data"] == []


def test_phone_numbers(sim: KapsoSimulator, http: requests.Session) -> None:
    other = sim.add_whatsapp_config(phone_number="+15550009999", business_account_id="777", kind="sandbox")
    listed = http.get(f"{sim.meta_url}/{sim.default_business_account_id}/phone_numbers", timeout=TIMEOUT)
    assert answer_errors(PROXY, listed) == []
    assert [item["id"] for item in listed.json()["data"]] == [sim.default_phone_number_id]
    one = http.get(f"{sim.meta_url}/{other['phone_number_id']}", timeout=TIMEOUT)
    assert answer_errors(PROXY, one, template="/{phone_number_id}") == []
    assert (one.json()["display_phone_number"], one.json()["account_mode"]) == ("+15550009999", "SANDBOX")
    assert http.get(f"{sim.meta_url}/42", timeout=TIMEOUT).status_code == 404


def test_conversations_of_a_number(sim: KapsoSimulator, http: requests.Session) -> None:
    first = sim.create_conversation(PHONE, contact_name="Ann")
    second = sim.create_conversation("+15557654321", status="ended")
    sim.assignments.assign(first["id"])
    url = f"{sim.meta_url}/{sim.default_phone_number_id}/conversations"
    listed = http.get(url, timeout=TIMEOUT)
    assert answer_errors(PROXY, listed) == []
    assert [item["id"] for item in listed.json()["data"]] == [second["id"], first["id"]]
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"status": "active"}, [first["id"]]),
        ({"phone_number": "+1 (555) 765-4321"}, [second["id"]]),
        ({"assigned_user_id": sim.assignments.default_user_id}, [first["id"]]),
        ({"unassigned": "true"}, [second["id"]]),
        ({"limit": "1"}, [second["id"]]),
    ]
    for params, expected in cases:
        assert [item["id"] for item in http.get(url, params=params, timeout=TIMEOUT).json()["data"]] == expected, params
    one = http.get(f"{url}/{first['id']}", timeout=TIMEOUT)
    assert answer_errors(PROXY, one) == []
    assert one.json()["kapso"]["contact_name"] == "Ann"
    both = {"assigned_user_id": sim.assignments.default_user_id, "unassigned": "true"}
    assert http.get(url, params=both, timeout=TIMEOUT).status_code == 422


def upload(
    sim: KapsoSimulator, http: requests.Session, name: str, content: bytes, mime: str, product: str = "whatsapp"
) -> requests.Response:
    url = f"{sim.meta_url}/{sim.default_phone_number_id}/media"
    files = {"file": (name, content, mime)}
    return http.post(url, files=files, data={"messaging_product": product}, timeout=TIMEOUT)


def test_media_upload(sim: KapsoSimulator, http: requests.Session) -> None:
    answer = upload(sim, http, "chart.png", PNG, "image/png")
    assert answer_errors(PROXY, answer) == []
    (media,) = sim.media.all()
    assert answer.json() == {"id": media["id"]}
    assert (media["filename"], media["mime_type"], media["size_bytes"]) == ("chart.png", "image/png", len(PNG))
    # The id it hands out is what a send takes.
    body = {"messaging_product": "whatsapp", "to": PHONE, "type": "image", "image": {"id": media["id"]}}
    sent = http.post(f"{sim.meta_url}/{sim.default_phone_number_id}/messages", json=body, timeout=TIMEOUT)
    assert sent.status_code == 200


@pytest.mark.parametrize(
    ("name", "size", "mime", "text"),
    [
        ("huge.png", 5 * 1024 * 1024 + 1, "image/png", "the limit for image"),
        ("clip.mov", 10, "video/quicktime", "not one WhatsApp accepts"),
        ("sticker.webp", 500 * 1024 + 1, "image/webp", "the limit for sticker"),
    ],
)
def test_media_limits(sim: KapsoSimulator, http: requests.Session, name: str, size: int, mime: str, text: str) -> None:
    refused = upload(sim, http, name, b"x" * size, mime)
    assert refused.status_code == 400
    assert text in refused.json()["error"]["message"]
    assert sim.media.all() == []


def test_media_upload_refusals(sim: KapsoSimulator, http: requests.Session) -> None:
    assert upload(sim, http, "chart.png", PNG, "image/png", product="telegram").status_code == 400
    url = f"{sim.meta_url}/{sim.default_phone_number_id}/media"
    no_file = http.post(url, files={"messaging_product": (None, "whatsapp")}, timeout=TIMEOUT)
    assert no_file.status_code == 400
    not_multipart = http.post(url, json={"messaging_product": "whatsapp"}, timeout=TIMEOUT)
    assert not_multipart.status_code == 400
