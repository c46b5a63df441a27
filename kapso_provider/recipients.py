"""Checks of who a message goes to, shared by the hook and the operators.

Light on purpose: operators run these when a DAG file is parsed, before any HTTP library is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.validation import PHONE_DIGITS_MAX, PHONE_DIGITS_MIN, phone_number_problem

__all__ = ["PHONE_DIGITS_MAX", "PHONE_DIGITS_MIN", "check_recipient", "check_template_send", "phone_number_problem"]

TEMPLATE_HEADER_TYPES = ("text", "image", "video", "document")


def check_recipient(
    *,
    conversation_id: str | None,
    phone_number: str | None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    phone_number_id: str | None = None,
) -> None:
    """Check that exactly one recipient is named and that the sender options fit it.

    ``phone_number_id`` (the current API's sender) and ``whatsapp_config_id`` (API v1's) are each refused by
    the other generation when the task runs: which one the connection speaks is not known before.

    :raises KapsoInvalidMessageError: naming the arguments at fault.
    """
    problems = []
    if phone_number_id is not None:
        if not isinstance(phone_number_id, str) or not phone_number_id.strip().isdigit():
            problems.append(
                f"phone_number_id: must be Meta's numeric id of a WhatsApp number, e.g. 106540352242922, got "
                f"{phone_number_id!r}"
            )
        if whatsapp_config_id is not None:
            problems.append(
                "phone_number_id, whatsapp_config_id: give the sender of the connection's API generation, not both "
                "(phone_number_id for the current API, whatsapp_config_id for API v1)"
            )
    if (conversation_id is None) == (phone_number is None):
        problems.append("recipient: give exactly one of conversation_id or phone_number")
    if conversation_id is not None:
        if not isinstance(conversation_id, str) or not conversation_id.strip():
            problems.append(f"conversation_id: must be a non-empty string, got {conversation_id!r}")
        if whatsapp_config_id is not None or customer_id is not None:
            problems.append(
                "whatsapp_config_id, customer_id: only with phone_number; a conversation already has its number"
            )
    if phone_number is not None:
        problem = phone_number_problem(phone_number)
        if problem:
            problems.append(f"phone_number: {problem}")
    if problems:
        raise KapsoInvalidMessageError(problems)


def check_template_send(
    *,
    phone_number: str,
    template_parameters: list[str] | Mapping[str, str] | None = None,
    header_type: str | None = None,
    header_params: str | None = None,
    header_filename: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    button_url_params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Check the arguments of a template send by id and return its ``template`` object.

    :raises KapsoInvalidMessageError: naming every argument at fault.
    """
    problems = []
    problem = phone_number_problem(phone_number)
    if problem:
        problems.append(f"phone_number: {problem}")
    if template_parameters is not None:
        values = list(template_parameters.values()) if isinstance(template_parameters, Mapping) else template_parameters
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            problems.append("template_parameters: must be a list of strings or a mapping of names to strings")
    if header_type is not None and header_type not in TEMPLATE_HEADER_TYPES:
        problems.append(f"header_type: {header_type!r} is not one of {', '.join(TEMPLATE_HEADER_TYPES)}")
    if header_params is not None and header_type is None:
        problems.append("header_params: needs header_type")
    if header_filename is not None and header_type != "document":
        problems.append("header_filename: only with header_type 'document'")
    if button_url_params is not None and not (
        isinstance(button_url_params, Mapping)
        and all(isinstance(key, str) and isinstance(value, str) for key, value in button_url_params.items())
    ):
        problems.append("button_url_params: must map button indexes (strings) to strings")
    if problems:
        raise KapsoInvalidMessageError(problems)
    template: dict[str, Any] = {"phone_number": phone_number}
    optional = {
        "template_parameters": template_parameters
        if template_parameters is None
        else (dict(template_parameters) if isinstance(template_parameters, Mapping) else list(template_parameters)),
        "header_type": header_type,
        "header_params": header_params,
        "header_filename": header_filename,
        "whatsapp_config_id": whatsapp_config_id,
        "customer_id": customer_id,
        "button_url_params": dict(button_url_params) if button_url_params is not None else None,
    }
    template.update({key: value for key, value in optional.items() if value is not None})
    return template
