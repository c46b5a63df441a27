"""Operators on contacts: notes (the work is :mod:`kapso_provider.services.contacts`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import plain_json
from kapso_provider.operators._base import KapsoBaseOperator

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.operators._base import KapsoOperatorArguments
    from kapso_provider.services.contacts import ContactNote


__all__ = ["KapsoCreateContactNoteOperator"]


class KapsoCreateContactNoteOperator(KapsoBaseOperator):
    """Add a note to a Kapso contact, e.g. what a campaign sent them, and return the note.

    ``contact`` is the contact's Kapso id or its phone number: Kapso's contact endpoints take either in
    the path (``POST /whatsapp_contacts/{identifier}/notes``), so no lookup request is needed. A phone number
    is sent as its digits, the contact's ``wa_id``. Kapso keeps a contact for every number it has talked
    with; a number it does not know fails the task with Kapso's 404.

    On a retry, the contact's notes are read first: a note with the same content, name and metadata
    created since the DAG run started (on Kapso's clock) is returned instead of adding a duplicate (Kapso takes no
    idempotency key, and an earlier try may have stored the note before failing).

    Returns (and pushes to XCom) the note as plain JSON: ``id``, ``name``, ``content``, ``metadata``,
    ``created_at``, ``updated_at``.

    :param contact: the contact's id, or its phone number in international format. (templated)
    :param content: the note's text. (templated)
    :param name: an optional title for the note. (templated)
    :param metadata: free-form data kept with the note, a dict. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "contact", "content", "name", "metadata")

    def __init__(
        self,
        *,
        contact: str,
        content: str,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.contact = contact
        self.content = content
        self.name = name
        self.metadata = metadata
        self.check_when_static(self._note)

    def _note(self) -> ContactNote:
        from kapso_provider.services.contacts import ContactNote

        return ContactNote.checked(**self.template_values())

    def execute(self, context: Context) -> dict[str, Any]:
        with self.running():
            note = self._note().add(self.hook, self.log, earlier_try_since=self.earlier_try_since(context))
        result: dict[str, Any] = plain_json(note)
        return result
