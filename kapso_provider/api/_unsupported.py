"""Arguments one API generation takes and the other cannot honour: refused by name before any request.

Both generations' definitions of an operation take the same parameters (``tests/hooks/test_endpoints.py``);
where one generation has no meaning for a parameter, its definition refuses a value with
:class:`~kapso_provider.exceptions.KapsoUnsupportedError`, saying which generation takes it.
"""

from __future__ import annotations

from kapso_provider.exceptions import KapsoUnsupportedError

__all__ = ["refuse_on_current", "refuse_on_v1"]

_TO_CURRENT = "set the connection's extra 'api' to 'current'"


def refuse_on_v1(**values: object) -> None:
    """Refuse every argument given a value (not ``None``): only Kapso's current API takes it.

    :raises KapsoUnsupportedError: one line per argument.
    """
    given = [name for name, value in values.items() if value is not None]
    if given:
        raise KapsoUnsupportedError(
            [
                f"{name}: only Kapso's current API takes it, and this connection speaks API v1 ({_TO_CURRENT}, or "
                f"leave {name} out)"
                for name in given
            ]
        )


def refuse_on_current(instead: str, **values: object) -> None:
    """Refuse every argument given a value (not ``None``): only Kapso's API v1 takes it.

    :param instead: what to give on the current API, e.g. ``"phone_number_id, the number to send from"``.
    :raises KapsoUnsupportedError: one line per argument.
    """
    given = [name for name, value in values.items() if value is not None]
    if given:
        raise KapsoUnsupportedError(
            [
                f"{name}: only Kapso's API v1 takes it, and this connection speaks the current API; give {instead}"
                for name in given
            ]
        )
