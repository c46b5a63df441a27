"""Operators on conversations: assignment to a member of the project (:mod:`kapso_provider.services.conversations`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import is_static, plain_json
from kapso_provider.operators._base import KapsoBaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.operators._base import KapsoOperatorArguments


__all__ = ["KapsoAssignConversationOperator"]


class KapsoAssignConversationOperator(KapsoBaseOperator):
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

    def __init__(
        self,
        *,
        conversation_id: str,
        user_id: str,
        notes: str | None = None,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        from kapso_provider.services.conversations import assignment_problems
        from kapso_provider.validation import raise_problems

        super().__init__(**kwargs)
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.notes = notes
        # Each argument that no template can change any more is checked now, so when the DAG file is parsed.
        arguments = {"conversation_id": conversation_id, "user_id": user_id, "notes": notes}
        raise_problems(assignment_problems({name: value for name, value in arguments.items() if is_static(value)}))

    def execute(self, context: Context) -> dict[str, Any]:
        from kapso_provider.services.conversations import assign_conversation

        with self.running():
            record = assign_conversation(
                self.hook, self.log, conversation_id=self.conversation_id, user_id=self.user_id, notes=self.notes
            )
        self.log.info(
            "Conversation %s is assigned to user %s (assignment %s)",
            self.conversation_id,
            record.get("user_id"),
            record.get("id"),
        )
        result: dict[str, Any] = plain_json(record)
        return result
