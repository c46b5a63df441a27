"""Which listed message is a send's, on the current API: documented fields only, nothing concluded from absence."""

from __future__ import annotations

from typing import Any

import pytest

from kapso_provider.api.current.matching import same_message

PHONE = "+15551234567"


def record(whatsapp: dict[str, Any], *, phone: str = "+15551234567", direction: str = "outbound") -> dict[str, Any]:
    return {"direction": direction, "phone_number": phone, "whatsapp": whatsapp}


TEXT = {"type": "text", "text": {"body": "hi"}}
IMAGE = {"type": "image", "image": {"link": "https://example.com/a.png", "caption": "A"}}


@pytest.mark.parametrize(
    ("stored", "body", "expected"),
    [
        pytest.param(record(TEXT), TEXT, True, id="same-text"),
        pytest.param(
            record({"type": "text", "text": {"body": "hi", "preview_url": True}}),
            TEXT,
            True,
            id="undocumented-field-ignored",
        ),
        pytest.param(record({"type": "text", "text": {"body": "ho"}}), TEXT, False, id="other-text"),
        pytest.param(record({"type": "text", "text": {}}), TEXT, False, id="text-without-body"),
        pytest.param(record(TEXT, phone="+155512345670"), TEXT, False, id="number-that-contains-the-digits"),
        pytest.param(record(TEXT, phone="15551234567"), TEXT, True, id="number-without-plus"),
        pytest.param(record(TEXT, direction="inbound"), TEXT, False, id="inbound"),
        pytest.param(record({"type": "image", "image": {"caption": "hi"}}), TEXT, False, id="other-kind"),
        pytest.param(record(IMAGE), IMAGE, True, id="same-image"),
        pytest.param(record({"type": "image", "image": {"id": "123"}}), IMAGE, False, id="image-nothing-compared"),
        pytest.param(
            record({"type": "image", "image": {"id": "123", "caption": "A"}}), IMAGE, True, id="image-by-caption"
        ),
        pytest.param(
            record({"type": "image", "image": {"id": "123", "caption": "B"}}), IMAGE, False, id="image-other-caption"
        ),
        pytest.param(
            record({"type": "template", "template": {"name": "t", "language": {"code": "en"}}}),
            {
                "type": "template",
                "template": {"name": "t", "language": {"code": "en"}, "components": [{"type": "body"}]},
            },
            True,
            id="template-components-not-listed",
        ),
        pytest.param(
            record({"type": "template", "template": {"name": "t", "language": {"code": "es"}}}),
            {"type": "template", "template": {"name": "t", "language": {"code": "en"}}},
            False,
            id="template-other-language",
        ),
        pytest.param(
            record({"type": "interactive", "interactive": {"type": "button"}}),
            {"type": "interactive", "interactive": {"type": "button", "body": {"text": "Go?"}}},
            False,
            id="interactive-without-body",
        ),
        pytest.param(
            record({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ann"}}]}),
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "Ann"}}]},
            True,
            id="contacts",
        ),
    ],
)
def test_same_message(stored: dict[str, Any], body: dict[str, Any], expected: bool) -> None:
    assert same_message(stored, body, PHONE) is expected
