"""Current API: a conversation's status (end, reactivate) and its assignments, on the Platform API.

A conversation's status changes with ``PATCH /platform/v1/whatsapp/conversations/{id}`` (``active`` or
``ended``), as on API v1. Assignments are page-numbered and wrap their bodies in ``assignment`` (API v1:
``conversation_assignment``). Listing and reading conversations is :mod:`kapso_provider.api.current.messages`'.
"""

from __future__ import annotations

from typing import Any

from kapso_provider.api.current._wire import platform_path
from kapso_provider.api.v1.conversations import assignment_changes, new_assignment
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Pager,
    data_object,
    numbered_pages,
)
from kapso_provider.transport.wire import Request
from kapso_provider.validation import (
    require_uuid,
)

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_assignment",
    "end_conversation",
    "get_assignment",
    "list_assignments",
    "reactivate_conversation",
    "update_assignment",
)


def _conversation_path(conversation_id: str, *rest: tuple[str, str] | str) -> str:
    # The file declares conversation ids (and assignment ids) ``format: uuid``.
    return platform_path(
        "whatsapp", "conversations", ("conversation_id", require_uuid("conversation_id", conversation_id)), *rest
    )


def _assignment_path(conversation_id: str, assignment_id: str) -> str:
    assignment = ("assignment_id", require_uuid("assignment_id", assignment_id))
    return _conversation_path(conversation_id, "assignments", assignment)


def _set_conversation_status(conversation_id: str, status: str) -> Call[dict[str, Any]]:
    # Setting a status is idempotent, so an ambiguous failure may be retried like a read.
    body = {"whatsapp_conversation": {"status": status}}
    return Call(Request("PATCH", _conversation_path(conversation_id), json=body, retry_ambiguous=True), data_object)


def end_conversation(conversation_id: str) -> Call[dict[str, Any]]:
    """End a conversation (``PATCH /whatsapp/conversations/{id}`` with status ``ended``).

    :param conversation_id: the conversation's id (a UUID).
    :returns: the updated conversation record.
    """
    return _set_conversation_status(conversation_id, "ended")


def reactivate_conversation(conversation_id: str) -> Call[dict[str, Any]]:
    """Make an ended conversation active again (``PATCH /whatsapp/conversations/{id}`` with ``active``).

    :param conversation_id: the conversation's id (a UUID).
    :returns: the updated conversation record.
    """
    return _set_conversation_status(conversation_id, "active")


# -- assignments --


def list_assignments(conversation_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    """Yield every assignment of a conversation, active or not (page-numbered, as on API v1).

    :param conversation_id: the conversation's id (a UUID).
    :param per_page: records per request, 1 to 100.
    """
    return numbered_pages(_conversation_path(conversation_id, "assignments"), per_page=per_page)


def get_assignment(conversation_id: str, assignment_id: str) -> Call[dict[str, Any]]:
    """Return one assignment of a conversation (current API only; API v1 has no such read).

    :param conversation_id: the conversation's id (a UUID).
    :param assignment_id: the assignment's id (a UUID).
    """
    return Call(Request("GET", _assignment_path(conversation_id, assignment_id)), data_object)


def create_assignment(conversation_id: str, *, user_id: str, notes: str | None = None) -> Call[dict[str, Any]]:
    """Assign a conversation to a member of the project (``POST .../assignments``).

    Not retried after an ambiguous failure: the first attempt may have created the assignment (list the
    conversation's assignments to learn it).

    :param conversation_id: the conversation's id (a UUID).
    :param user_id: the Kapso user's id (a UUID).
    :param notes: optional notes kept with the assignment.
    :returns: the assignment record (``id``, ``user_id``, ``active``, ``notes``, ``created_at``...).
    :raises KapsoArgumentError: ``user_id`` is not a UUID or ``notes`` not a string.
    """
    path = _conversation_path(conversation_id, "assignments")
    return Call(Request("POST", path, json={"assignment": new_assignment(user_id, notes)}), data_object)


def update_assignment(
    conversation_id: str,
    assignment_id: str,
    *,
    user_id: str | None = None,
    notes: str | None = None,
    active: bool | None = None,
) -> Call[dict[str, Any]]:
    """Change an assignment: hand it to another user, rewrite its notes, or deactivate it.

    ``PATCH .../assignments/{id}``; only the given fields are sent, and at least one must be. Setting values
    is idempotent, so an ambiguous failure is retried.

    :param conversation_id: the conversation's id (a UUID).
    :param assignment_id: the assignment's id (a UUID).
    :param user_id: the new assignee's id (a UUID).
    :param notes: the new notes.
    :param active: ``False`` ends the assignment.
    :returns: the updated assignment record.
    :raises KapsoArgumentError: nothing to change, or a field of the wrong type.
    """
    changes = assignment_changes(user_id, notes, active)
    path = _assignment_path(conversation_id, assignment_id)
    return Call(Request("PATCH", path, json={"assignment": changes}, retry_ambiguous=True), data_object)
