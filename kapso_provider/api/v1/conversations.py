"""API v1: conversation end and reactivate, mark as read, conversation assignments."""

from __future__ import annotations

from typing import Any

from kapso_provider.api._unsupported import refuse_on_v1
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.transport.flows import MAX_PAGE_SIZE, Call, Pager, data_object, numbered_pages
from kapso_provider.transport.wire import Request
from kapso_provider.validation import optional_bool, optional_string, path_segment, require_uuid

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_assignment",
    "end_conversation",
    "list_assignments",
    "mark_message_as_read",
    "reactivate_conversation",
    "update_assignment",
)


def _conversation_path(conversation_id: str) -> str:
    return f"/whatsapp_conversations/{path_segment('conversation_id', conversation_id)}"


def _assignments_path(conversation_id: str) -> str:
    return f"{_conversation_path(conversation_id)}/conversation_assignments"


def _set_conversation_status(conversation_id: str, status: str) -> Call[dict[str, Any]]:
    # Both openapi.yaml and openapi-whatsapp.yaml change a conversation's status with this one PATCH
    # (there is no /end or /reactivate endpoint). Setting a status is idempotent, so an ambiguous
    # failure may be retried like a read.
    body = {"whatsapp_conversation": {"status": status}}
    return Call(Request("PATCH", _conversation_path(conversation_id), json=body, retry_ambiguous=True), data_object)


# -- conversation status --


def end_conversation(conversation_id: str) -> Call[dict[str, Any]]:
    """End a conversation (``PATCH /whatsapp_conversations/{id}`` with status ``ended``).

    :param conversation_id: the conversation's id.
    :returns: the updated conversation record.
    """
    return _set_conversation_status(conversation_id, "ended")


def reactivate_conversation(conversation_id: str) -> Call[dict[str, Any]]:
    """Make an ended conversation active again (``PATCH /whatsapp_conversations/{id}`` with ``active``).

    :param conversation_id: the conversation's id.
    :returns: the updated conversation record.
    """
    return _set_conversation_status(conversation_id, "active")


# -- messages --


def mark_message_as_read(
    message_id: str, *, typing_indicator: bool | None = None, phone_number_id: str | None = None
) -> Call[dict[str, Any]]:
    """Mark an inbound message as read (``PATCH /whatsapp_messages/{id}/mark_as_read``).

    Only ``openapi-whatsapp.yaml`` defines this endpoint, with ``PATCH``. Kapso refuses outbound
    messages and skips messages already read, so repeating the call is harmless.

    :param message_id: Kapso's id of the message (a UUID, not WhatsApp's ``wamid``).
    :param typing_indicator: whether WhatsApp shows the customer a typing indicator (Kapso's default:
        yes); ``None`` leaves Kapso's default.
    :param phone_number_id: current API only.
    :returns: the message record.
    :raises KapsoArgumentError: ``message_id`` is not a UUID or ``typing_indicator`` not a bool.
    """
    refuse_on_v1(phone_number_id=phone_number_id)
    require_uuid("message_id", message_id)
    optional_bool("typing_indicator", typing_indicator)
    # A Python bool would reach the query string as "True"; the file declares a JSON boolean.
    params = {} if typing_indicator is None else {"typing_indicator": "true" if typing_indicator else "false"}
    path = f"/whatsapp_messages/{path_segment('message_id', message_id)}/mark_as_read"
    return Call(Request("PATCH", path, params=params, retry_ambiguous=True), data_object)


# -- assignments --


def new_assignment(user_id: str, notes: str | None) -> dict[str, Any]:
    """A new assignment's fields, checked (both generations take the same ones).

    :raises KapsoArgumentError: ``user_id`` is not a UUID or ``notes`` not a string.
    """
    assignment: dict[str, Any] = {"user_id": require_uuid("user_id", user_id)}
    if optional_string("notes", notes) is not None:
        # notes is a plain (not nullable) string in the files: leave it out rather than send null.
        assignment["notes"] = notes
    return assignment


def assignment_changes(user_id: str | None, notes: str | None, active: bool | None) -> dict[str, Any]:
    """The given fields of an assignment update, checked (both generations take the same ones).

    :raises KapsoArgumentError: nothing to change, or a field of the wrong type.
    """
    changes: dict[str, Any] = {}
    if user_id is not None:
        changes["user_id"] = require_uuid("user_id", user_id)
    if optional_string("notes", notes) is not None:
        changes["notes"] = notes
    if optional_bool("active", active) is not None:
        changes["active"] = active
    if not changes:
        raise KapsoArgumentError("update_assignment: give at least one of user_id, notes, active")
    return changes


def list_assignments(conversation_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    """Yield every assignment of a conversation, active or not, fetching pages as the caller iterates.

    The files declare no filter for this list, only ``page`` and ``per_page``.

    :param conversation_id: the conversation's id.
    :param per_page: records per request, 1 to 100.
    """
    return numbered_pages(_assignments_path(conversation_id), per_page=per_page)


def create_assignment(conversation_id: str, *, user_id: str, notes: str | None = None) -> Call[dict[str, Any]]:
    """Assign a conversation to a member of the project.

    ``POST /whatsapp_conversations/{id}/conversation_assignments``. Kapso answers 422 when the user is
    not in the project or the conversation is already assigned. Not retried after an ambiguous
    failure: the first attempt may have created the assignment.

    :param conversation_id: the conversation's id.
    :param user_id: the Kapso user's id (a UUID).
    :param notes: optional notes kept with the assignment.
    :returns: the assignment record (``id``, ``user_id``, ``active``, ``notes``, ``created_at``...).
    :raises KapsoArgumentError: ``user_id`` is not a UUID or ``notes`` not a string.
    """
    body = {"conversation_assignment": new_assignment(user_id, notes)}
    return Call(Request("POST", _assignments_path(conversation_id), json=body), data_object)


def update_assignment(
    conversation_id: str,
    assignment_id: str,
    *,
    user_id: str | None = None,
    notes: str | None = None,
    active: bool | None = None,
) -> Call[dict[str, Any]]:
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
    :raises KapsoArgumentError: nothing to change, or a field of the wrong type.
    """
    changes = assignment_changes(user_id, notes, active)
    path = f"{_assignments_path(conversation_id)}/{path_segment('assignment_id', assignment_id)}"
    return Call(Request("PATCH", path, json={"conversation_assignment": changes}, retry_ambiguous=True), data_object)
