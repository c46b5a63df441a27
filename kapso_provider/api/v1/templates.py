"""API v1 templates: list, get, create, update, submit, edit on Meta, sync and sync status.

The template administration endpoints (create, update, submit, ``/meta``, ``/sync``, ``/sync_status``) are
defined in ``openapi-whatsapp.yaml`` only. ``openapi.yaml`` defines list and get, with fewer list filters
and with a template's ``components`` as an object; ``openapi-whatsapp.yaml`` (newer, more specific for
WhatsApp) makes ``components`` an array of component objects, which is what these methods send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kapso_provider.api._unsupported import refuse_on_v1
from kapso_provider.transport.flows import MAX_PAGE_SIZE, Call, Pager, data_object, numbered_pages, whole_object
from kapso_provider.transport.wire import Request
from kapso_provider.validation import check_choice, check_text, path_segment, raise_problems

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_template",
    "edit_template_on_meta",
    "get_template",
    "get_template_sync_status",
    "list_templates",
    "submit_template",
    "sync_templates",
    "update_template",
)

TEMPLATE_CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
#: The statuses ``q[status_eq]`` accepts in both files (``removed`` is a record status, not a filter value).
TEMPLATE_STATUSES = ("draft", "submitted", "approved", "rejected", "disabled")
TEMPLATE_PARAMETER_FORMATS = ("NAMED", "POSITIONAL")
TEMPLATE_COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
#: Statuses of a ``WhatsappTemplateSyncRun`` after which it changes no more.
SYNC_FINAL_STATUSES = frozenset({"succeeded", "failed"})


def check_components(problems: list[str], components: object, *, required: bool) -> list[dict[str, Any]] | None:
    if components is None:
        if required:
            problems.append("components: is required")
        return None
    if isinstance(components, str | bytes) or not isinstance(components, Sequence) or not components:
        problems.append("components: must be a non-empty list of component objects (HEADER, BODY, FOOTER, BUTTONS)")
        return None
    checked = []
    for index, component in enumerate(components):
        if not isinstance(component, Mapping):
            problems.append(f"components[{index}]: must be an object, got {type(component).__name__}")
            continue
        check_choice(problems, f"components[{index}].type", component.get("type"), TEMPLATE_COMPONENT_TYPES)
        if component.get("type") is None:
            problems.append(f"components[{index}].type: is required")
        checked.append(dict(component))
    return checked


def _check_owner(problems: list[str], whatsapp_config_id: object, customer_id: object) -> None:
    check_text(problems, "whatsapp_config_id", whatsapp_config_id)
    check_text(problems, "customer_id", customer_id)
    if whatsapp_config_id is not None and customer_id is not None:
        # The files describe each as its own way to choose configs and never their combination.
        problems.append("whatsapp_config_id, customer_id: give at most one of them")


def _template_path(template_id: str) -> str:
    return f"/whatsapp_templates/{path_segment('template_id', template_id)}"


def _owner_body(whatsapp_config_id: str | None, customer_id: str | None) -> dict[str, Any]:
    return {
        key: value for key, value in (("whatsapp_config_id", whatsapp_config_id), ("customer_id", customer_id)) if value
    }


# submit, sync and sync_status answer a summary object, not the usual ``{"data": ...}`` envelope.


def list_templates(
    *,
    name: str | None = None,
    language_code: str | None = None,
    category: str | None = None,
    status: str | None = None,
    customer_id: str | None = None,
    business_account_id: str | None = None,
    whatsapp_config_id: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's templates matching every given filter, fetching one page at a time.

    The last two filters exist in ``openapi-whatsapp.yaml`` only (the newer file, followed here).

    :param name: part of the name (``q[name_cont]``).
    :param language_code: exact language code such as ``en_US`` (``q[language_code_eq]``).
    :param category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION`` (``q[category_eq]``).
    :param status: ``draft``, ``submitted``, ``approved``, ``rejected`` or ``disabled`` (``q[status_eq]``).
    :param customer_id: the customer owning the templates (``q[customer_id_eq]``).
    :param business_account_id: the WhatsApp Business Account id (``q[business_account_id_eq]``).
    :param whatsapp_config_id: a WhatsApp number that may send them (``q[whatsapp_config_id_eq]``).
    :param per_page: records per request, 1 to 100.
    :raises KapsoArgumentError: for a filter value the API cannot take, before any request.
    """
    problems: list[str] = []
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    check_choice(problems, "status", status, TEMPLATE_STATUSES)
    for field, value in (
        ("name", name),
        ("language_code", language_code),
        ("customer_id", customer_id),
        ("business_account_id", business_account_id),
        ("whatsapp_config_id", whatsapp_config_id),
    ):
        check_text(problems, field, value)
    raise_problems(problems)
    filters = {
        "q[name_cont]": name,
        "q[language_code_eq]": language_code,
        "q[category_eq]": category,
        "q[status_eq]": status,
        "q[customer_id_eq]": customer_id,
        "q[business_account_id_eq]": business_account_id,
        "q[whatsapp_config_id_eq]": whatsapp_config_id,
    }
    return numbered_pages("/whatsapp_templates", filters, per_page=per_page)


def get_template(template_id: str, *, business_account_id: str | None = None) -> Call[dict[str, Any]]:
    """Return one template record (``GET /whatsapp_templates/{template_id}``).

    :param template_id: the template's Kapso id.
    :param business_account_id: current API only; refused here (a Kapso template id names one template).
    """
    refuse_on_v1(business_account_id=business_account_id)
    return Call(Request("GET", _template_path(template_id)), data_object)


def create_template(
    name: str,
    *,
    language_code: str,
    category: str,
    components: Sequence[Mapping[str, Any]],
    parameter_format: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    business_account_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Create a draft template (``POST /whatsapp_templates``) and return its record.

    Kapso associates it with ``whatsapp_config_id`` only, with every production number of
    ``customer_id``, or (with neither) with every production number of the project. Submit the draft
    to WhatsApp for review with :meth:`submit_template`.

    :param name: the template name, unique per language (WhatsApp wants lowercase, digits, ``_``).
    :param language_code: its language, e.g. ``en_US``.
    :param category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``.
    :param components: the WhatsApp component objects (``{"type": "BODY", "text": "Hi {{1}}"}``, ...),
        sent as an array as ``openapi-whatsapp.yaml`` defines it.
    :param parameter_format: ``NAMED`` (``{{customer_name}}``) or ``POSITIONAL`` (``{{1}}``, Kapso's
        default).
    :param whatsapp_config_id: associate with this WhatsApp number only.
    :param customer_id: associate with every production number of this customer.
    :param business_account_id: current API only; refused here (use ``whatsapp_config_id`` or ``customer_id``).
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    refuse_on_v1(business_account_id=business_account_id)
    problems: list[str] = []
    check_text(problems, "name", name, required=True)
    check_text(problems, "language_code", language_code, required=True)
    if category is None:
        problems.append("category: is required")
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    check_choice(problems, "parameter_format", parameter_format, TEMPLATE_PARAMETER_FORMATS)
    checked = check_components(problems, components, required=True)
    _check_owner(problems, whatsapp_config_id, customer_id)
    raise_problems(problems)
    template: dict[str, Any] = {
        "name": name,
        "language_code": language_code,
        "category": category,
        "components": checked,
    }
    if parameter_format is not None:
        template["parameter_format"] = parameter_format
    body = {"template": template, **_owner_body(whatsapp_config_id, customer_id)}
    return Call(Request("POST", "/whatsapp_templates", json=body), data_object)


def update_template(
    template_id: str,
    *,
    name: str | None = None,
    language_code: str | None = None,
    category: str | None = None,
    components: Sequence[Mapping[str, Any]] | None = None,
    parameter_format: str | None = None,
    business_account_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Change a draft template (``PATCH /whatsapp_templates/{template_id}``) and return its record.

    Kapso updates drafts only (422 otherwise); edit a reviewed template with :meth:`edit_template_on_meta`.

    :param template_id: the template's Kapso id.
    :param name: a new name.
    :param language_code: a new language code.
    :param category: a new category.
    :param components: new components, replacing the old ones (an array, as in ``create_template``).
    :param parameter_format: ``NAMED`` or ``POSITIONAL``.
    :param business_account_id: current API only; refused here (a Kapso template id names one template).
    :raises KapsoArgumentError: for a bad argument or when nothing is to change, before any request.
    """
    refuse_on_v1(business_account_id=business_account_id)
    problems: list[str] = []
    check_text(problems, "name", name)
    check_text(problems, "language_code", language_code)
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    check_choice(problems, "parameter_format", parameter_format, TEMPLATE_PARAMETER_FORMATS)
    checked = check_components(problems, components, required=False)
    fields = {
        "name": name,
        "language_code": language_code,
        "category": category,
        "components": checked,
        "parameter_format": parameter_format,
    }
    changes = {key: value for key, value in fields.items() if value is not None}
    if not changes and not problems:
        problems.append("template: give at least one of name, language_code, category, components, parameter_format")
    raise_problems(problems)
    return Call(Request("PATCH", _template_path(template_id), json={"template": changes}), data_object)


def submit_template(
    template_id: str,
    *,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Submit a draft template to WhatsApp for review (``POST /whatsapp_templates/{template_id}/submit``).

    Kapso answers with a summary (``status``, ``message``, ``template_id``, ``template_name``,
    ``submission_id``) and the template record in ``data``; the answer is returned as is. Not
    retried after an ambiguous failure: read the template back (:meth:`get_template`) to learn whether
    it left ``draft``.

    :param template_id: the template's Kapso id.
    :param whatsapp_config_id: the WhatsApp number whose account submits it.
    :param customer_id: the customer whose WhatsApp number submits it.
    """
    problems: list[str] = []
    _check_owner(problems, whatsapp_config_id, customer_id)
    raise_problems(problems)
    # The request body is optional in the file: send none rather than an empty object.
    owner = _owner_body(whatsapp_config_id, customer_id)
    return Call(Request("POST", f"{_template_path(template_id)}/submit", json=owner or None), whole_object)


def edit_template_on_meta(
    template_id: str,
    *,
    category: str | None = None,
    components: Sequence[Mapping[str, Any]] | None = None,
    time_to_live: int | None = None,
) -> Call[dict[str, Any]]:
    """Edit an approved, rejected or disabled template on Meta (``PATCH .../{template_id}/meta``).

    Kapso refuses a category change of an approved template (422).

    :param template_id: the template's Kapso id.
    :param category: a new category.
    :param components: new components, replacing the old ones on Meta.
    :param time_to_live: a message time-to-live in seconds, applied on Meta.
    :raises KapsoArgumentError: for a bad argument or when nothing is to change, before any request.
    """
    problems: list[str] = []
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    checked = check_components(problems, components, required=False)
    if time_to_live is not None and (isinstance(time_to_live, bool) or not isinstance(time_to_live, int)):
        problems.append(f"time_to_live: must be an integer number of seconds, got {time_to_live!r}")
    fields = {"category": category, "components": checked, "time_to_live": time_to_live}
    changes = {key: value for key, value in fields.items() if value is not None}
    if not changes and not problems:
        problems.append("template: give at least one of category, components, time_to_live")
    raise_problems(problems)
    return Call(Request("PATCH", f"{_template_path(template_id)}/meta", json={"template": changes}), data_object)


def sync_templates(
    *,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Queue a sync of templates from Meta (``POST /whatsapp_templates/sync``); returns Kapso's answer.

    The answer holds ``status``, ``sync_requests`` (one ``WhatsappTemplateSyncRun`` per Business
    Account, whose ``id`` :meth:`get_template_sync_status` takes) and ``summary``. Kapso runs one sync
    per Business Account at a time and answers a running one instead of queueing another, so repeating
    this call is harmless; it is still not retried blindly, as no write is.

    :param whatsapp_config_id: sync this WhatsApp number's account only.
    :param customer_id: sync the accounts of every production number of this customer.
    """
    problems: list[str] = []
    _check_owner(problems, whatsapp_config_id, customer_id)
    raise_problems(problems)
    owner = _owner_body(whatsapp_config_id, customer_id)
    return Call(Request("POST", "/whatsapp_templates/sync", json=owner or None), whole_object)


def get_template_sync_status(
    *,
    sync_request_ids: Sequence[str] | None = None,
    business_account_id: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Read template sync runs (``GET /whatsapp_templates/sync_status``); returns Kapso's answer.

    Without filters Kapso answers the latest run of each Business Account. The answer holds
    ``sync_requests`` (``status`` ``queued``, ``running``, ``succeeded`` or ``failed``, counts,
    ``error_class`` and ``error_message``) and a ``summary`` with counts per status.

    :param sync_request_ids: these runs, as :meth:`sync_templates` returned them.
    :param business_account_id: the runs of this Business Account.
    :param whatsapp_config_id: the runs of this WhatsApp number's account.
    :param customer_id: the runs of the accounts of this customer's numbers.
    """
    problems: list[str] = []
    ids: list[str] = []
    if sync_request_ids is not None:
        if isinstance(sync_request_ids, str) or not isinstance(sync_request_ids, Sequence) or not sync_request_ids:
            problems.append("sync_request_ids: must be a non-empty list of sync request ids")
        else:
            for index, value in enumerate(sync_request_ids):
                if not isinstance(value, str) or not value.strip() or "," in value:
                    problems.append(f"sync_request_ids[{index}]: must be a sync request id, got {value!r}")
                else:
                    ids.append(value)
    check_text(problems, "business_account_id", business_account_id)
    check_text(problems, "whatsapp_config_id", whatsapp_config_id)
    check_text(problems, "customer_id", customer_id)
    raise_problems(problems)
    params = {
        # The file declares an array with ``style: form, explode: false``: one comma-separated value.
        "sync_request_ids": ",".join(ids) if ids else None,
        "business_account_id": business_account_id,
        "whatsapp_config_id": whatsapp_config_id,
        "customer_id": customer_id,
    }
    return Call(Request("GET", "/whatsapp_templates/sync_status", params=params), whole_object)
