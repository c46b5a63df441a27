"""The Platform API's contacts (``/platform/v1/whatsapp/contacts``): list, create, get, update, erase,
and each contact's marketing preferences.

The contacts are v1's (``simulator.contacts``); erasure is asynchronous as in Kapso: it happens at the next
read of contacts, taking the contact's conversations and messages with it. Marketing preferences are read
only: a test records a stop with ``simulator.contacts.stop_marketing(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.testing._current.cursor import cursor_page, query_time
from kapso_provider.testing._errors import NotFoundError, ValidationError
from kapso_provider.testing._http import Response, int_param, json_response, paginate
from kapso_provider.testing._routing import ResourceGroup, route

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._policy import Policy
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._v1.contacts import ContactsGroup

__all__ = ["PlatformContactsGroup"]

_CONTACT = "/whatsapp/contacts/{identifier}"
#: The legacy page window the file allows: page at most 50, page x per_page at most 5,000.
_MAX_PAGE, _MAX_WINDOW = 50, 5000


def _body(body: Any, *, required: bool) -> dict[str, Any]:
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    contact = body.get("contact")
    if contact is None and not required:
        return {}
    if not isinstance(contact, dict):
        raise ValidationError("contact", "is required" if contact is None else "must be an object")
    return contact


class PlatformContactsGroup(ResourceGroup):
    """Platform contacts and their marketing preferences.

    :param contacts: the contacts group, which keeps the contacts.
    :param policy: the business rules, which keep the marketing preferences.
    """

    def __init__(self, contacts: ContactsGroup, policy: Policy) -> None:
        super().__init__(contacts.store)
        self._contacts = contacts
        self._policy = policy

    def routes(self) -> list[Route]:
        """Contacts (list, create, get, update, erase) and marketing preferences (list, one)."""
        return [
            route("GET", "/whatsapp/contacts", self._list),
            route("POST", "/whatsapp/contacts", self._create),
            route("GET", _CONTACT, self._get),
            route("PATCH", _CONTACT, self._update),
            route("DELETE", _CONTACT, self._erase),
            route("GET", _CONTACT + "/marketing_preferences", self._preferences),
            route("GET", _CONTACT + "/marketing_preferences/{phone_number_id}", self._preference),
        ]

    def _view(self, record: dict[str, Any]) -> dict[str, Any]:
        view = {key: record[key] for key in ("id", "wa_id", "metadata", "created_at", "updated_at")}
        # profile_name, display_name and customer_id are plain strings in the file: absent when unknown.
        for key in ("profile_name", "customer_id"):
            if record.get(key) is not None:
                view[key] = record[key]
        display_name = self._contacts.display_name(record["id"])
        if display_name is not None:
            view["display_name"] = display_name
        return view

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        has_customer = query.get("has_customer")
        if has_customer not in (None, "", "true", "false"):
            raise ValidationError("has_customer", "must be true or false", status=400)
        after, before = query_time(query, "created_after"), query_time(query, "created_before")
        name = (query.get("profile_name_contains") or "").lower()
        selected = [
            self._view(record)
            for record in self._contacts.contacts()
            if (not query.get("customer_id") or record.get("customer_id") == query["customer_id"])
            and (not has_customer or (record.get("customer_id") is not None) is (has_customer == "true"))
            and (not name or name in str(record.get("profile_name") or "").lower())
            and (not query.get("wa_id_contains") or query["wa_id_contains"] in record["wa_id"])
            and (after is None or record["created_at"] >= after)
            and (before is None or record["created_at"] <= before)
            and not query.get("business_scoped_user_id")
            and not query.get("customer_external_id")
        ]
        selected.sort(key=lambda record: (record["created_at"], record["id"]), reverse=True)
        if query.get("page") or query.get("per_page"):
            return self._legacy_page(selected, query)
        page, paging = cursor_page(selected, query, lambda record: (record["created_at"], record["id"]))
        return json_response(200, {"data": page, "paging": paging})

    @staticmethod
    def _legacy_page(selected: list[dict[str, Any]], query: Mapping[str, str]) -> Response:
        page, per_page = int_param(query, "page", 1, 1, None), int_param(query, "per_page", 20, 1, 100)
        if page > _MAX_PAGE or page * per_page > _MAX_WINDOW:
            problem = {
                "message": "legacy_offset_pagination_limit_exceeded",
                "detail": "Offset pagination is limited; use cursor pagination with limit, after, and before.",
                "requested_page": page,
                "requested_per_page": per_page,
                "requested_window": page * per_page,
                "max_page": _MAX_PAGE,
                "max_window": _MAX_WINDOW,
            }
            return json_response(400, problem)
        return paginate(selected, query)

    def _create(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        record = self._contacts.create_contact(_body(body, required=True), "contact")
        return json_response(201, {"data": self._view(record)})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._view(self._contacts.contact(params["identifier"]))})

    def _update(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        record = self._contacts.update_contact(params["identifier"], _body(body, required=False), "contact")
        return json_response(200, {"data": self._view(record)})

    def _erase(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        self._contacts.erase(params["identifier"])
        return Response(204, b"")

    def _preference_view(self, record: dict[str, Any], contact: dict[str, Any]) -> dict[str, Any]:
        view = {key: value for key, value in record.items() if key != "wa_id"}
        view["whatsapp_contact_id"] = contact["id"]
        view["internal_id"] = record["id"]
        view["whatsapp_config_internal_id"] = record["whatsapp_config_id"]
        return view

    def _preferences(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        contact = self._contacts.contact(params["identifier"])
        views = [self._preference_view(record, contact) for record in self._policy.preferences(contact["wa_id"])]
        return json_response(200, {"data": views})

    def _preference(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        contact = self._contacts.contact(params["identifier"])
        for record in self._policy.preferences(contact["wa_id"]):
            if record["phone_number_id"] == params["phone_number_id"]:
                return json_response(200, {"data": self._preference_view(record, contact)})
        raise NotFoundError("Marketing preference", params["phone_number_id"])
