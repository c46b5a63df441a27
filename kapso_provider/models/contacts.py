"""Contact cards and the contacts message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import model_validator

from kapso_provider.models._limits import CONTACTS_MAX, CONTACTS_MIN
from kapso_provider.models._rules import (
    Birthday,
    Email,
    Model,
    NonEmpty,
    Problems,
    Uri,
    check_count,
    rule,
    rules_error,
    shown,
)
from kapso_provider.models.messages import KapsoMessage

# --- Contacts ----------------------------------------------------------------------------------------

# The name keys a contact may carry flat, next to or instead of the nested ``name`` object.
_NAME_KEYS = ("formatted_name", "first_name", "last_name", "middle_name", "prefix", "suffix")
# The flat keys sent besides the nested name: the ones openapi.yaml declares.
_FLAT_NAME_KEYS_SENT = ("formatted_name", "first_name", "last_name")


class ContactName(Model):
    """A contact's name; :class:`Contact` needs ``formatted_name`` or ``first_name``."""

    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None


class ContactPhone(Model):
    """A phone number of a contact.

    :param phone: the number as shown, required.
    :param type: e.g. ``HOME``, ``WORK``.
    :param wa_id: the number's WhatsApp id.
    """

    phone: NonEmpty
    type: str | None = None
    wa_id: str | None = None


class ContactEmail(Model):
    """An email address of a contact.

    :param email: the address, required; checked as loosely as JSON Schema's ``email`` format.
    :param type: e.g. ``HOME``, ``WORK``.
    """

    email: Email
    type: str | None = None


class ContactAddress(Model):
    """A postal address of a contact; every part is optional."""

    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactOrg(Model):
    """Where a contact works."""

    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactUrl(Model):
    """A web address of a contact.

    :param url: an absolute URL, required.
    :param type: e.g. ``Company``.
    """

    url: Uri
    type: str | None = None


class Contact(Model):
    """A contact card. The name may be given nested (``name={...}``) or flat (``formatted_name=...``,
    ``first_name=...``), or both when they agree; it is sent both ways.

    :param name: the contact's name; needs ``formatted_name`` or ``first_name``.
    :param birthday: ``YYYY-MM-DD``.
    :param phones: phone numbers, each with ``phone``.
    :param emails: email addresses, each with ``email``.
    :param addresses: postal addresses.
    :param org: the contact's organisation.
    :param urls: web addresses, each with ``url``.
    """

    name: ContactName | None = None
    birthday: Birthday | None = None
    phones: tuple[ContactPhone, ...] | None = None
    emails: tuple[ContactEmail, ...] | None = None
    addresses: tuple[ContactAddress, ...] | None = None
    org: ContactOrg | None = None
    urls: tuple[ContactUrl, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_name(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        flat = {key: data[key] for key in _NAME_KEYS if key in data and data[key] is not None}
        rest = {key: value for key, value in data.items() if key not in _NAME_KEYS}
        if not flat:
            return rest
        name = rest.get("name")
        if isinstance(name, ContactName):
            name = name.model_dump(exclude_none=True)
        if name is None:
            name = {}
        if not isinstance(name, Mapping):
            return rest  # pydantic reports the wrong type of "name"
        merged = dict(name)
        problems: Problems = []
        for key, value in flat.items():
            if merged.get(key) is not None and merged[key] != value:
                problems.append((key, f"{shown(value)} differs from name.{key} {shown(merged[key])}"))
            merged[key] = value
        if problems:
            raise rules_error(problems)
        return {**rest, "name": merged}

    def _check(self, problems: Problems) -> None:
        names = (self.name.formatted_name, self.name.first_name) if self.name is not None else ()
        if not any(name and name.strip() for name in names):
            problems.append(("name", "needs formatted_name or first_name"))

    def display_name(self) -> str:
        """The name as a person reads it."""
        name = self.name or ContactName()
        if name.formatted_name:
            return name.formatted_name
        return " ".join(part for part in (name.first_name, name.last_name) if part)

    def to_api(self) -> dict[str, Any]:
        """The contact as sent: nested ``name``, the flat name keys, then the other fields that are set."""
        name = self.name.model_dump(exclude_none=True) if self.name is not None else {}
        contact: dict[str, Any] = {"name": name}
        contact.update({key: name[key] for key in _FLAT_NAME_KEYS_SENT if key in name})
        contact.update(self.model_dump(mode="json", exclude_none=True, exclude={"name"}))
        return contact


def _check_contacts(contacts: tuple[Contact, ...]) -> Problems:
    problems: Problems = []
    check_count(problems, "", len(contacts), "contacts", CONTACTS_MIN, CONTACTS_MAX)
    return problems


class ContactsMessage(KapsoMessage):
    """Contact cards, :data:`CONTACTS_MIN` to :data:`CONTACTS_MAX` of them.

    :param contacts: the cards; plain mappings are accepted with the name in either form.
    """

    label: ClassVar[str] = "contacts"

    message_type: Literal["contacts"] = "contacts"
    contacts: Annotated[tuple[Contact, ...], rule(_check_contacts)]

    def summary(self) -> str:
        return "👤 " + ", ".join(contact.display_name() for contact in self.contacts)

    def _fields(self) -> dict[str, Any]:
        return {"contacts": [contact.to_api() for contact in self.contacts]}
