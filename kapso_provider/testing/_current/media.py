"""Media: uploads to the proxy (multipart) and ingests from a URL on the Platform API, with WhatsApp's
type and size limits.

The simulator never fetches anything from the network: an ingest finds its file among the ones a test
declared (:meth:`MediaBook.add_remote`); an unknown URL cannot be fetched.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import hashlib
import mimetypes
import secrets
import uuid
from typing import Any

from kapso_provider.testing._errors import ValidationError

__all__ = ["LIMITS", "MediaBook", "multipart_parts"]

_MB = 1024 * 1024
#: WhatsApp's accepted types and their size limits (``openapi-whatsapp.yaml``, ``POST /{phone_number_id}/media``).
LIMITS: dict[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 * _MB),
    "image/png": ("image", 5 * _MB),
    "video/mp4": ("video", 16 * _MB),
    "video/3gpp": ("video", 16 * _MB),
    "audio/aac": ("audio", 16 * _MB),
    "audio/amr": ("audio", 16 * _MB),
    "audio/mpeg": ("audio", 16 * _MB),
    "audio/mp4": ("audio", 16 * _MB),
    "audio/ogg": ("audio", 16 * _MB),
    "text/plain": ("document", 100 * _MB),
    "application/pdf": ("document", 100 * _MB),
    "application/msword": ("document", 100 * _MB),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("document", 100 * _MB),
    "application/vnd.ms-powerpoint": ("document", 100 * _MB),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("document", 100 * _MB),
    "application/vnd.ms-excel": ("document", 100 * _MB),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 * _MB),
    # An animated sticker may be 500 KB; a static one 100 KB, which the simulator cannot tell apart.
    "image/webp": ("sticker", 500 * 1024),
}


def multipart_parts(content_type: str, body: bytes) -> dict[str, tuple[dict[str, str], bytes]]:
    """The parts of a ``multipart/form-data`` body by field name: ``(part headers, content)``.

    :param content_type: the request's ``Content-Type`` (with its boundary).
    :param body: the raw body.
    :raises ValidationError: 400 when it is not multipart.
    """
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise ValidationError("body", "must be multipart/form-data with a boundary", status=400)
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts: dict[str, tuple[dict[str, str], bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        headers = {key.lower(): str(value) for key, value in part.items()}
        filename = part.get_filename()
        if filename:
            headers["filename"] = filename
        payload = part.get_payload(decode=True)
        parts[name] = (headers, payload if isinstance(payload, bytes) else b"")
    return parts


def check_media(mime_type: str, size: int, field: str, *, too_large: int = 400) -> str:
    """WhatsApp's rule for one file; returns its kind (``image``, ``document``, ...).

    :param mime_type: its MIME type.
    :param size: its size in bytes.
    :param field: the field named in a refusal.
    :param too_large: the status of a file over its type's limit (the ingest answers 413).
    :raises ValidationError: 400 for a type WhatsApp refuses, ``too_large`` for a file over its limit.
    """
    if mime_type not in LIMITS:
        raise ValidationError(field, f"type {mime_type!r} is not one WhatsApp accepts", status=400)
    kind, limit = LIMITS[mime_type]
    if size > limit:
        raise ValidationError(
            field, f"is {size} bytes; the limit for {kind} ({mime_type}) is {limit}", status=too_large
        )
    return kind


class MediaBook:
    """Uploaded and ingested media, and the files tests put "at" URLs. Callers hold the store's lock."""

    def __init__(self) -> None:
        self._media: dict[str, dict[str, Any]] = {}
        self._remote: dict[str, dict[str, Any]] = {}

    def upload(self, *, phone_number_id: str, filename: str, mime_type: str, content: bytes) -> dict[str, Any]:
        """Keep an uploaded file; returns its record (``id`` is the media id to send with).

        :param phone_number_id: the business number it was uploaded for.
        :param filename: its name.
        :param mime_type: its type.
        :param content: its bytes.
        :raises ValidationError: for a type or size WhatsApp refuses.
        """
        kind = check_media(mime_type, len(content), "file")
        record: dict[str, Any] = {
            "id": str(secrets.randbelow(10**15) + 10**15),
            "phone_number_id": phone_number_id,
            "filename": filename,
            "mime_type": mime_type,
            "kind": kind,
            "size_bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        self._media[record["id"]] = record
        return copy.deepcopy(record)

    def add_remote(
        self, url: str, *, mime_type: str | None = None, size_bytes: int = 1024, filename: str | None = None
    ) -> None:
        """Declare a file at ``url`` for ingests to find (the simulator fetches nothing).

        :param url: its public URL.
        :param mime_type: its type (guessed from the URL when ``None``).
        :param size_bytes: its size.
        :param filename: its name (the URL's last segment when ``None``).
        """
        name = filename or url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "file"
        guessed = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._remote[url] = {"mime_type": guessed, "size_bytes": int(size_bytes), "filename": name}

    def ingest(self, *, phone_number_id: str, url: str, delivery: str) -> dict[str, Any]:
        """Ingest a declared remote file; returns the ``MediaIngestData``.

        :param phone_number_id: the business number it is for.
        :param url: its URL.
        :param delivery: ``meta_media`` (a media id) or ``meta_resumable_asset`` (a handle).
        :raises KeyError: for a URL no test declared.
        :raises ValidationError: for a type or size WhatsApp refuses.
        """
        remote = self._remote[url]
        check_media(remote["mime_type"], remote["size_bytes"], "media_ingest.source", too_large=413)
        media = self.upload(
            phone_number_id=phone_number_id,
            filename=remote["filename"],
            mime_type=remote["mime_type"],
            content=b"",
        )
        media.update(size_bytes=remote["size_bytes"], sha256=hashlib.sha256(url.encode()).hexdigest())
        self._media[media["id"]].update(size_bytes=remote["size_bytes"], source_url=url)
        target: dict[str, Any] = {"kind": delivery}
        if delivery == "meta_media":
            target["media_id"] = media["id"]
        else:
            target["handle"] = f"4::{secrets.token_urlsafe(12)}"
        return {
            "ingest_id": str(uuid.uuid4()),
            "target": target,
            "resource": {
                "filename": media["filename"],
                "mime_type": media["mime_type"],
                "size_bytes": media["size_bytes"],
                "sha256": media["sha256"],
                "source_url": url,
            },
        }

    def all(self) -> list[dict[str, Any]]:
        """Every media record, in upload order."""
        return copy.deepcopy(list(self._media.values()))

    def clear(self) -> None:
        """Forget every upload and declared file."""
        self._media.clear()
        self._remote.clear()
