"""v1's template rules: the components of a template, and the parameters of a send checked against it.

Written from ``openapi-whatsapp.yaml`` and Kapso's documented error texts, independently of the provider.
Every path that sends a template (the template send, a conversation send and a phone send with
``message_type: template``) holds the parameters to the same rules, as Kapso does.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._http import ApiError, json_response
from kapso_provider.testing._validation import template_placeholders

__all__ = [
    "check_components",
    "check_placeholder_style",
    "choice",
    "render_template",
    "string_field",
]

_COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
_HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
_BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")


def string_field(value: object, field: str, *, required: bool = False) -> str | None:
    """A non-blank string, or ``None`` when absent and not required.

    :param value: the value sent.
    :param field: its dotted name, for the error.
    :param required: whether absence is an error.
    """
    if value is None:
        if required:
            raise ValidationError(field, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if not value.strip():
        raise ValidationError(field, "can't be blank")
    return value


def choice(value: object, field: str, choices: tuple[str, ...]) -> None:
    """Refuse a value outside ``choices`` (``None`` passes).

    :param value: the value sent.
    :param field: its dotted name, for the error.
    :param choices: the allowed values.
    """
    if value is not None and value not in choices:
        raise ValidationError(field, f"must be one of: {', '.join(choices)}")


def check_components(value: object, field: str = "template.components") -> list[dict[str, Any]]:
    """A template's components, checked as WhatsApp does; returns a copy.

    :param value: the components sent.
    :param field: their dotted name, for the errors.
    """
    if not isinstance(value, list):
        raise ValidationError(field, "must be an array of component objects")
    if not value:
        raise ValidationError(field, "must have at least one component")
    bodies = 0
    for index, component in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(component, dict):
            raise ValidationError(where, "must be an object")
        kind = component.get("type")
        if kind is None:
            raise ValidationError(f"{where}.type", "is required")
        choice(kind, f"{where}.type", _COMPONENT_TYPES)
        choice(component.get("format"), f"{where}.format", _HEADER_FORMATS)
        string_field(component.get("text"), f"{where}.text")
        if kind == "BODY":
            bodies += 1
            string_field(component.get("text"), f"{where}.text", required=True)
        if kind == "BUTTONS":
            buttons = component.get("buttons")
            if not isinstance(buttons, list) or not buttons:
                raise ValidationError(f"{where}.buttons", "must be a non-empty array for a BUTTONS component")
            for button_index, button in enumerate(buttons):
                if not isinstance(button, dict):
                    raise ValidationError(f"{where}.buttons[{button_index}]", "must be an object")
                choice(button.get("type"), f"{where}.buttons[{button_index}].type", _BUTTON_TYPES)
    if bodies != 1:
        # WhatsApp requires exactly one BODY in a template.
        raise ValidationError(field, "must have exactly one BODY component")
    return copy.deepcopy(value)


def check_placeholder_style(components: list[dict[str, Any]], parameter_format: str) -> None:
    """Refuse ``{{name}}`` placeholders in a POSITIONAL template and ``{{1}}`` in a NAMED one.

    :param components: the template's components.
    :param parameter_format: ``POSITIONAL`` or ``NAMED``.
    """
    placeholders = [
        name
        for component in components
        if isinstance(component.get("text"), str)
        for name in template_placeholders(component["text"])
    ]
    if parameter_format == "POSITIONAL":
        named = [name for name in placeholders if not name.isdigit()]
        if named:
            raise ValidationError("template.components", f"POSITIONAL templates use {{{{1}}}}, got {{{{{named[0]}}}}}")
    else:
        numbered = [name for name in placeholders if name.isdigit()]
        if numbered:
            raise ValidationError("template.components", f"NAMED templates use {{{{name}}}}, got {{{{{numbered[0]}}}}}")


def _refused(error: str, message: str) -> ApiError:
    return ApiError(json_response(422, {"error": error, "status": 422, "message": message}))


def _strings(params: object, kind: type) -> bool:
    if kind is list:
        return isinstance(params, list) and all(isinstance(value, str) for value in params)
    return isinstance(params, dict) and all(isinstance(value, str) for value in params.values())


def render_template(
    template: dict[str, Any], params: object, field: str, *, checked: bool
) -> tuple[str, list[str] | dict[str, str]]:
    """Check a send's parameters against a template and fill its body; returns ``(text, parameters)``.

    :param template: the template record.
    :param params: the parameters sent (``None`` for none).
    :param field: their dotted name (``template.template_parameters``, ``message.template_params``).
    :param checked: whether the template's parameters are known (else any strings pass).
    :raises ValidationError: for parameters of the wrong type.
    :raises ApiError: 422 with Kapso's text for a wrong count or missing names.
    """
    if template["status"] != "approved":
        raise ValidationError("template", f"is {template['status']}; only approved templates can be sent")
    placeholders = template_placeholders(template["content"])
    rendered = str(template["content"])
    if not checked:
        params = [] if params is None else params
        if not (_strings(params, list) or _strings(params, dict)):
            raise ValidationError(field, "must be an array or an object of strings")
        return rendered, params  # type: ignore[return-value]
    if template["parameter_format"] == "NAMED":
        params = {} if params is None else params
        if not _strings(params, dict):
            raise ValidationError(field, "must be an object of strings for a named template")
        assert isinstance(params, dict)
        missing = [name for name in placeholders if name not in params]
        if missing:
            text = f"Missing template parameters: {', '.join(missing)}"
            raise _refused(text, f"{field}: missing {', '.join(missing)}")
        for name in placeholders:
            rendered = re.sub(r"\{\{\s*" + re.escape(name) + r"\s*\}\}", params[name], rendered)
        return rendered, params
    params = [] if params is None else params
    if not _strings(params, list):
        raise ValidationError(field, "must be an array of strings for a positional template")
    assert isinstance(params, list)
    if len(params) != template["parameter_count"]:
        text = f"Template requires {template['parameter_count']} parameters, but {len(params)} were provided"
        raise _refused(text, f"{field}: {text}")
    for index, value in enumerate(params, start=1):
        rendered = re.sub(r"\{\{\s*" + str(index) + r"\s*\}\}", value, rendered)
    return rendered, params
