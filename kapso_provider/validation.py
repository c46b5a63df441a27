"""The checks every argument shares, whatever it goes into: ids, UUIDs, choices, texts, phone numbers.

One home for the generic rules, so an id is refused the same way by every endpoint and a phone number the
same way by every operator. Each check names the argument in its problem text and raises
:class:`~kapso_provider.exceptions.KapsoArgumentError` (or appends to a list of problems, so that every bad
argument is reported at once). Light on purpose: operators run these when a DAG file is parsed.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeGuard
from urllib.parse import quote

from kapso_provider.exceptions import KapsoArgumentError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Digits in a WhatsApp number with its country code: E.164 allows at most 15, the shortest plans need 7.
PHONE_DIGITS_MIN = 7
PHONE_DIGITS_MAX = 15
PHONE_EXAMPLE = "+15551230001"
# Address books write numbers with spaces, dashes, dots and parentheses; they are removed before sending.
_PHONE_CHARACTERS = re.compile(r"\+?[0-9 ().-]+")
_PHONE_SEPARATORS = re.compile(r"[ ().-]")


def path_segment(name: str, value: object) -> str:
    """Quote an id for use as one path segment, so that no value can reach another endpoint.

    Both HTTP clients collapse ``.`` and ``..`` segments (``/a/../b`` is sent as ``/b``), so an id made of
    dots alone would address another resource: it is refused, like an empty id.

    :param name: the argument's name, quoted in the error.
    :raises KapsoArgumentError: for an empty, dots-only or non-string id.
    """
    if not isinstance(value, str) or not value.strip():
        raise KapsoArgumentError(f"{name}: must be a non-empty string, got {value!r}")
    if not value.strip("."):
        raise KapsoArgumentError(f"{name}: {value!r} is not an id (dots alone would address another path)")
    return quote(value, safe="")


def is_uuid(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string holding a UUID, the form the OpenAPI files give Kapso's ids."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def require_uuid(name: str, value: object) -> str:
    """``value`` when it is a UUID string, as the OpenAPI files' ``format: uuid`` asks.

    Checked before any request, so a wrong id (a WhatsApp ``wamid`` where Kapso's id belongs, a user's
    e-mail instead of their id) fails with the field's name instead of Kapso's bare 404 or 422.

    :raises KapsoArgumentError: when ``value`` is not a UUID string.
    """
    if is_uuid(value):
        return value
    raise KapsoArgumentError(f"{name}: must be a UUID (Kapso's id), got {value!r}")


def require_text(name: str, value: object) -> str:
    """``value`` when it is a non-blank string.

    :raises KapsoArgumentError: otherwise, naming the argument.
    """
    if not isinstance(value, str) or not value.strip():
        raise KapsoArgumentError(f"{name}: must be a non-empty string, got {value!r}")
    return value


def require_aware_datetime(name: str, value: object) -> datetime:
    """``value`` when it is a timezone-aware datetime: a moment that can be placed on Kapso's clock.

    :raises KapsoArgumentError: otherwise, naming the argument.
    """
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    raise KapsoArgumentError(f"{name}: must be a timezone-aware datetime, got {value!r}")


def optional_string(name: str, value: object) -> str | None:
    """``value`` when it is ``None`` or a string (the files type many body fields ``string``, not nullable)."""
    if value is None or isinstance(value, str):
        return value
    raise KapsoArgumentError(f"{name}: must be a string, got {type(value).__name__}")


def optional_bool(name: str, value: object) -> bool | None:
    """``value`` when it is ``None`` or a bool."""
    if value is None or isinstance(value, bool):
        return value
    raise KapsoArgumentError(f"{name}: must be true or false, got {value!r}")


def seconds(name: str, value: object, *, zero_allowed: bool = False) -> float:
    """``value``, a number of seconds or a ``timedelta``, as seconds, when it is positive (or zero if allowed).

    :param name: the argument's name, quoted in the error.
    :param zero_allowed: whether ``0`` is accepted (a look-back may be none; a poll interval may not).
    :raises KapsoArgumentError: for anything else, ``bool`` included.
    """
    amount = value.total_seconds() if isinstance(value, timedelta) else value
    if (
        isinstance(amount, int | float)
        and not isinstance(amount, bool)
        and (amount > 0 or (zero_allowed and amount == 0))
    ):
        return float(amount)
    kind = "zero or a positive" if zero_allowed else "a positive"
    raise KapsoArgumentError(f"{name}: {value!r} must be {kind} number of seconds")


def check_choice(problems: list[str], name: str, value: object, choices: Sequence[str]) -> None:
    """Append a problem unless ``value`` is ``None`` or one of ``choices``."""
    if value is not None and value not in choices:
        problems.append(f"{name}: must be one of {', '.join(choices)}, got {value!r}")


def check_text(problems: list[str], name: str, value: object, *, required: bool = False) -> None:
    """Append a problem unless ``value`` is a non-blank string (or ``None`` when not ``required``)."""
    if value is None:
        if required:
            problems.append(f"{name}: is required")
    elif not isinstance(value, str) or not value.strip():
        problems.append(f"{name}: must be a non-empty string, got {value!r}")


def raise_problems(problems: list[str]) -> None:
    """Raise the problems found, if any, as one :class:`KapsoArgumentError`."""
    if problems:
        raise KapsoArgumentError(problems)


def phone_digits_problem(phone_number: object) -> str | None:
    """Why ``phone_number`` is not a phone number of 7 to 15 digits, ``+`` optional, or ``None`` when it is.

    The rule for a number that identifies a contact (Kapso's ``wa_id`` is its digits); a recipient must also
    name its country (:func:`phone_number_problem`).
    """
    if not isinstance(phone_number, str):
        return f"expected a string, got {type(phone_number).__name__}"
    if not _PHONE_CHARACTERS.fullmatch(phone_number.strip()):
        return (
            f"{phone_number[:40]!r} is not a phone number: write it in international format, '+' and the "
            f"country code, e.g. {PHONE_EXAMPLE} (spaces, '-', '.' and '()' are allowed)"
        )
    digits = sum(char.isdigit() for char in phone_number)
    if not PHONE_DIGITS_MIN <= digits <= PHONE_DIGITS_MAX:
        return (
            f"{digits} digits, expected {PHONE_DIGITS_MIN}..{PHONE_DIGITS_MAX} with the country code "
            f"(international format, e.g. {PHONE_EXAMPLE})"
        )
    return None


def phone_number_problem(phone_number: object) -> str | None:
    """Why ``phone_number`` cannot receive a WhatsApp message, or ``None`` when it can.

    The rule: international format, a ``+``, the country code and the number, 7 to 15 digits in all (E.164),
    written with or without spaces, dashes, dots and parentheses (``+1 (555) 123-0001``), which are removed
    before sending (:func:`normalized_phone`). Without the ``+`` a number cannot be told from a local one such
    as ``555-1234``, which WhatsApp cannot deliver.
    """
    problem = phone_digits_problem(phone_number)
    if problem is None and not str(phone_number).strip().startswith("+"):
        return (
            f"{str(phone_number)[:40]!r} has no '+' and country code: WhatsApp needs the international format, "
            f"e.g. {PHONE_EXAMPLE} (a local number such as 555-1234 cannot be delivered)"
        )
    return problem


def normalized_phone(phone_number: str) -> str:
    """The digits of a valid phone number with a leading ``+``: one spelling for one person."""
    return "+" + _PHONE_SEPARATORS.sub("", phone_number.strip()).lstrip("+")
