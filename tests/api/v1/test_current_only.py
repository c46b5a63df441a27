"""API v1 refuses, before any request, what only Kapso's current API sends: its kinds, fields and arguments."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoUnsupportedError
from kapso_provider.hooks.kapso import KapsoHook

if TYPE_CHECKING:
    from pathlib import Path

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
ON_V1 = "this connection speaks API v1 (set the connection's extra 'api' to 'current')"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {"message_type": "sticker", "media_id": "1"},
            f"message_type: sticker messages exist only on Kapso's current API, and {ON_V1}",
            id="sticker",
        ),
        pytest.param(
            {
                "message_type": "interactive",
                "interactive_type": "cta_url",
                "body_text": "b",
                "button_text": "Open",
                "button_url": "https://example.com",
            },
            f"interactive_type: cta_url messages exist only on Kapso's current API, and {ON_V1}",
            id="cta-url",
        ),
        pytest.param(
            {"content": "see https://example.com", "preview_url": True},
            f"preview_url: only Kapso's current API sends it, and {ON_V1}, or leave preview_url out",
            id="preview-url",
        ),
        pytest.param(
            {"message_type": "audio", "media_id": "1", "voice": False},
            f"voice: only Kapso's current API sends it, and {ON_V1}, or leave voice out",
            id="voice",
        ),
        pytest.param(
            {"message_type": "template", "template_name": "t", "template_language": "en", "marketing": True},
            f"marketing: only Kapso's current API sends it, and {ON_V1}, or leave marketing out",
            id="marketing",
        ),
        pytest.param(
            {"type": "text", "text": {"body": "hi"}},
            "message: a WhatsApp Cloud API body (a mapping with 'type') is the native form of Kapso's current API",
            id="cloud-api-body",
        ),
    ],
)
def test_a_current_only_message_is_refused(kapso_server: KapsoServer, message: dict[str, Any], expected: str) -> None:
    with pytest.raises(KapsoUnsupportedError, match="^" + re.escape(expected)):
        KapsoHook().send_message(message, phone_number=PHONE)
    assert kapso_server.simulator.requests == []


@pytest.mark.parametrize("argument", ["phone_number_id", "reply_to_message_id", "biz_opaque_callback_data"])
def test_a_current_only_argument_is_refused(kapso_server: KapsoServer, argument: str) -> None:
    with pytest.raises(KapsoUnsupportedError, match=f"^{argument}: only Kapso's current API takes it"):
        KapsoHook().send_message({"content": "hi"}, phone_number=PHONE, **{argument: "x"})
    assert kapso_server.simulator.requests == []


def test_media_upload_exists_only_on_the_current_api(kapso_server: KapsoServer, tmp_path: Path) -> None:
    report = tmp_path / "r.pdf"
    report.write_bytes(b"%PDF")
    expected = "upload_media: Kapso's API v1 has no such operation; it exists on Kapso's current API"
    with pytest.raises(KapsoUnsupportedError, match="^" + re.escape(expected)):
        KapsoHook().upload_media(str(report))
    with pytest.raises(KapsoUnsupportedError, match=r"^upload_media_from_url: "):
        KapsoHook().upload_media_from_url("https://example.com/a.pdf")
    assert kapso_server.simulator.requests == []
