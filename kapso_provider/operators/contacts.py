"""Operators on contacts: notes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from kapso_provider.arguments import (
    is_static,
    parse_time,
    plain_json,
)
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators._base import KapsoHookMixin
from kapso_provider.validation import check_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context


__all__ = ["KapsoCreateContactNoteOperator"]


# A contact given as a phone number, as people write one; anything else is taken for a contact id.
_PHONE_LIKE = re.compile(r"\+?[0-9 ().-]+")


class KapsoCreateContactNoteOperator(KapsoHookMixin, BaseOperator):
    """Add a note to a Kapso contact, e.g. what a campaign sent them, and return the note.

    ``contact`` is the contact's Kapso id or its phone number: Kapso's contact endpoints take either in
    the path (``POST /whatsapp_contacts/{identifier}/notes``), so no lookup request is needed. A phone number
    is sent as its digits, the contact's ``wa_id``. Kapso keeps a contact for every number it has talked
    with; a number it does not know fails the task with Kapso's 404.

    On a retry, the contact's notes are read first: a note with the same content, name and metadata
    created since the DAG run started is returned instead of adding a duplicate (Kapso takes no
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
    # Values are data, never file names: a note ending in ".json" must stay a note.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        contact: str,
        content: str,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contact = contact
        self.content = content
        self.name = name
        self.metadata = metadata
        self.kapso_conn_id = kapso_conn_id
        if all(is_static(getattr(self, field)) for field in ("contact", "content", "name", "metadata")):
            self._check_arguments()

    def _check_arguments(self) -> None:
        """Fail at DAG parse time (or after rendering) for arguments Kapso would refuse.

        :raises KapsoInvalidMessageError: naming every bad argument.
        """
        from kapso_provider.exceptions import KapsoInvalidMessageError
        from kapso_provider.recipients import phone_number_problem

        problems: list[str] = []
        contact = self.contact
        if not isinstance(contact, str) or not contact.strip():
            problems.append(f"contact: must be a contact id or a phone number, got {contact!r}")
        elif _PHONE_LIKE.fullmatch(contact.strip()):
            problem = phone_number_problem(contact.strip())
            if problem:
                problems.append(f"contact: {problem}")
        if not isinstance(self.content, str) or not self.content.strip():
            problems.append(f"content: must be a non-empty string, got {self.content!r}")
        check_text(problems, "name", self.name)
        if self.metadata is not None and not isinstance(self.metadata, Mapping):
            problems.append(f"metadata: must be a dict, got {type(self.metadata).__name__}")
        if problems:
            raise KapsoInvalidMessageError(problems)

    def _earlier_note(self, context: Context) -> dict[str, Any] | None:
        """On a retry, the note an earlier try of this task already got Kapso to store, if any.

        Kapso takes no idempotency key: a try that died after Kapso stored the note (or whose answer was
        lost) would otherwise leave a duplicate. A note of this task run was created after its DAG run
        started, with the same content, name and metadata.
        """
        ti = context.get("ti")
        dag_run = context.get("dag_run")
        if ti is None or ti.try_number <= 1:
            return None
        since = (dag_run.start_date if dag_run is not None else None) or ti.start_date
        if since is None:
            return None
        # Kapso's clock may trail this machine's a little.
        threshold = since - timedelta(minutes=2)
        expected = (self.content, self.name, dict(self.metadata or {}))
        self.log.info("Try %d: looking for a note an earlier try stored before creating one", ti.try_number)
        for note in self.hook.list_contact_notes(self.contact):
            created_at = parse_time(note.get("created_at"))
            same = (note.get("content"), note.get("name"), note.get("metadata") or {}) == expected
            if same and created_at is not None and created_at >= threshold:
                self.log.info("An earlier try stored this note as %s; returning it", note.get("id"))
                return note
        return None

    def execute(self, context: Context) -> dict[str, Any]:

        try:
            self._check_arguments()
        except KapsoArgumentError as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        try:
            note = self._earlier_note(context) or self.hook.create_contact_note(
                self.contact, content=self.content, name=self.name, metadata=self.metadata
            )
        finally:
            self.hook.close()
        self.log.info("Kapso stored contact note %s", note.get("id"))
        result: dict[str, Any] = plain_json(note)
        return result
