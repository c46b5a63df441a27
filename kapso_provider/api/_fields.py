"""Arguments one API generation has no use for: refused before any request, with what to do instead.

An endpoint keeps one signature on both generations (``tests/hooks/test_endpoints.py``), so an argument that
only one generation understands (``whatsapp_config_id`` on API v1, ``phone_number_id`` on the current API)
is a parameter of both definitions, and the other generation refuses it with
:class:`~kapso_provider.exceptions.KapsoUnsupportedError` instead of dropping it silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kapso_provider.exceptions import KapsoUnsupportedError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: How errors name each generation (the ``name`` of :mod:`kapso_provider.api.generations`' generations).
V1_API = "API v1"
CURRENT_API = "current API"


def refuse_fields(generation: str, values: Mapping[str, object], instead: str) -> None:
    """Raise for every argument of ``values`` that is given (not ``None``): ``generation`` cannot send it.

    :param generation: the generation that lacks the fields, as errors name it (:data:`V1_API`,
        :data:`CURRENT_API`).
    :param values: the arguments by name.
    :param instead: what the user does instead, e.g. ``"name the sending number with phone_number_id"``.
    :raises KapsoUnsupportedError: naming each given field.
    """
    given = [name for name, value in values.items() if value is not None]
    if given:
        raise KapsoUnsupportedError([f"{name}: Kapso's {generation} has no such field; {instead}" for name in given])
