"""A conversation assigned to a member of the project, once: an active assignment to them is kept.

:class:`~kapso_provider.operators.kapso.KapsoAssignConversationOperator` is the Airflow face of this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.validation import check_text, is_uuid, raise_problems

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.transport.policy import WarningLog

__all__ = ["assign_conversation", "assignment_problems"]


def assignment_problems(arguments: Mapping[str, Any]) -> list[str]:
    """What is wrong with the given assignment arguments, one line per field (no I/O).

    :param arguments: some or all of ``conversation_id``, ``user_id`` and ``notes``; absent ones are not checked.
    """
    problems: list[str] = []
    if "conversation_id" in arguments:
        check_text(problems, "conversation_id", arguments["conversation_id"], required=True)
    if "user_id" in arguments and not is_uuid(arguments["user_id"]):
        # Kapso's user ids are UUIDs (format: uuid in both files); a name or an e-mail would get a 422.
        problems.append(f"user_id: must be the Kapso user's id (a UUID), got {arguments['user_id']!r}")
    if "notes" in arguments and arguments["notes"] is not None and not isinstance(arguments["notes"], str):
        problems.append(f"notes: must be a string, got {type(arguments['notes']).__name__}")
    return problems


def assign_conversation(
    hook: KapsoHook, log: WarningLog, *, conversation_id: str, user_id: str, notes: str | None = None
) -> dict[str, Any]:
    """Assign the conversation to the user and return the assignment; an active one to them is returned as is.

    Running it again (a task retry, or someone in Kapso's inbox who assigned the same person) never fails
    on Kapso's "conversation already assigned". An active assignment to someone else is left to Kapso,
    which refuses the new one (422).

    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    raise_problems(assignment_problems({"conversation_id": conversation_id, "user_id": user_id, "notes": notes}))
    for record in hook.list_assignments(conversation_id):
        if record.get("active") and record.get("user_id") == user_id:
            log.info("Assignment %s to this user is active already; not creating another", record.get("id"))
            return record
    created: dict[str, Any] = hook.create_assignment(conversation_id, user_id=user_id, notes=notes)
    return created
