"""Current API: message templates of a WhatsApp Business Account, through the proxy (Meta's shapes).

``/meta/whatsapp/v24.0/{business_account_id}/message_templates`` lists (with filters), creates, updates
(``POST ?hsm_id=``) and deletes templates; ``.../message_templates/{template_id}`` reads one. Templates go to
WhatsApp's review when created or changed (status ``PENDING``, then ``APPROVED`` or ``REJECTED``) and Kapso
syncs its own copy by itself, so API v1's drafts, submit, sync and sync status have no counterpart here. The
answers are Meta's objects, without the Platform API's ``data`` envelope; a template's language is
``language`` (API v1: ``language_code``) and its status upper case.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kapso_provider.api._unsupported import refuse_on_current
from kapso_provider.api.current._calls import contextual
from kapso_provider.api.current._wire import business_account, proxy_path
from kapso_provider.api.v1.templates import TEMPLATE_CATEGORIES, TEMPLATE_PARAMETER_FORMATS, check_components
from kapso_provider.exceptions import KapsoUnsupportedError
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Flow,
    FlowContext,
    Item,
    ListingSteps,
    Pager,
    check_page_size,
    data_list,
    request,
    whole_object,
)
from kapso_provider.transport.wire import Request
from kapso_provider.validation import check_choice, check_text, path_segment, raise_problems, require_text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_template",
    "delete_template",
    "get_template",
    "list_templates",
    "update_template",
)

#: The ``status`` values of a template and of the list's filter (``openapi-whatsapp.yaml``).
TEMPLATE_STATUSES = ("APPROVED", "PENDING", "REJECTED")
#: Meta's rule for a template name: lower-case letters, digits and underscores, at most 512 characters.
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_OWNER_INSTEAD = "business_account_id (or the connection's extra): templates belong to a WhatsApp Business Account"


def _templates_path(context: FlowContext, business_account_id: str | None, *rest: tuple[str, str] | str) -> str:
    account = ("business_account_id", business_account(context, business_account_id))
    return proxy_path(account, "message_templates", *rest)


def _check_name(problems: list[str], name: object, *, required: bool) -> None:
    check_text(problems, "name", name, required=required)
    if isinstance(name, str) and name.strip() and not _TEMPLATE_NAME.fullmatch(name):
        problems.append(
            f"name: {name[:60]!r} is not a WhatsApp template name (lower-case letters, digits and '_', at most 512)"
        )


def _status_filter(problems: list[str], status: object) -> str | None:
    if status is None:
        return None
    upper = status.upper() if isinstance(status, str) else status
    if upper not in TEMPLATE_STATUSES:
        problems.append(
            f"status: must be one of {', '.join(TEMPLATE_STATUSES)} (any case) on Kapso's current API, got "
            f"{status!r} (draft, submitted and disabled are API v1 statuses)"
        )
        return None
    return str(upper)


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
    """Yield the Business Account's templates matching every given filter (``GET .../message_templates``).

    The file declares ``limit`` but no cursor parameter for this listing (though its answer carries
    ``paging.cursors.after``), so this is one request of up to ``per_page`` templates; when the answer says
    more exist, a warning says so: narrow the filters (``name`` above all).

    :param name: the template name (``name``).
    :param language_code: a language code such as ``en_US`` (``language``).
    :param category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``.
    :param status: ``APPROVED``, ``PENDING`` or ``REJECTED``, any case.
    :param customer_id: API v1 only; refused here.
    :param business_account_id: the WhatsApp Business Account id; the connection's by default.
    :param whatsapp_config_id: API v1 only; refused here.
    :param per_page: the most templates read (``limit``), 1 to 100.
    :raises KapsoArgumentError: for a filter value Kapso cannot take, before any request.
    """
    refuse_on_current(_OWNER_INSTEAD, customer_id=customer_id, whatsapp_config_id=whatsapp_config_id)
    problems: list[str] = []
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    check_text(problems, "name", name)
    check_text(problems, "language_code", language_code)
    meta_status = _status_filter(problems, status)
    raise_problems(problems)
    check_page_size("per_page", per_page)
    params = {"name": name, "status": meta_status, "category": category, "language": language_code, "limit": per_page}

    def run(context: FlowContext) -> ListingSteps[dict[str, Any]]:
        req = Request("GET", _templates_path(context, business_account_id), params=params)
        body = yield from request(context, req)
        records = data_list(body, req)
        for record in records:
            yield Item(record)
        if len(records) >= per_page and ((body.get("paging") or {}).get("cursors") or {}).get("after"):
            context.log.warning(
                "Kapso listed %d templates and says more exist; the proxy's file declares no way to read the next "
                "page of GET %s: narrow the filters (name, status, category, language_code)",
                len(records),
                req.path,
            )

    return Pager(run)


def get_template(template_id: str, *, business_account_id: str | None = None) -> Flow[dict[str, Any]]:
    """Return one template (``GET /{business_account_id}/message_templates/{template_id}``).

    :param template_id: the template's id on WhatsApp (Meta's template id, the ``hsm_id``).
    :param business_account_id: the WhatsApp Business Account id; the connection's by default.
    """
    path_segment("template_id", template_id)  # checked now, quoted when the path is built

    def build(context: FlowContext) -> Request:
        return Request("GET", _templates_path(context, business_account_id, ("template_id", template_id)))

    return contextual(build, whole_object)


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
) -> Flow[dict[str, Any]]:
    """Create a template and submit it to WhatsApp's review (``POST /{business_account_id}/message_templates``).

    Returns Meta's answer: ``id`` (the template id later calls take), ``status`` (usually ``PENDING``) and
    ``category``. Not retried after an ambiguous failure: list the templates by ``name`` to learn whether it
    exists.

    :param name: the template name (lower-case letters, digits and ``_``), unique per language.
    :param language_code: its language, e.g. ``en_US`` (sent as ``language``).
    :param category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``.
    :param components: WhatsApp's component objects (``{"type": "BODY", "text": "Hi {{1}}"}``, ...).
    :param parameter_format: ``NAMED`` or ``POSITIONAL`` (WhatsApp's default).
    :param whatsapp_config_id: API v1 only; refused here.
    :param customer_id: API v1 only; refused here.
    :param business_account_id: the WhatsApp Business Account id; the connection's by default.
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    refuse_on_current(_OWNER_INSTEAD, whatsapp_config_id=whatsapp_config_id, customer_id=customer_id)
    problems: list[str] = []
    _check_name(problems, name, required=True)
    check_text(problems, "language_code", language_code, required=True)
    if category is None:
        problems.append("category: is required")
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    check_choice(problems, "parameter_format", parameter_format, TEMPLATE_PARAMETER_FORMATS)
    checked = check_components(problems, components, required=True)
    raise_problems(problems)
    body: dict[str, Any] = {"name": name, "language": language_code, "category": category, "components": checked}
    if parameter_format is not None:
        body["parameter_format"] = parameter_format
    return contextual(
        lambda context: Request("POST", _templates_path(context, business_account_id), json=body), whole_object
    )


def update_template(
    template_id: str,
    *,
    name: str | None = None,
    language_code: str | None = None,
    category: str | None = None,
    components: Sequence[Mapping[str, Any]] | None = None,
    parameter_format: str | None = None,
    business_account_id: str | None = None,
) -> Flow[dict[str, Any]]:
    """Change a template (``POST /{business_account_id}/message_templates?hsm_id={template_id}``).

    Only the given fields are sent; WhatsApp reviews the changed template again. A template's name and
    language never change on WhatsApp (create another template instead), so they are refused here. Meta's
    answer (``{"success": true}``) is returned. Setting values is idempotent, so an ambiguous failure is
    retried.

    :param template_id: the template's id on WhatsApp (the ``hsm_id``).
    :param name: refused (WhatsApp keeps a template's name).
    :param language_code: refused (WhatsApp keeps a template's language).
    :param category: a new category.
    :param components: new components, replacing the old ones.
    :param parameter_format: ``NAMED`` or ``POSITIONAL``.
    :param business_account_id: the WhatsApp Business Account id; the connection's by default.
    :raises KapsoArgumentError: for a bad argument or when nothing is to change, before any request.
    """
    given = [field for field, value in (("name", name), ("language_code", language_code)) if value is not None]
    if given:
        raise KapsoUnsupportedError(
            [f"{field}: WhatsApp never changes a template's {field}; create a new template instead" for field in given]
        )
    problems: list[str] = []
    hsm_id = require_text("template_id", template_id)
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    check_choice(problems, "parameter_format", parameter_format, TEMPLATE_PARAMETER_FORMATS)
    checked = check_components(problems, components, required=False)
    fields = {"category": category, "components": checked, "parameter_format": parameter_format}
    changes = {key: value for key, value in fields.items() if value is not None}
    if not changes and not problems:
        problems.append("template: give at least one of category, components, parameter_format")
    raise_problems(problems)

    def build(context: FlowContext) -> Request:
        path = _templates_path(context, business_account_id)
        return Request("POST", path, params={"hsm_id": hsm_id}, json=changes, retry_ambiguous=True)

    return contextual(build, whole_object)


def delete_template(
    *,
    name: str | None = None,
    template_id: str | None = None,
    business_account_id: str | None = None,
) -> Flow[dict[str, Any]]:
    """Delete a template (``DELETE /{business_account_id}/message_templates?name=&hsm_id=``).

    With ``name`` alone WhatsApp deletes the template in every language; with ``template_id`` as well, only
    that one. Returns Meta's answer (``{"success": true}``). Current API only (API v1 deletes drafts by
    Kapso id). Not retried after an ambiguous failure: a second attempt would find nothing and fail with a
    404 that hides the first one's success.

    :param name: the template name.
    :param template_id: the template's id on WhatsApp (the ``hsm_id``).
    :param business_account_id: the WhatsApp Business Account id; the connection's by default.
    :raises KapsoArgumentError: neither ``name`` nor ``template_id``, before any request.
    """
    problems: list[str] = []
    check_text(problems, "name", name)
    check_text(problems, "template_id", template_id)
    if name is None and template_id is None:
        problems.append("delete_template: give name (every language) or template_id")
    raise_problems(problems)
    params = {"name": name, "hsm_id": template_id}
    return contextual(
        lambda context: Request("DELETE", _templates_path(context, business_account_id), params=params), whole_object
    )
