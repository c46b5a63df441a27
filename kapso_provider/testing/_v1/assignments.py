"""Simulator endpoints: conversation assignments and mark as read.

Ending and reactivating a conversation is the core's ``PATCH /whatsapp_conversations/{id}``, the only way
both OpenAPI files offer, so this group does not answer it again.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, RuleError, ValidationError
from kapso_provider.testing._http import json_response, paginate, unprocessable
from kapso_provider.testing._routing import ResourceGroup, object_field, route

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._http import Response
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

_CONVERSATION = "/whatsapp_conversations/{whatsapp_conversation_id}"


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class AssignmentsGroup(ResourceGroup):
    """The simulator's conversation assignments and mark as read, with the project's users.

    Kapso assigns conversations to users of the project; the API has no endpoint listing them, so tests
    add them here (:meth:`add_user`). One user exists from the start (:attr:`default_user_id`) and stays
    across :meth:`KapsoSimulator.reset`, like the default WhatsApp config. A conversation has at most one
    active assignment: creating another, or reactivating an old one while another is active, is answered
    422 ("conversation already assigned", as ``openapi-whatsapp.yaml`` names the case).
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._users: dict[str, dict[str, Any]] = {}
        #: conversation id -> its assignments, oldest first.
        self._assignments: dict[str, list[dict[str, Any]]] = {}
        self.default_user_id: str = self.add_user(name="Simulator Agent")["id"]

    # -- Python control API -----------------------------------------------------------------------------

    def add_user(self, *, name: str = "Agent", user_id: str | None = None) -> dict[str, Any]:
        """Add a member of the project that conversations can be assigned to; returns ``{"id", "name"}``.

        :param name: the user's name.
        :param user_id: their id (a new UUID when ``None``); must be a UUID, as Kapso's user ids are.
        :raises ValueError: for an id that is not a UUID or exists already.
        """
        if user_id is not None and not _is_uuid(user_id):
            raise ValueError(f"user_id must be a UUID, got {user_id!r}")
        with self.lock:
            if user_id in self._users:
                raise ValueError(f"a user with id {user_id!r} exists already")
            record = {"id": user_id or str(uuid.uuid4()), "name": name}
            self._users[record["id"]] = record
            return dict(record)

    def users(self) -> list[dict[str, Any]]:
        """The project's users (copies)."""
        with self.lock:
            return [dict(user) for user in self._users.values()]

    def assign(
        self,
        conversation_id: str,
        user_id: str | None = None,
        *,
        notes: str | None = None,
        active: bool = True,
        created_by_user_id: str | None = None,
    ) -> dict[str, Any]:
        """Seed an assignment, as if made in Kapso's inbox; returns its record. Same rules as the API.

        :param conversation_id: the conversation.
        :param user_id: the assignee (the default user when ``None``).
        :param notes: its notes.
        :param active: whether it is the conversation's current assignment.
        :param created_by_user_id: who made it (``None``: made through the API).
        :raises KeyError: for an unknown conversation or user.
        :raises ValueError: when ``active`` and the conversation has an active assignment already.
        """
        with self.lock:
            self.store.conversation(conversation_id)
            user = user_id or self.default_user_id
            if user not in self._users:
                raise NotFoundError("User", user)
            if active and self._active(conversation_id) is not None:
                raise ValueError(f"conversation {conversation_id} has an active assignment already")
            return self._create(conversation_id, user, notes, active=active, created_by=created_by_user_id)

    def assignments(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Assignment records (copies), oldest first, optionally of one conversation.

        :param conversation_id: only this conversation's assignments.
        """
        with self.lock:
            return [
                copy.deepcopy(record)
                for key, records in self._assignments.items()
                if conversation_id is None or key == conversation_id
                for record in records
            ]

    def reset(self) -> None:
        """Forget assignments and added users; the default user stays."""
        self._assignments.clear()
        default = self._users[self.default_user_id]
        self._users.clear()
        self._users[self.default_user_id] = default

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Assignments (list, create, update) and ``PATCH /whatsapp_messages/{id}/mark_as_read``."""
        return [
            route("GET", _CONVERSATION + "/conversation_assignments", self._list),
            route("POST", _CONVERSATION + "/conversation_assignments", self._create_answer),
            route("PATCH", _CONVERSATION + "/conversation_assignments/{id}", self._update_answer),
            route("PATCH", "/whatsapp_messages/{id}/mark_as_read", self._mark_as_read),
        ]

    # -- state helpers (callers hold the lock) -----------------------------------------------------------

    def _active(self, conversation_id: str) -> dict[str, Any] | None:
        return next((record for record in self._assignments.get(conversation_id, []) if record["active"]), None)

    def _create(
        self, conversation_id: str, user_id: str, notes: str | None, *, active: bool, created_by: str | None
    ) -> dict[str, Any]:
        stamp = self.store.now()
        record: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "active": active,
            "notes": notes,
            "created_at": stamp,
            "created_by_user_id": created_by,
        }
        self._assignments.setdefault(conversation_id, []).append(record)
        return copy.deepcopy(record)

    def _user_field(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise ValidationError(name, "is required" if value is None else "must be a string")
        if not _is_uuid(value):
            raise ValidationError(name, "must be a UUID")
        if value not in self._users:
            raise RuleError(404, "User not found", title="Resource not found")
        return value

    @staticmethod
    def _notes_field(fields: dict[str, Any], prefix: str) -> str | None:
        # notes is a plain string in the files, not nullable: an explicit null is refused too.
        if "notes" not in fields:
            return None
        value = fields["notes"]
        if not isinstance(value, str):
            raise ValidationError(f"{prefix}.notes", "must be a string")
        return value

    # -- the rules of both API generations ---------------------------------------------------------------

    def active_assignee(self, conversation_id: str) -> str | None:
        """The user a conversation is assigned to now, or ``None``.

        :param conversation_id: the conversation.
        """
        with self.lock:
            active = self._active(conversation_id)
            return None if active is None else str(active["user_id"])

    def assignment(self, conversation_id: str, assignment_id: str) -> dict[str, Any]:
        """One assignment of a conversation.

        :param conversation_id: the conversation.
        :param assignment_id: the assignment.
        :raises NotFoundError: for an unknown conversation or assignment.
        """
        with self.lock:
            self.store.conversation(conversation_id)
            return copy.deepcopy(self._find(conversation_id, assignment_id))

    def _find(self, conversation_id: str, assignment_id: str) -> dict[str, Any]:
        record = next(
            (item for item in self._assignments.get(conversation_id, []) if item["id"] == assignment_id), None
        )
        if record is None:
            raise NotFoundError("Assignment", assignment_id)
        return record

    def add_assignment(self, conversation_id: str, fields: dict[str, Any], prefix: str) -> dict[str, Any]:
        """Assign a conversation as a request asks; returns the new active assignment.

        :param conversation_id: the conversation.
        :param fields: the request's assignment object (``user_id``, ``notes``).
        :param prefix: its name in the request, for errors (``conversation_assignment``, ``assignment``).
        :raises RuleError: 422 when the conversation has an active assignment already.
        """
        self.store.conversation(conversation_id)
        with self.lock:
            user_id = self._user_field(f"{prefix}.user_id", fields.get("user_id"))
            notes = self._notes_field(fields, prefix)
            if self._active(conversation_id) is not None:
                raise unprocessable("Conversation is already assigned")
            return self._create(conversation_id, user_id, notes, active=True, created_by=None)

    def change_assignment(
        self, conversation_id: str, assignment_id: str, fields: dict[str, Any], prefix: str
    ) -> dict[str, Any]:
        """Change an assignment as a request asks (``user_id``, ``notes``, ``active``); returns it.

        :param conversation_id: the conversation.
        :param assignment_id: the assignment.
        :param fields: the request's assignment object.
        :param prefix: its name in the request, for errors.
        :raises RuleError: 422 when it would make a second active assignment.
        """
        self.store.conversation(conversation_id)
        with self.lock:
            record = self._find(conversation_id, assignment_id)
            changes: dict[str, Any] = {}
            if "user_id" in fields:
                changes["user_id"] = self._user_field(f"{prefix}.user_id", fields["user_id"])
            if "notes" in fields:
                changes["notes"] = self._notes_field(fields, prefix)
            if "active" in fields:
                if not isinstance(fields["active"], bool):
                    raise ValidationError(f"{prefix}.active", "must be true or false")
                changes["active"] = fields["active"]
                active = self._active(conversation_id)
                if fields["active"] and active is not None and active is not record:
                    raise unprocessable("Conversation is already assigned")
            record.update(changes)
            return copy.deepcopy(record)

    # -- handlers ---------------------------------------------------------------------------------------

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = params["whatsapp_conversation_id"]
        self.store.conversation(conversation_id)
        return paginate(self.assignments(conversation_id), query)

    def _create_answer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "conversation_assignment")
        record = self.add_assignment(params["whatsapp_conversation_id"], fields, "conversation_assignment")
        return json_response(201, {"data": record})

    def _update_answer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "conversation_assignment")
        record = self.change_assignment(
            params["whatsapp_conversation_id"], params["id"], fields, "conversation_assignment"
        )
        return json_response(200, {"data": record})

    def _mark_as_read(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        message_id = params["id"]
        typing = query.get("typing_indicator")
        if typing is not None and typing not in ("true", "false"):
            raise ValidationError("typing_indicator", "must be true or false")
        record = self.store.message(message_id)
        # The path takes Kapso's id (format uuid in openapi-whatsapp.yaml), not WhatsApp's wamid.
        if record["id"] != message_id:
            raise NotFoundError("Message", message_id)
        if record["direction"] != "inbound":
            raise unprocessable("Only inbound messages can be marked as read")
        # Already read: Kapso skips it, and the record comes back unchanged.
        if record["status"] != "read":
            record = self.store.set_message_status(message_id, "read")
        return json_response(200, {"data": record})
