"""Kapso's current API: media for messages, uploaded from a local file or ingested from a URL.

``upload_media`` sends a file this machine holds (a report a DAG just wrote) to the proxy's
``POST /{phone_number_id}/media`` as ``multipart/form-data``; ``upload_media_from_url`` has Kapso fetch a
public URL (Platform ``POST /whatsapp/media``). Both return the WhatsApp media id to send with
``media_id=``. WhatsApp's types and sizes (:data:`~kapso_provider.models.MEDIA_LIMITS`) are checked before
an upload; a URL's size is known only to Kapso, which refuses an oversized file with a 413. An upload that
failed ambiguously is tried again: at worst WhatsApp holds an unused copy for its 30 days.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from kapso_provider.api.current._wire import platform_path, proxy_path, sender
from kapso_provider.exceptions import KapsoArgumentError, KapsoServerError
from kapso_provider.models._limits import HTTP_URL, MEDIA_EXTENSIONS, MEDIA_LIMITS, compiled_pattern
from kapso_provider.transport.flows import Flow, FlowContext, Steps, data_object, request, whole_object
from kapso_provider.transport.wire import FilePart, Multipart, Request
from kapso_provider.validation import optional_string, require_text

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = ("upload_media", "upload_media_from_url")


def _media_type(mime_type: str) -> str | None:
    """``image``, ``video``, ``audio``, ``document`` or ``sticker`` for a MIME type WhatsApp takes."""
    return next((kind for kind, (types, _) in MEDIA_LIMITS.items() if mime_type in types), None)


def _accepted() -> str:
    return ", ".join(f"{kind} ({', '.join(types)})" for kind, (types, _) in MEDIA_LIMITS.items())


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def _mime_type_of(file: Path, mime_type: str | None) -> str:
    if mime_type is not None:
        return mime_type
    known = MEDIA_EXTENSIONS.get(file.suffix.lower())
    guessed = known or mimetypes.guess_type(file.name)[0]
    if guessed is None:
        raise KapsoArgumentError(
            f"file_path: cannot tell the type of {file.name!r} from its name; give mime_type (one of {_accepted()})"
        )
    return guessed


def _check_type(name: str, mime_type: str) -> str:
    kind = _media_type(mime_type)
    if kind is None:
        raise KapsoArgumentError(f"{name}: {mime_type!r} is not a type WhatsApp sends; it takes {_accepted()}")
    return kind


def _media_result(media_id: Any, req: Request, **details: Any) -> dict[str, Any]:
    if not isinstance(media_id, str) or not media_id:
        raise KapsoServerError(status=None, method=req.method, path=req.path, error_text="answer names no media id")
    return {"id": media_id, **details}


def upload_media(
    file_path: str, *, phone_number_id: str | None = None, mime_type: str | None = None
) -> Flow[dict[str, Any]]:
    """Upload a local file to WhatsApp and return its media id (``POST /{phone_number_id}/media``).

    :param file_path: the file; its type comes from its name (``.pdf``, ``.png``, ``.ogg`` ...) unless
        ``mime_type`` is given.
    :param phone_number_id: the WhatsApp number that will send it (default: the connection's).
    :param mime_type: the file's MIME type, e.g. ``application/pdf``.
    :returns: ``{"id": <media id>, "media_type", "mime_type", "filename", "size_bytes"}``.
    :raises KapsoArgumentError: no such file, a type WhatsApp does not take, or a file over its size limit.
    """
    file = Path(require_text("file_path", file_path)).expanduser()
    if not file.is_file():
        raise KapsoArgumentError(f"file_path: {str(file)!r} is not a file this machine can read")
    chosen = _mime_type_of(file, optional_string("mime_type", mime_type))
    kind = _check_type("mime_type" if mime_type is not None else "file_path", chosen)
    size, limit = file.stat().st_size, MEDIA_LIMITS[kind][1]
    if size > limit:
        raise KapsoArgumentError(
            f"file_path: {file.name!r} is {_megabytes(size)} ({size} bytes), over WhatsApp's limit of "
            f"{_megabytes(limit)} for {kind} files ({chosen})"
        )
    if size == 0:
        raise KapsoArgumentError(f"file_path: {file.name!r} is empty")
    content = file.read_bytes()
    body = Multipart(fields={"messaging_product": "whatsapp"}, files=(FilePart("file", file.name, content, chosen),))

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        number = sender(context, phone_number_id)
        path = proxy_path(("phone_number_id", number), "media")
        req = Request("POST", path, multipart=body, retry_ambiguous=True)
        answer = whole_object((yield from request(context, req)), req)
        return _media_result(
            answer.get("id"), req, media_type=kind, mime_type=chosen, filename=file.name, size_bytes=size
        )

    return Flow(run)


def upload_media_from_url(
    url: str,
    *,
    phone_number_id: str | None = None,
    filename: str | None = None,
    mime_type: str | None = None,
) -> Flow[dict[str, Any]]:
    """Have Kapso fetch a public URL into WhatsApp and return the media id (Platform ``POST /whatsapp/media``).

    :param url: the file's public http(s) URL (Kapso refuses private and local addresses).
    :param phone_number_id: the WhatsApp number that will send it (default: the connection's).
    :param filename: the file name to keep with it.
    :param mime_type: the file's MIME type, when the URL's answer may not say it right.
    :returns: ``{"id": <media id>, "media_type", "mime_type", "filename", "size_bytes"}``, as Kapso reports.
    :raises KapsoArgumentError: not an http(s) URL, or a type WhatsApp does not take.
    """
    source = require_text("url", url)
    if not compiled_pattern(HTTP_URL).fullmatch(source):
        raise KapsoArgumentError(f"url: {source[:60]!r} is not an http(s) URL")
    optional_string("filename", filename)
    if optional_string("mime_type", mime_type) is not None:
        _check_type("mime_type", str(mime_type))

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        ingest: dict[str, Any] = {"phone_number_id": sender(context, phone_number_id), "source": source}
        ingest["delivery"] = "meta_media"
        ingest.update({key: value for key, value in (("filename", filename), ("mime_type", mime_type)) if value})
        req = Request("POST", platform_path("whatsapp", "media"), json={"media_ingest": ingest}, retry_ambiguous=True)
        data = data_object((yield from request(context, req)), req)
        target, resource = (data.get(key) for key in ("target", "resource"))
        target = target if isinstance(target, dict) else {}
        resource = resource if isinstance(resource, dict) else {}
        found_type = resource.get("mime_type") or mime_type
        return _media_result(
            target.get("media_id"),
            req,
            media_type=_media_type(str(found_type)) if found_type else None,
            mime_type=found_type,
            filename=resource.get("filename") or filename,
            size_bytes=resource.get("size_bytes"),
        )

    return Flow(run)
