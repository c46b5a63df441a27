"""Operators for the media a message carries: upload a file or a URL to WhatsApp, get its media id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import plain_json
from kapso_provider.operators._base import KapsoBaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context, XComArg

    from kapso_provider.operators._base import KapsoOperatorArguments

__all__ = ["KapsoUploadMediaOperator"]


def _source_problems(file_path: object, url: object) -> list[str]:
    if (file_path is None) == (url is None):
        return ["file_path: give exactly one of file_path (a file on the worker) or url (a public http(s) URL)"]
    return []


class KapsoUploadMediaOperator(KapsoBaseOperator):
    """Upload a file to WhatsApp through Kapso's current API and return its media id, for ``media_id=``.

    Give ``file_path``, a file the worker can read (a report an upstream task just wrote): it is uploaded to
    the proxy's ``POST /{phone_number_id}/media``; or ``url``, a public http(s) URL that Kapso fetches itself
    (the Platform API's media ingest). WhatsApp's types and size limits (images 5 MB, audio and video 16 MB,
    documents 100 MB, stickers 500 KB) are checked before a file is uploaded. A retry uploads again: at worst
    WhatsApp keeps an unused copy for its 30 days. API v1 has no media upload and fails the task before any
    request.

    The returned record (the XCom ``return_value``) is plain JSON: ``{"id": <media id>, "media_type",
    "mime_type", "filename", "size_bytes"}``; send it with
    ``media_id="{{ ti.xcom_pull(task_ids='upload')['id'] }}"``.

    :param file_path: the file to upload; excludes ``url``. (templated)
    :param url: the public URL Kapso fetches the file from; excludes ``file_path``. (templated)
    :param mime_type: the file's MIME type, when its name does not tell it (``application/pdf``). (templated)
    :param filename: with ``url``, the file name to keep. (templated)
    :param phone_number_id: the WhatsApp number that will send it (default: the connection's). (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "file_path", "url", "mime_type", "filename", "phone_number_id")

    def __init__(
        self,
        *,
        file_path: str | XComArg | None = None,
        url: str | XComArg | None = None,
        mime_type: str | None = None,
        filename: str | None = None,
        phone_number_id: str | None = None,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        from kapso_provider.validation import raise_problems

        super().__init__(**kwargs)
        self.file_path = file_path
        self.url = url
        self.mime_type = mime_type
        self.filename = filename
        self.phone_number_id = phone_number_id
        raise_problems(_source_problems(file_path, url))
        if file_path is not None and filename is not None:
            raise_problems(["filename: only with url; an uploaded file keeps its own name"])

    def execute(self, context: Context) -> dict[str, Any]:
        with self.running():
            if self.file_path is not None:
                media = self.hook.upload_media(
                    str(self.file_path), phone_number_id=self.phone_number_id, mime_type=self.mime_type
                )
            else:
                media = self.hook.upload_media_from_url(
                    str(self.url),
                    phone_number_id=self.phone_number_id,
                    filename=self.filename,
                    mime_type=self.mime_type,
                )
        self.log.info("WhatsApp holds the %s as media %s", media.get("media_type") or "file", media.get("id"))
        result: dict[str, Any] = plain_json(media)
        return result
