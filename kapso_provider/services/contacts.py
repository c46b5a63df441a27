"""A note on a Kapso contact, added once: a task retry returns the note an earlier try stored.

:class:`~kapso_provider.operators.kapso.KapsoCreateContactNoteOperator` is the Airflow face of this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kapso_provider.api.v1.contacts import contact_identifier, new_note
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.validation import raise_problems

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.transport.policy import WarningLog

__all__ = ["ContactNote"]


@dataclass(frozen=True)
class ContactNote:
    """A note for one contact.

    :param contact: the contact's id, or its phone number in international format.
    :param content: the note's text.
    :param name: an optional title.
    :param metadata: free-form data kept with the note.
    """

    contact: str
    content: str
    name: str | None = None
    metadata: Mapping[str, Any] | None = None

    @classmethod
    def checked(cls, *, contact: Any, content: Any, name: Any, metadata: Any) -> ContactNote:
        """The note from rendered operator arguments.

        :raises KapsoArgumentError: naming every argument Kapso would refuse.
        """
        problems: list[str] = []
        for check in (lambda: contact_identifier(contact), lambda: new_note(content, name, metadata)):
            try:
                check()
            except KapsoArgumentError as exc:
                problems.extend(exc.problems)
        raise_problems(problems)
        return cls(contact, content, name, metadata)

    def add(self, hook: KapsoHook, log: WarningLog, *, earlier_try_since: datetime | None = None) -> dict[str, Any]:
        """Add the note and return it; on a task retry, the note an earlier try stored, if it stored one.

        :param earlier_try_since: on a task retry, when its DAG run started: a note with the same content,
            name and metadata that Kapso stored since then is returned instead of a new one (Kapso takes no
            idempotency key, and an earlier try may have stored the note before failing).
        """
        if earlier_try_since is not None:
            earlier: dict[str, Any] | None = hook.find_contact_note(
                self.contact, content=self.content, name=self.name, metadata=self.metadata, since=earlier_try_since
            )
            if earlier is not None:
                log.info("An earlier try stored this note as %s; returning it", earlier.get("id"))
                return earlier
        note: dict[str, Any] = hook.create_contact_note(
            self.contact, content=self.content, name=self.name, metadata=self.metadata
        )
        log.info("Kapso stored contact note %s", note.get("id"))
        return note
