"""Media on Kapso's current API: a local file uploaded as multipart, a URL ingested; WhatsApp's types and sizes
checked before anything is uploaded."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.hooks.kapso import KapsoAsyncHook, KapsoHook
from kapso_provider.testing._current.media import multipart_parts
from tests._openapi import assert_current_requests_valid

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"


@pytest.fixture(autouse=True)
def _requests_are_valid(kapso_current_server: KapsoServer) -> Iterator[None]:
    yield
    assert_current_requests_valid(kapso_current_server.simulator.requests, at_least=0)


def test_a_local_report_is_uploaded_and_sent_by_its_media_id(
    hook: KapsoHook, simulator: KapsoSimulator, tmp_path: Path
) -> None:
    report = tmp_path / "sales.pdf"
    report.write_bytes(b"%PDF-1.4 the numbers")
    media = hook.upload_media(str(report))
    assert media == {
        "id": media["id"],
        "media_type": "document",
        "mime_type": "application/pdf",
        "filename": "sales.pdf",
        "size_bytes": report.stat().st_size,
    }
    (upload,) = simulator.requests
    assert upload.full_path == f"/meta/whatsapp/v24.0/{simulator.default_phone_number_id}/media"
    parts = multipart_parts(str(upload.headers["Content-Type"]), upload.body)
    assert parts["messaging_product"][1] == b"whatsapp"
    assert parts["file"][1] == b"%PDF-1.4 the numbers"
    assert (parts["file"][0]["content-type"], parts["file"][0]["filename"]) == ("application/pdf", "sales.pdf")
    record = hook.send_message(
        {"message_type": "document", "media_id": media["id"], "filename": "sales.pdf"}, phone_number=PHONE
    )
    assert record["message_type"] == "document"


def test_the_async_hook_uploads_alike(kapso_current_server: KapsoServer, tmp_path: Path) -> None:
    picture = tmp_path / "chart.png"
    picture.write_bytes(b"\x89PNG chart")

    async def upload() -> dict[str, Any]:
        hook = KapsoAsyncHook()
        try:
            return await hook.upload_media(str(picture))
        finally:
            await hook.aclose()

    assert asyncio.run(upload())["media_type"] == "image"


@pytest.mark.parametrize(
    ("name", "size", "mime_type", "expected"),
    [
        pytest.param(
            "big.png",
            5 * 1024 * 1024 + 1,
            None,
            "file_path: 'big.png' is 5.0 MB (5242881 bytes), over WhatsApp's limit of 5.0 MB for image files",
            id="image-too-big",
        ),
        pytest.param(
            "s.webp",
            500 * 1024 + 1,
            None,
            "file_path: 's.webp' is 500 KB (512001 bytes), over WhatsApp's limit of 500 KB for sticker",
            id="sticker-too-big",
        ),
        pytest.param("setup.exe", 10, None, "file_path: 'application/", id="not-whatsapps-type"),
        pytest.param(
            "notes", 10, None, "file_path: cannot tell the type of 'notes' from its name; give mime_type", id="no-type"
        ),
        pytest.param("notes", 10, "image/gif", "mime_type: 'image/gif' is not a type WhatsApp sends", id="gif"),
        pytest.param("empty.pdf", 0, None, "file_path: 'empty.pdf' is empty", id="empty"),
    ],
)
def test_whatsapps_limits_are_checked_before_uploading(
    hook: KapsoHook,
    simulator: KapsoSimulator,
    tmp_path: Path,
    name: str,
    size: int,
    mime_type: str | None,
    expected: str,
) -> None:
    file = tmp_path / name
    with file.open("wb") as handle:
        handle.truncate(size)
    with pytest.raises(KapsoArgumentError, match="^" + re.escape(expected)):
        hook.upload_media(str(file), mime_type=mime_type)
    assert simulator.requests == []


def test_a_missing_file_is_refused(hook: KapsoHook, simulator: KapsoSimulator, tmp_path: Path) -> None:
    with pytest.raises(KapsoArgumentError, match="is not a file this machine can read"):
        hook.upload_media(str(tmp_path / "gone.pdf"))
    assert simulator.requests == []


def test_a_url_is_ingested(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    url = "https://cdn.example.com/invoice.pdf"
    simulator.media.add_remote(url, mime_type="application/pdf", size_bytes=2048)
    media = hook.upload_media_from_url(url, filename="Invoice.pdf")
    assert media["id"]
    assert (media["media_type"], media["mime_type"], media["size_bytes"]) == ("document", "application/pdf", 2048)
    (ingest,) = simulator.requests
    assert ingest.full_path == "/platform/v1/whatsapp/media"
    assert ingest.json == {
        "media_ingest": {
            "phone_number_id": simulator.default_phone_number_id,
            "source": url,
            "delivery": "meta_media",
            "filename": "Invoice.pdf",
        }
    }


@pytest.mark.parametrize(
    ("url", "mime_type", "expected"),
    [
        pytest.param("file:///etc/passwd", None, "url: 'file:///etc/passwd' is not an http(s) URL", id="not-http"),
        pytest.param(
            "https://e.com/a.gif", "image/gif", "mime_type: 'image/gif' is not a type WhatsApp sends", id="gif"
        ),
    ],
)
def test_a_bad_url_is_refused_before_any_request(
    hook: KapsoHook, simulator: KapsoSimulator, url: str, mime_type: str | None, expected: str
) -> None:
    with pytest.raises(KapsoArgumentError, match="^" + re.escape(expected)):
        hook.upload_media_from_url(url, mime_type=mime_type)
    assert simulator.requests == []
