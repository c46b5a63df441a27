"""Operators on conversations: assignment to a member of the project."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from kapso_provider.arguments import (
    is_static,
    is_uuid,
)
from kapso_provider.operators._base import KapsoHookMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context


__all__ = ["KapsoAssignConversationOperator"]


def _assignment_problems(arguments: dict[str, Any]) -> list[str]:
    """What is wrong with the given assignment arguments, one line per field (no I/O, no heavy import).

    :param arguments: some or all of ``conversation_id``, ``user_id`` and ``notes``; absent ones are not checked.
    """
    problems = []
    if "conversation_id" in arguments:
        value = arguments["conversation_id"]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"conversation_id: must be a non-empty string, got {value!r}")
    if "user_id" in arguments and not is_uuid(arguments["user_id"]):
        # Kapso's user ids are UUIDs (format: uuid in both files); a name or an e-mail would get a 422.
        problems.append(f"user_id: must be the Kapso user's id (a UUID), got {arguments['user_id']!r}")
    if "notes" in arguments and arguments["notes"] is not None and not isinstance(arguments["notes"], str):
        problems.append(f"notes: must be a string, got {type(arguments['notes']).__name__}")
    return problems


class KapsoAssignConversationOperator(KapsoHookMixin, BaseOperator):
    """Assign a Kapso conversation to a member of the project and return the assignment record.

    If the conversation's active assignment already belongs to ``user_id`` (an earlier try of this task,
    or someone in Kapso's inbox), that assignment is returned and nothing is created: running the task
    again never fails on Kapso's "conversation already assigned". An active assignment to someone else is
    left to Kapso, which refuses the new one (422); hand it over with
    :meth:`~kapso_provider.hooks.kapso.KapsoHook.update_assignment` instead.

    The returned record (the XCom ``return_value``) is plain JSON, e.g.
    ``{"id": ..., "user_id": ..., "active": true, "notes": ..., "created_at": ...}``.

    :param conversation_id: the Kapso conversation to assign. (templated)
    :param user_id: the Kapso user's id (a UUID). (templated)
    :param notes: notes kept with the assignment. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "conversation_id", "user_id", "notes")
    # Values are data, never file names: notes ending in ".sql" must stay notes.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        conversation_id: str,
        user_id: str,
        notes: str | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.notes = notes
        self.kapso_conn_id = kapso_conn_id
        self._check_static_arguments()

    def _check_static_arguments(self) -> None:
        """Fail at DAG parse time for arguments that no template can change any more."""
        problems = _assignment_problems({name: value for name, value in self._arguments().items() if is_static(value)})
        if problems:
            raise ValueError("Invalid Kapso assignment: " + "; ".join(problems))

    def _arguments(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "user_id": self.user_id, "notes": self.notes}

    def execute(self, context: Context) -> dict[str, Any]:

        problems = _assignment_problems(self._arguments())
        if problems:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException("Invalid Kapso assignment: " + "; ".join(problems))

        try:
            record = self._current_assignment() or self.hook.create_assignment(
                self.conversation_id, user_id=self.user_id, notes=self.notes
            )
        finally:
            self.hook.close()
        self.log.info(
            "Conversation %s is assigned to user %s (assignment %s)",
            self.conversation_id,
            record.get("user_id"),
            record.get("id"),
        )
        # A round trip through JSON guarantees XCom gets plain JSON whatever Kapso sent.
        result: dict[str, Any] = json.loads(json.dumps(record))
        return result

    def _current_assignment(self) -> dict[str, Any] | None:
        """The conversation's active assignment to ``user_id``, if it has one already."""
        for record in self.hook.list_assignments(self.conversation_id):
            if record.get("active") and record.get("user_id") == self.user_id:
                self.log.info("Assignment %s to this user is active already; not creating another", record.get("id"))
                return record
        return None
