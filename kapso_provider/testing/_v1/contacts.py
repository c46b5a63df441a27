"""Simulator endpoints: contacts and their notes (``/whatsapp_contacts``).

Written from ``openapi-whatsapp.yaml`` (its list filters are the ones ``openapi.yaml`` lacks). Kapso keeps a
contact for every number it talks with: a conversation of the core (made by a send or by
:meth:`KapsoSimulator.create_conversation`) gets its contact here on the next contact request, so a DAG can
note something on a number it just messaged.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, RuleError, ValidationError
from kapso_provider.testing._http import ApiError, Response, json_response, paginate, parse_time
from kapso_provider.testing._routing import ResourceGroup, route
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

__all__ = ["ContactsGroup"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# E.164 allows at most 15 digits; the shortest national numbering plans need 7.
_WA_ID = re.compile(r"[0-9]{7,15}")
_CONTACT = "/whatsapp_contacts/{identifier}"
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def _optional_string(value: object, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    return value


def _optional_object(value: object, field: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise ValidationError(field, "must be an object")
    return copy.deepcopy(value)


def _wrapped(body: Any, key: str, *, required: bool) -> dict[str, Any]:
    if body is not None and not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    inner = (body or {}).get(key)
    if inner is None and not required:
        return {}
    if not isinstance(inner, dict):
        raise ValidationError(key, "is required" if inner is None else "must be an object")
    return inner


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValidationError(name, "must be true or false")


class ContactsGroup(ResourceGroup):
    """The simulator's contacts and their notes.

    Python control API for tests: :meth:`add_contact`, :meth:`contacts`, :meth:`notes`,
    :meth:`set_external_customer_id` (what ``q[customer_external_customer_id_eq]`` matches).
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._contacts: dict[str, dict[str, Any]] = {}
        self._notes: dict[str, dict[str, dict[str, Any]]] = {}
        self._external_ids: dict[str, str] = {}
        self._display_names: dict[str, str] = {}
        self._erasing: set[str] = set()

    # -- control API ------------------------------------------------------------------------------------

    def add_contact(
        self,
        phone_number: str = "+15551234567",
        *,
        profile_name: str | None = None,
        customer_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a contact and return its record (a ``WhatsappContact``).

        :param phone_number: its number in any notation; stored as digits in ``wa_id``.
        :param profile_name: its WhatsApp profile name.
        :param customer_id: the customer it belongs to (``None``: a sandbox contact).
        :param metadata: free-form data.
        :raises ValueError: for a number Kapso would refuse or one that already has a contact.
        """
        wa_id = normalize_phone(phone_number)
        if not _WA_ID.fullmatch(wa_id):
            raise ValueError(f"phone_number must have 7 to 15 digits, got {phone_number!r}")
        with self.lock:
            self._sync_from_conversations()
            if self._by_wa_id(wa_id) is not None:
                raise ValueError(f"a contact with wa_id {wa_id} exists already")
            return copy.deepcopy(self._store_contact(wa_id, profile_name, customer_id, metadata))

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact record (copies), in creation order, those of the core's conversations included."""
        with self.lock:
            self._sync_from_conversations()
            return copy.deepcopy(list(self._contacts.values()))

    def notes(self, contact: str) -> list[dict[str, Any]]:
        """The notes of a contact (copies), oldest first.

        :param contact: its id or phone number.
        :raises NotFoundError: for an unknown contact.
        """
        with self.lock:
            record = self._find(contact)
            return copy.deepcopy(list(self._notes[record["id"]].values()))

    def set_external_customer_id(self, customer_id: str, external_customer_id: str) -> None:
        """Record a customer's id in the user's own system, matched by ``q[customer_external_customer_id_eq]``.

        :param customer_id: the Kapso customer id.
        :param external_customer_id: its external id.
        """
        with self.lock:
            self._external_ids[customer_id] = external_customer_id

    def reset(self) -> None:
        """Forget contacts, notes, external customer ids, display names and queued erasures."""
        self._contacts.clear()
        self._notes.clear()
        self._external_ids.clear()
        self._display_names.clear()
        self._erasing.clear()

    # -- the rules of both API generations ---------------------------------------------------------------

    def contact(self, identifier: str) -> dict[str, Any]:
        """A contact by id or phone number (any notation), as both APIs find one; a copy.

        :param identifier: its id or number.
        :raises NotFoundError: for an unknown contact.
        """
        with self.lock:
            return copy.deepcopy(self._find(identifier))

    def display_name(self, contact_id: str) -> str | None:
        """The display name the current API set on a contact, if any (v1 has none).

        :param contact_id: the contact's id.
        """
        with self.lock:
            return self._display_names.get(contact_id)

    def create_contact(self, fields: dict[str, Any], prefix: str) -> dict[str, Any]:
        """Create a contact as a request asks (``wa_id`` required; ``profile_name``, ``display_name``,
        ``customer_id``, ``metadata``); returns it.

        :param fields: the request's contact object.
        :param prefix: its name in the request, for errors.
        :raises RuleError: 422 when the number has a contact already.
        """
        wa_id = fields.get("wa_id")
        if wa_id is None:
            raise ValidationError(f"{prefix}.wa_id", "is required")
        if not isinstance(wa_id, str):
            raise ValidationError(f"{prefix}.wa_id", "must be a string")
        digits = normalize_phone(wa_id)
        if not _WA_ID.fullmatch(digits):
            raise ValidationError(f"{prefix}.wa_id", "must be a phone number of 7 to 15 digits")
        profile_name = _optional_string(fields.get("profile_name"), f"{prefix}.profile_name")
        customer_id = _optional_string(fields.get("customer_id"), f"{prefix}.customer_id")
        display_name = _optional_string(fields.get("display_name"), f"{prefix}.display_name")
        metadata = _optional_object(fields.get("metadata"), f"{prefix}.metadata")
        with self.lock:
            self._sync_from_conversations()
            if self._by_wa_id(digits) is not None:
                raise RuleError(422, "Wa_id has already been taken")
            record = self._store_contact(digits, profile_name, customer_id, metadata)
            if display_name is not None:
                self._display_names[record["id"]] = display_name
            return copy.deepcopy(record)

    def update_contact(self, identifier: str, fields: dict[str, Any], prefix: str) -> dict[str, Any]:
        """Change a contact as a request asks (``profile_name``, ``display_name``, ``customer_id``,
        ``metadata``); returns it.

        :param identifier: its id or number.
        :param fields: the request's contact object.
        :param prefix: its name in the request, for errors.
        :raises NotFoundError: for an unknown contact.
        """
        changes = {
            name: value
            for name in ("profile_name", "customer_id")
            if (value := _optional_string(fields.get(name), f"{prefix}.{name}")) is not None
        }
        display_name = _optional_string(fields.get("display_name"), f"{prefix}.display_name")
        metadata = _optional_object(fields.get("metadata"), f"{prefix}.metadata")
        with self.lock:
            record = self._find(identifier)
            record.update(changes)
            if metadata is not None:
                record["metadata"] = metadata
            if display_name is not None:
                self._display_names[record["id"]] = display_name
            record["updated_at"] = self.store.now()
            return copy.deepcopy(record)

    def erase(self, identifier: str) -> None:
        """Queue the erasure of a contact with its conversations and messages, as the Platform API's
        ``DELETE`` does; it happens at the next read of contacts (it is asynchronous in Kapso).

        :param identifier: its id or number.
        :raises NotFoundError: for an unknown contact.
        """
        with self.lock:
            self._erasing.add(self._find(identifier)["id"])

    def _apply_erasures(self) -> None:
        for contact_id in sorted(self._erasing):
            record = self._contacts.pop(contact_id, None)
            self._notes.pop(contact_id, None)
            self._display_names.pop(contact_id, None)
            if record is not None:
                self.store.erase_number(record["wa_id"])
        self._erasing.clear()

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Contacts and notes."""
        return [
            route("GET", "/whatsapp_contacts", self._list),
            route("POST", "/whatsapp_contacts", self._create),
            route("GET", _CONTACT, self._get),
            route("PATCH", _CONTACT, self._update),
            route("GET", _CONTACT + "/notes", self._list_notes),
            route("POST", _CONTACT + "/notes", self._create_note),
            route("GET", _CONTACT + "/notes/{note_id}", self._get_note),
            route("PATCH", _CONTACT + "/notes/{note_id}", self._update_note),
            route("DELETE", _CONTACT + "/notes/{note_id}", self._delete_note),
        ]

    # -- state helpers (hold the lock) ------------------------------------------------------------------

    def _store_contact(
        self,
        wa_id: str,
        profile_name: str | None,
        customer_id: str | None,
        metadata: dict[str, Any] | None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        stamp = created_at or self.store.now()
        record: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "wa_id": wa_id,
            "profile_name": profile_name,
            "customer_id": customer_id,
            "metadata": copy.deepcopy(metadata) if metadata is not None else {},
            "created_at": stamp,
            "updated_at": stamp,
        }
        if profile_name is None:
            # The files type profile_name as a plain (not nullable) string: leave it out when unknown.
            del record["profile_name"]
        self._contacts[record["id"]] = record
        self._notes[record["id"]] = {}
        return record

    def _by_wa_id(self, wa_id: str) -> dict[str, Any] | None:
        return next((record for record in self._contacts.values() if record["wa_id"] == wa_id), None)

    def _sync_from_conversations(self) -> None:
        """Give every number the core has a conversation with its contact, as Kapso does (after the
        erasures that are due)."""
        self._apply_erasures()
        owners = {config["id"]: config.get("customer_id") for config in self.store.configs()}
        for conversation in self.store.conversations():
            wa_id = normalize_phone(conversation["phone_number"])
            if self._by_wa_id(wa_id) is None:
                self._store_contact(
                    wa_id,
                    conversation.get("contact_name"),
                    owners.get(conversation["whatsapp_config_id"]),
                    None,
                    created_at=conversation.get("created_at"),
                )

    def _find(self, identifier: str) -> dict[str, Any]:
        """A contact by id or phone number (any notation), as ``{identifier}`` allows."""
        self._sync_from_conversations()
        record = self._contacts.get(identifier)
        if record is None and not _UUID.fullmatch(identifier):
            digits = normalize_phone(identifier)
            record = self._by_wa_id(digits) if digits else None
        if record is None:
            raise NotFoundError("Contact", identifier)
        return record

    def _note(self, contact: dict[str, Any], note_id: str) -> dict[str, Any]:
        note = self._notes[contact["id"]].get(note_id)
        if note is None:
            raise NotFoundError("Note", note_id)
        return note

    # -- contacts ---------------------------------------------------------------------------------------

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        customer_id = query.get("q[customer_id_eq]") or None
        external_id = query.get("q[customer_external_customer_id_eq]") or None
        without_customer = _flag(query, "q[customer_id_null]")
        with_customer = _flag(query, "q[customer_id_not_null]")
        name = (query.get("q[profile_name_cont]") or "").lower() or None
        phone = query.get("q[wa_id_cont]") or None
        bounds = {
            name_: parse_time(value, name_)
            for name_ in ("q[created_at_gteq]", "q[created_at_lteq]")
            if (value := query.get(name_))
        }
        with self.lock:
            self._sync_from_conversations()
            selected = []
            for record in self._contacts.values():
                owner = record.get("customer_id")
                if customer_id is not None and owner != customer_id:
                    continue
                if external_id is not None and (owner is None or self._external_ids.get(owner) != external_id):
                    continue
                if without_customer is not None and (owner is None) != without_customer:
                    continue
                if with_customer is not None and (owner is not None) != with_customer:
                    continue
                if name is not None and name not in str(record.get("profile_name") or "").lower():
                    continue
                if phone is not None and phone not in record["wa_id"]:
                    continue
                created = parse_time(record["created_at"], "created_at")
                if "q[created_at_gteq]" in bounds and created < bounds["q[created_at_gteq]"]:
                    continue
                if "q[created_at_lteq]" in bounds and created > bounds["q[created_at_lteq]"]:
                    continue
                selected.append(copy.deepcopy(record))
        # Newest first, as the files' examples list them.
        selected.sort(key=lambda record: str(record["created_at"]), reverse=True)
        return paginate(selected, query)

    def _create(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        try:
            record = self.create_contact(_wrapped(body, "contact", required=True), "contact")
        except RuleError as exc:
            # v1 words a taken wa_id as a Rails validation list.
            raise ApiError(json_response(422, {"errors": [exc.text]})) from None
        return json_response(201, {"data": record})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self.contact(params["identifier"])})

    def _update(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        changes = _wrapped(body, "contact", required=False)
        return json_response(200, {"data": self.update_contact(params["identifier"], changes, "contact")})

    # -- notes ------------------------------------------------------------------------------------------

    def _list_notes(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            contact = self._find(params["identifier"])
            notes = copy.deepcopy(list(self._notes[contact["id"]].values()))
        notes.sort(key=lambda note: str(note["created_at"]), reverse=True)
        return paginate(notes, query)

    def _create_note(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            contact = self._find(params["identifier"])
            note = _wrapped(body, "note", required=True)
            content = note.get("content")
            if content is None:
                raise ValidationError("note.content", "is required")
            if not isinstance(content, str):
                raise ValidationError("note.content", "must be a string")
            if not content.strip():
                raise ValidationError("note.content", "can't be blank")
            name = _optional_string(note.get("name"), "note.name")
            metadata = _optional_object(note.get("metadata"), "note.metadata")
            stamp = self.store.now()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "name": name,
                "content": content,
                "metadata": metadata if metadata is not None else {},
                "created_at": stamp,
                "updated_at": stamp,
            }
            self._notes[contact["id"]][record["id"]] = record
            return json_response(201, {"data": copy.deepcopy(record)})

    def _get_note(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            contact = self._find(params["identifier"])
            return json_response(200, {"data": copy.deepcopy(self._note(contact, params["note_id"]))})

    def _update_note(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            contact = self._find(params["identifier"])
            note = self._note(contact, params["note_id"])
            changes = _wrapped(body, "note", required=False)
            content = _optional_string(changes.get("content"), "note.content")
            if content is not None and not content.strip():
                raise ValidationError("note.content", "can't be blank")
            name = _optional_string(changes.get("name"), "note.name")
            metadata = _optional_object(changes.get("metadata"), "note.metadata")
            if content is not None:
                note["content"] = content
            if name is not None:
                note["name"] = name
            if metadata is not None:
                note["metadata"] = metadata
            note["updated_at"] = self.store.now()
            return json_response(200, {"data": copy.deepcopy(note)})

    def _delete_note(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            contact = self._find(params["identifier"])
            note = self._note(contact, params["note_id"])
            del self._notes[contact["id"]][note["id"]]
        # 204 No Content, as the files document: no body at all.
        return Response(204, b"")
