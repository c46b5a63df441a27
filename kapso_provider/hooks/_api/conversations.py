"""KapsoHook methods for conversation end and reactivate, mark as read, conversation assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import is_uuid
from kapso_provider.exceptions import KapsoConfigurationError
from kapso_provider.hooks._api._base import MAX_PAGE_SIZE, path_segment

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.hooks._api._base import KapsoTransport


def require_uuid(name: str, value: object) -> str:
    """``value`` when it is a UUID string, as the OpenAPI files' ``format: uuid`` asks.

    Checked before any request, so a wrong id (a WhatsApp ``wamid`` where Kapso's id belongs, a user's
    e-mail instead of their id) fails with the field's name instead of Kapso's bare 404 or 422.

    :param name: the argument's name, quoted in the error.
    :param value: what the caller gave.
    :raises KapsoConfigurationError: when ``value`` is not a UUID string.
    """
    if is_uuid(value):
        return value
    raise KapsoConfigurationError(f"{name}: must be a UUID (Kapso's id), got {value!r}")


def optional_string(name: str, value: object) -> str | None:
    """``value`` when it is ``None`` or a string; the files type these body fields ``string`` (not nullable)."""
    if value is None or isinstance(value, str):
        return value
    raise KapsoConfigurationError(f"{name}: must be a string, got {type(value).__name__}")


def _conversation_path(conversation_id: str) -> str:
    return f"/whatsapp_conversations/{path_segment(conversation_id)}"


def _assignments_path(conversation_id: str) -> str:
    return f"{_conversation_path(conversation_id)}/conversation_assignments"


def _set_conversation_status(transport: KapsoTransport, conversation_id: str, status: str) -> dict[str, Any]:
    # Both openapi.yaml and openapi-whatsapp.yaml change a conversation's status with this one PATCH
    # (there is no /end or /reactivate endpoint). Setting a status is idempotent, so an ambiguous
    # failure may be retried like a read.
    return transport._data(
        "PATCH",
        _conversation_path(conversation_id),
        json={"whatsapp_conversation": {"status": status}},
        retry_ambiguous=True,
    )


class ConversationsAPI:
    """Kapso API v1: conversation end and reactivate, mark as read, conversation assignments.

    Mixed into :class:`~kapso_provider.hooks.kapso.KapsoHook`.
    """

    # -- conversation status --

    def end_conversation(self: KapsoTransport, conversation_id: str) -> dict[str, Any]:
        """End a conversation (``PATCH /whatsapp_conversations/{id}`` with status ``ended``).

        :param conversation_id: the conversation's id.
        :returns: the updated conversation record.
        """
        return _set_conversation_status(self, conversation_id, "ended")

    def reactivate_conversation(self: KapsoTransport, conversation_id: str) -> dict[str, Any]:
        """Make an ended conversation active again (``PATCH /whatsapp_conversations/{id}`` with ``active``).

        :param conversation_id: the conversation's id.
        :returns: the updated conversation record.
        """
        return _set_conversation_status(self, conversation_id, "active")

    # -- messages --

    def mark_message_as_read(
        self: KapsoTransport, message_id: str, *, typing_indicator: bool | None = None
    ) -> dict[str, Any]:
        """Mark an inbound message as read (``PATCH /whatsapp_messages/{id}/mark_as_read``).

        Only ``openapi-whatsapp.yaml`` defines this endpoint, with ``PATCH``. Kapso refuses outbound
        messages and skips messages already read, so repeating the call is harmless.

        :param message_id: Kapso's id of the message (a UUID, not WhatsApp's ``wamid``).
        :param typing_indicator: whether WhatsApp shows the customer a typing indicator (Kapso's default:
            yes); ``None`` leaves Kapso's default.
        :returns: the message record.
        :raises KapsoConfigurationError: ``message_id`` is not a UUID or ``typing_indicator`` not a bool.
        """
        require_uuid("message_id", message_id)
        if typing_indicator is not None and not isinstance(typing_indicator, bool):
            raise KapsoConfigurationError(f"typing_indicator: must be true or false, got {typing_indicator!r}")
        # A Python bool would reach the query string as "True"; the file declares a JSON boolean.
        params = None if typing_indicator is None else {"typing_indicator": "true" if typing_indicator else "false"}
        return self._data(
            "PATCH",
            f"/whatsapp_messages/{path_segment(message_id)}/mark_as_read",
            params=params,
            retry_ambiguous=True,
        )

    # -- assignments --

    def list_assignments(
        self: KapsoTransport, conversation_id: str, *, per_page: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield every assignment of a conversation, active or not, fetching pages as the caller iterates.

        The files declare no filter for this list, only ``page`` and ``per_page``.

        :param conversation_id: the conversation's id.
        :param per_page: records per request, 1 to 100.
        """
        return self.paginate(_assignments_path(conversation_id), per_page=per_page)

    def create_assignment(
        self: KapsoTransport, conversation_id: str, *, user_id: str, notes: str | None = None
    ) -> dict[str, Any]:
        """Assign a conversation to a member of the project.

        ``POST /whatsapp_conversations/{id}/conversation_assignments``. Kapso answers 422 when the user is
        not in the project or the conversation is already assigned. Not retried after an ambiguous
        failure: the first attempt may have created the assignment.

        :param conversation_id: the conversation's id.
        :param user_id: the Kapso user's id (a UUID).
        :param notes: optional notes kept with the assignment.
        :returns: the assignment record (``id``, ``user_id``, ``active``, ``notes``, ``created_at``...).
        :raises KapsoConfigurationError: ``user_id`` is not a UUID or ``notes`` not a string.
        """
        assignment: dict[str, Any] = {"user_id": require_uuid("user_id", user_id)}
        if optional_string("notes", notes) is not None:
            # notes is a plain (not nullable) string in the files: leave it out rather than send null.
            assignment["notes"] = notes
        return self._data("POST", _assignments_path(conversation_id), json={"conversation_assignment": assignment})

    def update_assignment(
        self: KapsoTransport,
        conversation_id: str,
        assignment_id: str,
        *,
        user_id: str | None = None,
        notes: str | None = None,
        active: bool | None = None,
    ) -> dict[str, Any]:
        """Change an assignment: hand it to another user, rewrite its notes, or deactivate it.

        ``PATCH /whatsapp_conversations/{id}/conversation_assignments/{assignment_id}``; only the given
        fields are sent, and at least one must be. Setting values is idempotent, so an ambiguous failure is
        retried.

        :param conversation_id: the conversation's id.
        :param assignment_id: the assignment's id.
        :param user_id: the new assignee's id (a UUID).
        :param notes: the new notes.
        :param active: ``False`` ends the assignment.
        :returns: the updated assignment record.
        :raises KapsoConfigurationError: nothing to change, or a field of the wrong type.
        """
        changes: dict[str, Any] = {}
        if user_id is not None:
            changes["user_id"] = require_uuid("user_id", user_id)
        if optional_string("notes", notes) is not None:
            changes["notes"] = notes
        if active is not None:
            if not isinstance(active, bool):
                raise KapsoConfigurationError(f"active: must be true or false, got {active!r}")
            changes["active"] = active
        if not changes:
            raise KapsoConfigurationError("update_assignment: give at least one of user_id, notes, active")
        return self._data(
            "PATCH",
            f"{_assignments_path(conversation_id)}/{path_segment(assignment_id)}",
            json={"conversation_assignment": changes},
            retry_ambiguous=True,
        )
