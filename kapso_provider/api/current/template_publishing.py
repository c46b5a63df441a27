"""Current API: a template kept in version control, made WhatsApp's (created, or changed where it differs),
and found again by name and language to follow its review. Current API only: API v1 keeps drafts in Kapso
and syncs from Meta instead.

Both endpoints answer the same *template view*: ``id`` (Meta's template id), ``name``, ``language_code``,
``category``, ``status`` in lower case (``pending``, ``approved``, ``rejected``), ``components`` and, for a
publish, ``action`` (``created``, ``updated`` or ``unchanged``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.api.current.templates import create_template, list_templates, update_template
from kapso_provider.api.v1.templates import TEMPLATE_CATEGORIES, TEMPLATE_PARAMETER_FORMATS, check_components
from kapso_provider.transport.flows import Flow, FlowContext, Steps, scan
from kapso_provider.validation import check_choice, check_text, raise_problems

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = ("find_template", "publish_template")


def template_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A proxy template as the view both endpoints answer (see the module)."""
    status = record.get("status")
    return {
        "id": record.get("id"),
        "name": record.get("name"),
        "language_code": record.get("language"),
        "category": record.get("category"),
        "status": status.lower() if isinstance(status, str) else status,
        "components": record.get("components"),
    }


def covers(stored: object, wanted: object) -> bool:
    """Whether ``stored`` says at least what ``wanted`` says: every key of an object, every item of a list.

    WhatsApp answers a template's components with keys of its own beside the ones sent (a header's
    ``format``, an ``example``), so equality would call every stored template changed.
    """
    if isinstance(wanted, dict):
        return isinstance(stored, dict) and all(key in stored and covers(stored[key], wanted[key]) for key in wanted)
    if isinstance(wanted, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(wanted)
            and all(covers(have, want) for have, want in zip(stored, wanted, strict=True))
        )
    return stored == wanted


def _lookup(name: str, language_code: str, business_account_id: str | None) -> Any:
    # The list's ``name`` filter is the proxy's own; the language is compared here as well, exactly.
    listing = list_templates(name=name, language_code=language_code, business_account_id=business_account_id)

    def is_it(record: Mapping[str, Any]) -> bool:
        return record.get("name") == name and record.get("language") == language_code

    return listing, is_it


def find_template(
    name: str, *, language_code: str, business_account_id: str | None = None
) -> Flow[dict[str, Any] | None]:
    """The template of this name and language, as the view of the module, or ``None`` when WhatsApp has none.

    :param name: the template name.
    :param language_code: its language, e.g. ``en_US``.
    :param business_account_id: the WhatsApp Business Account id; the connection's by default.
    """
    problems: list[str] = []
    check_text(problems, "name", name, required=True)
    check_text(problems, "language_code", language_code, required=True)
    raise_problems(problems)
    listing, is_it = _lookup(name, language_code, business_account_id)

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        found = yield from scan(context, listing, is_it)
        return None if found is None else template_view(found)

    return Flow(run)


def publish_template(
    name: str,
    *,
    language_code: str,
    category: str,
    components: Sequence[Mapping[str, Any]],
    parameter_format: str | None = None,
    business_account_id: str | None = None,
) -> Flow[dict[str, Any]]:
    """Make WhatsApp hold this template: create it, change it where it differs, or leave it as it is.

    The Business Account's template of this name and language is read first. None: it is created (and goes
    to WhatsApp's review). One whose category differs, or whose components do not say everything these do:
    it is changed (``update_template``; reviewed again). Otherwise nothing is sent. Returns the view of the
    module with ``action`` saying which it was. A create whose answer was lost is not repeated blindly:
    running the publish again finds the template.

    :param name: the template name (lower-case letters, digits and ``_``).
    :param language_code: its language, e.g. ``en_US``.
    :param category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``.
    :param components: WhatsApp's component objects.
    :param parameter_format: ``NAMED`` or ``POSITIONAL``.
    :param business_account_id: the WhatsApp Business Account id; the connection's by default.
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    problems: list[str] = []
    check_text(problems, "language_code", language_code, required=True)
    check_choice(problems, "category", category, TEMPLATE_CATEGORIES)
    check_choice(problems, "parameter_format", parameter_format, TEMPLATE_PARAMETER_FORMATS)
    wanted = check_components(problems, components, required=True)
    raise_problems(problems)
    creating = create_template(
        name,
        language_code=language_code,
        category=category,
        components=components,
        parameter_format=parameter_format,
        business_account_id=business_account_id,
    )
    listing, is_it = _lookup(name, language_code, business_account_id)

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        found = yield from scan(context, listing, is_it)
        if found is None:
            created = yield from creating.steps(context)
            view = {
                **template_view({"name": name, "language": language_code, "components": wanted, **created}),
                "category": created.get("category") or category,
            }
            return {**view, "action": "created"}
        if found.get("category") == category and covers(found.get("components"), wanted):
            return {**template_view(found), "action": "unchanged"}
        changes: dict[str, Any] = {"components": wanted}
        if found.get("category") != category:
            changes["category"] = category
        updating = update_template(str(found["id"]), business_account_id=business_account_id, **changes)
        yield from updating.steps(context)
        # WhatsApp reviews a changed template again.
        return {**template_view({**found, **changes, "status": "PENDING"}), "action": "updated"}

    return Flow(run)
